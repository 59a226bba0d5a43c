// Verdicts mean exactly what they mean in Unleash: common flags run compiled (core/compiled-flags.ts, checked against
// the SDK on the client-specification suites), everything else through unleash-client's own evaluation (its
// strategies, constraint operators, segments and dependencies). The embedded engine runs the SDK's `Unleash`
// class over an in-memory repository (the SDK's documented `repository` extension point): no URL is ever
// contacted, metrics are off, and evaluation is synchronous.

import { EventEmitter } from 'node:events';
import { type Context, Unleash } from 'unleash-client';
import type { EnhancedFeatureInterface, FeatureInterface } from 'unleash-client/lib/feature.js';
import type { RepositoryInterface } from 'unleash-client/lib/repository/index.js';
import type { Segment } from 'unleash-client/lib/strategy/strategy.js';
import { type CompiledFlag, compileFlag } from '../../core/compiled-flags.ts';
import type { FlagContext, FlagVerdict } from '../../core/types.ts';
import type { FeatureDefinition, SegmentDefinition } from './flags-files.ts';

// Shared, frozen verdicts: evaluate runs on every request and must not allocate more than it has to.
export const NO_FLAG_DATA: FlagVerdict = Object.freeze({ kind: 'no_flag_data' });
export const OFF: FlagVerdict = Object.freeze({ kind: 'off' });
export const NOT_ELIGIBLE: FlagVerdict = Object.freeze({ kind: 'not_eligible' });
export const ELIGIBLE: FlagVerdict = Object.freeze({ kind: 'eligible' });

/** The two calls a verdict needs; both the embedded engine and a networked SDK instance provide them. */
export interface VerdictEngine {
  getFeatureToggleDefinition(name: string): FeatureInterface | undefined;
  isEnabled(name: string, context: Context, fallback?: boolean): boolean;
  /** The SDK's usage counter (what Unleash's "last seen" shows); called for verdicts the SDK did not evaluate. */
  count?(name: string, enabled: boolean): void;
}

/** No compiled form: the SDK evaluates this definition. */
const USE_SDK = 'sdk' as const;

/**
 * Compiled flags by definition object: the SDK (or the embedded repository) replaces definitions with new objects
 * when a snapshot changes, so each snapshot is compiled once, on first use, and dropped with it.
 */
const compiled = new WeakMap<FeatureInterface, CompiledFlag | typeof USE_SDK>();

function compiledFor(engine: VerdictEngine, definition: FeatureInterface): CompiledFlag | null {
  let entry = compiled.get(definition);
  if (entry === undefined) {
    // The SDK merges its static context (appName, environment) under each request's context; so does the compiled
    // form. `staticContext` is a protected field of the SDK class: read, never written.
    const staticContext = (engine as { staticContext?: Record<string, string | undefined> }).staticContext ?? {};
    entry = compileFlag(definition, { staticContext }) ?? USE_SDK;
    compiled.set(definition, entry);
  }
  return entry === USE_SDK ? null : entry;
}

/**
 * unknown flag ⇒ no_flag_data; flag off ⇒ off; on but false for this user (constraints, its own rollout
 * percentage, a parent dependency) ⇒ not_eligible; otherwise eligible. Common flags are evaluated by their compiled
 * form (core/compiled-flags.ts), the rest by the SDK.
 */
export function verdictOf(engine: VerdictEngine, flag: string, context: FlagContext): FlagVerdict {
  const definition = engine.getFeatureToggleDefinition(flag);
  if (definition === undefined) return NO_FLAG_DATA;
  if (!definition.enabled) return OFF;
  const fast = compiledFor(engine, definition);
  if (fast !== null) {
    const enabled = fast(context, context.buckets ?? null);
    engine.count?.(flag, enabled);
    return enabled ? ELIGIBLE : NOT_ELIGIBLE;
  }
  return engine.isEnabled(flag, toUnleashContext(context), false) ? ELIGIBLE : NOT_ELIGIBLE;
}

/** The SDK strategies that admit users by something other than a percentage (ids, addresses, hosts, everyone). */
const UNCAPPED_STRATEGIES: ReadonlySet<string> = new Set([
  'default',
  'userWithId',
  'remoteAddress',
  'applicationHostname',
]);
/** The SDK strategies that admit a percentage of users, and the parameter holding it. */
const PERCENT_PARAMETER: ReadonlyMap<string, string> = new Map([
  ['flexibleRollout', 'rollout'],
  ['gradualRolloutUserId', 'percentage'],
  ['gradualRolloutSessionId', 'percentage'],
  ['gradualRolloutRandom', 'percentage'],
]);

/**
 * The share of users a flag can admit at most, read from its definition the way the SDK reads it: unknown ⇒ null,
 * off ⇒ 0, on without strategies ⇒ 100 (the SDK enables it for everyone), otherwise the largest share any strategy
 * admits (the SDK enables a flag when any one strategy does). A strategy the SDK does not know admits nobody, as in
 * the SDK. Constraints are not counted: they select users, they set no percentage.
 */
