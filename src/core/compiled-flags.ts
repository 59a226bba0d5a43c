// Flags compiled once per snapshot for the common shapes, so the request path does not run the SDK per request
// (its isEnabled copies the context, walks generators for constraints, cleans constraint values on every call, and
// counts). What compiles: a flag whose strategies are all `default`, `flexibleRollout` or `userWithId`, whose
// constraints use IN, NOT_IN, STR_STARTS_WITH/ENDS_WITH/CONTAINS or NUM_EQ/GT/GTE/LT/LTE (inverted or not,
// case-insensitive or not), with no segments, no dependencies and no impression data. Anything else returns null from
// `compileFlag` and the caller asks unleash-client, which stays the reference: test/unit/flags-compiled-conformance
// runs the client-specification suites through both and requires the same answer.
//
// Each rule below is unleash-client 6's own (lib/client.js isFeatureEnabled, lib/strategy/*.js, helpers.js
// resolveContextValue), read once at compile time instead of per call. Pure: no I/O; randomness is injected.

import { normalizedBucket } from './bucket.ts';

/** The parts of an Unleash feature definition the compiler reads (the client API's shape). */
export interface FlagDefinition {
  readonly name: string;
  readonly enabled: boolean;
  readonly strategies?: unknown;
  readonly dependencies?: readonly unknown[] | undefined;
  readonly impressionData?: boolean | undefined;
}

/** An Unleash context as the SDK reads it: named fields first, then `properties`. */
export interface FlagEvalContext {
  readonly userId?: string | undefined;
  readonly sessionId?: string | undefined;
  readonly remoteAddress?: string | undefined;
  readonly properties?: Readonly<Record<string, string | undefined>> | undefined;
}

/** Any other named field of a context (`currentTime`, `featureToggle`, a spec suite's `environment`…). */
function field(context: FlagEvalContext, name: string): unknown {
  return (context as unknown as Record<string, unknown>)[name];
}

/**
 * One sticky bucket per request: the decision's own bucket and a flexibleRollout on the same group and id (the
 * flag's groupId is the route's flag name, the stickiness value its userId) share one murmur hash.
 */
export class BucketMemo {
  #groupId = '';
  #id = '';
  #value = 0;

