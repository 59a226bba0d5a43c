// Where one request goes, decided once and then used by proxying, logs, metrics and shadowing alike. Pure: the
// route table, the rollout state, the flag verdict and the verified override all arrive as arguments.
//
//   no route matched                          → legacy   'unmatched'
//   mode legacy | service                     → that target ('mode_legacy' | 'mode_service')
//   mode shadow                               → legacy, shadow copy to the service ('mode_shadow')
//   mode canary:
//     1. a verified override                  → its target ('override')
//     2. the route's flag (if it has one): unknown → legacy 'no_flag_data'; off → 'flag_off'; this user outside the
//        flag's constraints or its own rollout percentage → 'not_eligible'. This is the kill switch, so it also
//        overrides a promoted route.
//     3. the rollout state: none, phase off, or paused at 0 % → legacy 'paused_zero'; rolled_back → legacy;
//        promoted → service; phase shadow → legacy with a shadow copy ('mode_shadow'); otherwise (canary, holding,
//        paused on a step) the sticky bucket: bucket ≤ weight → service 'bucket_in', else legacy 'bucket_out'.
//
// The flag's own percentage and our weight nest because both admit "bucket ≤ p" on the same hash (bucket.ts) of the
// same value (the stickiness value is the Unleash userId) with the same groupId (the flag name): the share that
// reaches the service is the smaller of the two.
//
// Flag context: userId = sessionId = the stickiness value, remoteAddress = the client IP, and properties taken from
// request headers so Unleash constraints can select on them:
//   x-tenant-id           → tenantId
//   x-edge-ctx-<name>     → <name> in camelCase (x-edge-ctx-plan → plan, x-edge-ctx-app-version → appVersion)
// These headers come from the client, so constraints on them select users, they do not authorise anyone: both
// targets serve the same contract.

import type { RouteConfig, RouteTable } from '../config/types.ts';
import { BucketMemo } from './compiled-flags.ts';
import type { RouteMatcher } from './route-matcher.ts';
import { stickinessValue } from './stickiness.ts';
import type {
  Decision,
  DecisionReason,
  FlagContext,
  FlagEvaluator,
  RequestFacts,
  RouteRolloutState,
  Target,
} from './types.ts';

export type RolloutStateLookup = (routeId: string) => RouteRolloutState | undefined;

export interface DecideInput {
  readonly table: RouteTable;
  readonly matcher: RouteMatcher;
  readonly facts: RequestFacts;
  readonly state: RolloutStateLookup;
  readonly flags: FlagEvaluator;
  /** The target of a verified override token (core/override-token), or null. */
  readonly override: Target | null;
}

export function decide(input: DecideInput): Decision {
  const route = input.matcher.match(input.facts.method, input.facts.path);
  return decideForRoute(input.table, route, input.facts, input.state, input.flags, input.override);
}