export function rolloutPercentOf(definition: FeatureInterface | undefined): number | null {
  if (definition === undefined) return null;
  if (!definition.enabled) return 0;
  const strategies = definition.strategies ?? [];
  if (strategies.length === 0) return 100;
  let ceiling = 0;
  for (const strategy of strategies) {
    const parameter = PERCENT_PARAMETER.get(strategy.name);
    const percent =
      parameter === undefined
        ? UNCAPPED_STRATEGIES.has(strategy.name)
          ? 100
          : 0
        : // The SDK reads the parameter with Number(): "30" and 30 both mean 30 %, garbage means nobody.
          Number(strategy.parameters?.[parameter]);
    if (percent > ceiling) ceiling = Math.min(percent, 100);
  }
  return ceiling;
}

export function toUnleashContext(context: FlagContext): Context {
  return {
    userId: context.userId,
    sessionId: context.sessionId,
    remoteAddress: context.remoteAddress,
    // The SDK only reads properties; the spread-free hand-over keeps the hot path cheap.
    properties: context.properties as Record<string, string>,
  };
}

/**
 * Validated flag files have the SDK's shape plus extra keys; the SDK's own types demand a few fields Unleash itself
 * omits on the wire (e.g. `constraint.inverted`), which its evaluation treats as false/absent.
 */
export function toSdkFeatures(features: readonly FeatureDefinition[]): FeatureInterface[] {
  return features as unknown as FeatureInterface[];
}

export function toSdkSegments(segments: readonly SegmentDefinition[]): Segment[] {
  return segments as unknown as Segment[];
}

/** An in-memory `RepositoryInterface`: the SDK reads toggles from it, `replace` swaps them atomically. */
export class SnapshotRepository extends EventEmitter implements RepositoryInterface {
  private features: ReadonlyMap<string, FeatureInterface> = new Map();
  private segments: ReadonlyMap<number, Segment> = new Map();

  replace(features: readonly FeatureInterface[], segments: readonly Segment[] = []): void {
    this.features = new Map(features.map((f) => [f.name, f]));
    this.segments = new Map(segments.map((s) => [s.id, s]));
  }

  getToggle(name: string): FeatureInterface | undefined {
    return this.features.get(name);
  }

  getToggles(): FeatureInterface[] {
    return [...this.features.values()];
  }

  getTogglesWithSegmentData(): EnhancedFeatureInterface[] {
    return this.getToggles().map(({ strategies, ...rest }) => ({
      ...rest,
      strategies: strategies?.map(({ segments, ...strategy }) => ({
        ...strategy,
        segments: segments?.map((id) => this.segments.get(id)),
      })),
    }));
  }

  getSegment(id: number): Segment | undefined {
    return this.segments.get(id);
  }

  start(): Promise<void> {
    // The SDK only evaluates once its repository said "ready"; the snapshot is ready from the start.
    this.emit('ready');
    return Promise.resolve();
  }

  stop(): void {
    this.removeAllListeners();
  }
}

export interface EmbeddedEngine extends VerdictEngine {
  readonly sdk: Unleash;
  readonly staticContext: Readonly<Record<string, string | undefined>>;
  replace(features: readonly FeatureDefinition[], segments?: readonly SegmentDefinition[]): void;
  names(): Set<string>;
  destroy(): void;
}

/**
 * The SDK over a snapshot of flag definitions. `onSdkEvent` receives the SDK's warnings/errors (e.g. a strategy it
 * does not know) so they become pino events rather than console noise.
 */
export async function createEmbeddedEngine(options: {
  appName: string;
  features: readonly FeatureDefinition[];
  segments?: readonly SegmentDefinition[];
  onWarn: (message: unknown) => void;
  onError: (err: unknown) => void;
}): Promise<EmbeddedEngine> {
  const repository = new SnapshotRepository();
  repository.replace(toSdkFeatures(options.features), toSdkSegments(options.segments ?? []));
  const sdk = new Unleash({
    appName: options.appName,
    // Required by the constructor; never contacted: the repository is ours and metrics are disabled.
    url: 'http://embedded.invalid/api/',
    repository,
    disableMetrics: true,
    metricsInterval: 0,
    disableAutoStart: true,
    skipInstanceCountWarning: true,
  });
  sdk.on('warn', options.onWarn);
  sdk.on('error', options.onError);
  await sdk.start();
  return {
    sdk,
    // What the SDK merges under each context (appName, environment): the compiled flags need the same.
    staticContext: (sdk as unknown as { staticContext?: Record<string, string | undefined> }).staticContext ?? {},
    getFeatureToggleDefinition: (name) => repository.getToggle(name),
    isEnabled: (name, context, fallback) => sdk.isEnabled(name, context, fallback),
    replace: (features, segments = []) => repository.replace(toSdkFeatures(features), toSdkSegments(segments)),
    names: () => new Set(repository.getToggles().map((f) => f.name)),
    destroy: () => sdk.destroy(),
  };
}