  /** `normalizedBucket(groupId, id)`, computed once for the last pair asked. */
  get(groupId: string, id: string): number {
    if (this.#value !== 0 && groupId === this.#groupId && id === this.#id) return this.#value;
    this.#groupId = groupId;
    this.#id = id;
    this.#value = normalizedBucket(groupId, id);
    return this.#value;
  }
}

export type CompiledFlag = (context: FlagEvalContext, buckets: BucketMemo | null) => boolean;

export interface CompileOptions {
  /** The SDK's static context (`appName`, `environment`), under the request's own fields as the SDK merges them. */
  readonly staticContext?: Readonly<Record<string, string | undefined>>;
  /** flexibleRollout's random stickiness; the SDK's default is `${Math.round(Math.random() * 10000) + 1}`. */
  readonly random?: () => string;
}

type Resolve = (context: FlagEvalContext, field: string) => string | undefined;
type Check = (context: FlagEvalContext, buckets: BucketMemo | null) => boolean;

const defaultRandom = () => `${Math.round(Math.random() * 10000) + 1}`;

/** The compiled form of `definition` (enabled or not: the caller handles `enabled: false`), or null: ask the SDK. */
export function compileFlag(definition: FlagDefinition, options: CompileOptions = {}): CompiledFlag | null {
  if ((definition.dependencies?.length ?? 0) > 0 || definition.impressionData === true) return null;
  const strategies = definition.strategies;
  // The SDK reports a non-array as malformed (an error event): let it.
  if (!Array.isArray(strategies)) return null;
  if (strategies.length === 0) return () => definition.enabled;
  const resolve = resolverFor(options.staticContext ?? {});
  const random = options.random ?? defaultRandom;
  const checks: Check[] = [];
  for (const strategy of strategies as unknown[]) {
    const check = compileStrategy(strategy, resolve, random);
    if (check === null) return null;
    checks.push(check);
  }
  if (checks.length === 1) return checks[0]!;
  return (context, buckets) => {
    for (const check of checks) if (check(context, buckets)) return true;
    return false;
  };
}

/** helpers.js resolveContextValue over `{ ...staticContext, ...context }`, without building the merged object. */
function resolverFor(staticContext: Readonly<Record<string, string | undefined>>): Resolve {
  return (context, name) => {
    const direct = name in context ? field(context, name) : staticContext[name];
    const value = direct ?? context.properties?.[name];
    return value === undefined || value === null ? undefined : String(value);
  };
}

function compileStrategy(raw: unknown, resolve: Resolve, random: () => string): Check | null {
  if (raw === null || typeof raw !== 'object') return null;
  const strategy = raw as {
    name?: unknown;
    parameters?: unknown;
    constraints?: unknown;
    segments?: unknown;
  };
  if (Array.isArray(strategy.segments) && strategy.segments.length > 0) return null;
  const parameters = (strategy.parameters ?? undefined) as Record<string, unknown> | undefined;
  let enabled: Check | null;
  switch (strategy.name) {
    case 'default':
      enabled = () => true;
      break;
    case 'userWithId':
      enabled = parameters === undefined ? null : userWithId(parameters);
      break;
    case 'flexibleRollout':
      enabled = parameters === undefined ? null : flexibleRollout(parameters, resolve, random);
      break;
    default:
      enabled = null;
  }
  if (enabled === null) return null;
  const constraints = strategy.constraints;
  if (constraints === undefined || constraints === null) return enabled;
  if (!Array.isArray(constraints)) return null;
  const checks: Check[] = [];
  for (const constraint of constraints as unknown[]) {
    const check = compileConstraint(constraint, resolve);
    if (check === null) return null;
    checks.push(check);
  }
  if (checks.length === 0) return enabled;
  const strategyEnabled = enabled;
  // Constraints first, as the SDK (isEnabledWithConstraints): a flexibleRollout is only hashed for users they admit.
  return (context, buckets) => {
    for (const check of checks) if (!check(context, buckets)) return false;
    return strategyEnabled(context, buckets);
  };
}

/** user-with-id-strategy.js: `userIds` split on commas (spaces around them ignored), userId in the list. */
function userWithId(parameters: Record<string, unknown>): Check | null {
  const raw = parameters['userIds'];
  if (raw !== undefined && raw !== null && raw !== '' && typeof raw !== 'string') return null;
  const ids = new Set(typeof raw === 'string' && raw !== '' ? raw.split(/\s*,\s*/) : []);
  return (context) => context.userId !== undefined && ids.has(context.userId);
}

/** flexible-rollout-strategy.js, with the bucket from core/bucket.ts (the SDK's normalizedStrategyValue). */
function flexibleRollout(parameters: Record<string, unknown>, resolve: Resolve, random: () => string): Check | null {
  const groupParam = parameters['groupId'];
  const stickinessParam = parameters['stickiness'];
  if (typeof groupParam !== 'string' && groupParam !== undefined && groupParam !== null) return null;
  if (typeof stickinessParam !== 'string' && stickinessParam !== undefined && stickinessParam !== null) return null;
  const percentage = Number(parameters['rollout']);
  const stickiness = stickinessParam || 'default';
  const fixedGroup = groupParam || null;
  if (!(percentage > 0)) return () => false;
  return (context, buckets) => {
    let id: string | undefined;
    if (stickiness === 'default') id = context.userId || context.sessionId || random();
    else if (stickiness === 'random') id = random();
    else id = resolve(context, stickiness);
    if (!id) return false;
    const featureToggle = field(context, 'featureToggle');
    const groupId = fixedGroup ?? (featureToggle ? String(featureToggle) : '');
    const bucket = buckets === null ? normalizedBucket(groupId, id) : buckets.get(groupId, id);
    return bucket <= percentage;
  };
}

const NUMBER_OPERATORS = new Set(['NUM_EQ', 'NUM_GT', 'NUM_GTE', 'NUM_LT', 'NUM_LTE']);
const STRING_OPERATORS = new Set(['STR_STARTS_WITH', 'STR_ENDS_WITH', 'STR_CONTAINS']);

/** strategy.js: the operators named in the header; null for any other (the SDK then decides). */
function compileConstraint(raw: unknown, resolve: Resolve): Check | null {
  // The SDK fails a strategy on a null constraint (`!constraint`): that is a check that never holds.
  if (raw === null || raw === undefined) return () => false;
  if (typeof raw !== 'object') return null;
  const c = raw as {
    contextName?: unknown;
    operator?: unknown;
    values?: unknown;
    value?: unknown;
    inverted?: unknown;
    caseInsensitive?: unknown;
  };
  if (typeof c.contextName !== 'string' || typeof c.operator !== 'string') return null;
  const contextName = c.contextName;
  const operator = c.operator;
  let check: Check;
  if (operator === 'IN' || operator === 'NOT_IN') {
    const values = cleanValues(c.values);
    if (values === null) return null;
    const set = new Set(values);
    const wantIn = operator === 'IN';
    check = (context) => {
      const value = resolve(context, contextName);
      return (value !== undefined && set.has(value)) === wantIn;
    };
  } else if (STRING_OPERATORS.has(operator)) {
    const cleaned = cleanValues(c.values);
    if (cleaned === null) return null;
    const caseInsensitive = Boolean(c.caseInsensitive);
    const values = caseInsensitive ? cleaned.map((v) => v.toLocaleLowerCase()) : cleaned;
    check = (context) => {
      let value = resolve(context, contextName);
      if (caseInsensitive) value = value?.toLocaleLowerCase();
      if (typeof value !== 'string') return false;
      const v = value;
      if (operator === 'STR_STARTS_WITH') return values.some((x) => v.startsWith(x));
      if (operator === 'STR_ENDS_WITH') return values.some((x) => v.endsWith(x));
      return values.some((x) => v.includes(x));
    };
  } else if (NUMBER_OPERATORS.has(operator)) {
    const target = Number(c.value);
    check = (context) => {
      const value = Number(resolve(context, contextName));
      if (Number.isNaN(target) || Number.isNaN(value)) return false;
      switch (operator) {
        case 'NUM_EQ':
          return value === target;
        case 'NUM_GT':
          return value > target;
        case 'NUM_GTE':
          return value >= target;
        case 'NUM_LT':
          return value < target;
        default:
          return value <= target;
      }
    };
  } else {
    return null;
  }
  if (!c.inverted) return check;
  const plain = check;
  return (context, buckets) => !plain(context, buckets);
}

/** strategy.js cleanValues: empty values dropped, the rest trimmed. Null when `values` is not a list of strings. */
function cleanValues(values: unknown): string[] | null {
  if (!Array.isArray(values)) return null;
  const out: string[] = [];
  for (const v of values as unknown[]) {
    if (!v) continue;
    if (typeof v !== 'string') return null;
    out.push(v.trim());
  }
  return out;
}