/** The decision once the route is known (null: unmatched). Split out so a compiled router can match once. */
export function decideForRoute(
  table: RouteTable,
  route: RouteConfig | null,
  facts: RequestFacts,
  state: RolloutStateLookup,
  flags: FlagEvaluator,
  override: Target | null,
): Decision {
  if (route === null) return fixed(null, 'legacy', table.legacy, 'unmatched', false);
  switch (route.mode) {
    case 'legacy':
      return fixed(route.id, 'legacy', table.legacy, 'mode_legacy', false);
    case 'service':
      return fixed(route.id, 'service', route.service, 'mode_service', false);
    case 'shadow':
      return fixed(route.id, 'legacy', table.legacy, 'mode_shadow', true);
    case 'canary':
      break;
  }

  if (override !== null) {
    return fixed(route.id, override, override === 'service' ? route.service : table.legacy, 'override', false);
  }

  const sticky = stickinessValue(table.stickiness, facts);
  // The flag's flexibleRollout (groupId = the flag name, userId = the stickiness value) and the bucket below hash
  // the same string: one murmur hash serves both.
  const buckets = new BucketMemo();
  if (route.flag !== null) {
    const verdict = flags(route.flag, flagContext(sticky.value, facts, buckets));
    if (verdict.kind !== 'eligible') {
      return fixed(route.id, 'legacy', table.legacy, verdict.kind === 'off' ? 'flag_off' : verdict.kind, false);
    }
  }

  const current = state(route.id);
  if (current === undefined) return withWeight(route.id, 'legacy', table.legacy, 'paused_zero', null, 0);
  switch (current.phase) {
    case 'off':
      return withWeight(route.id, 'legacy', table.legacy, 'paused_zero', null, current.weight);
    case 'rolled_back':
      return withWeight(route.id, 'legacy', table.legacy, 'rolled_back', null, current.weight);
    case 'promoted':
      return withWeight(route.id, 'service', route.service, 'promoted', null, current.weight);
    case 'shadow':
      return { ...fixed(route.id, 'legacy', table.legacy, 'mode_shadow', true), weight: current.weight };
    case 'paused':
      if (current.weight <= 0) return withWeight(route.id, 'legacy', table.legacy, 'paused_zero', null, 0);
      break;
    case 'canary':
    case 'holding':
      break;
  }

  // The groupId is the flag name, as Unleash's flexibleRollout uses it; a route without a flag buckets by its id.
  const bucket = buckets.get(route.flag ?? route.id, sticky.value);
  return bucket <= current.weight
    ? withWeight(route.id, 'service', route.service, 'bucket_in', bucket, current.weight)
    : withWeight(route.id, 'legacy', table.legacy, 'bucket_out', bucket, current.weight);
}

/**
 * The share of users (percent) the route sends to the service now, by the same rules as `decideForRoute`: the
 * smaller of the flag's own rollout percentage (`flagPercent`: 0 when off, null when unknown) and the rollout state's
 * weight. Overrides and flag constraints are per request and not counted. Keep the two functions in step.
 */
export function effectiveWeight(
  route: RouteConfig,
  state: RouteRolloutState | undefined,
  flagPercent: number | null,
): number {
  switch (route.mode) {
    case 'legacy':
    case 'shadow':
      return 0;
    case 'service':
      return 100;
    case 'canary':
      break;
  }
  // No flag data sends everyone to the monolith; a route without a flag is gated by its state alone.
  const ceiling = route.flag === null ? 100 : (flagPercent ?? 0);
  if (state === undefined) return 0;
  let weight: number;
  switch (state.phase) {
    case 'off':
    case 'rolled_back':
    case 'shadow':
      weight = 0;
      break;
    case 'promoted':
      weight = 100;
      break;
    case 'paused':
    case 'canary':
    case 'holding':
      weight = state.weight;
      break;
  }
  return Math.max(0, Math.min(ceiling, weight));
}

function fixed(
  routeId: string | null,
  target: Target,
  upstream: string,
  reason: DecisionReason,
  shadow: boolean,
): Decision {
  return { routeId, target, upstream, reason, bucket: null, weight: null, shadow };
}

function withWeight(
  routeId: string,
  target: Target,
  upstream: string,
  reason: DecisionReason,
  bucket: number | null,
  weight: number,
): Decision {
  return { routeId, target, upstream, reason, bucket, weight, shadow: false };
}

const NO_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});
const CTX_PREFIX = 'x-edge-ctx-';

/** The Unleash context for one request (see the header comment for the header → property mapping). */
export function flagContext(stickiness: string, facts: RequestFacts, buckets?: BucketMemo): FlagContext {
  let properties: Record<string, string> | null = null;
  for (const name in facts.headers) {
    let property: string;
    if (name === 'x-tenant-id') property = 'tenantId';
    else if (name.length > CTX_PREFIX.length && name.startsWith(CTX_PREFIX)) {
      property = camelCase(name.slice(CTX_PREFIX.length));
    } else continue;
    const raw = facts.headers[name];
    const value = typeof raw === 'string' ? raw : raw?.[0];
    if (value === undefined) continue;
    // No prototype: a header named x-edge-ctx-__proto__ must stay an ordinary key.
    properties ??= Object.create(null) as Record<string, string>;
    properties[property] = value;
  }
  return {
    userId: stickiness,
    sessionId: stickiness,
    remoteAddress: facts.clientIp,
    properties: properties ?? NO_PROPERTIES,
    buckets,
  };
}

function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
