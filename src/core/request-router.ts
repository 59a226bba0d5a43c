// One object per loaded route table: everything the request path needs, compiled once when the table loads (the
// route matcher, the trusted-proxy ranges), so a request does one route lookup and one decision and nothing else.

import type { RouteTable } from '../config/types.ts';
import { compileTrustedProxies, type TrustedProxies } from './client-ip.ts';
import { decideForRoute, type RolloutStateLookup } from './decide.ts';
import { compileRoutes, type RouteMatcher } from './route-matcher.ts';
import type { Decision, FlagEvaluator, RequestFacts, Target } from './types.ts';

export interface CompiledRouter {
  readonly table: RouteTable;
  readonly matcher: RouteMatcher;
  /** The table's trustedProxies, compiled for core/client-ip's resolveClientIp. */
  readonly trusted: TrustedProxies;
  decide(facts: RequestFacts, state: RolloutStateLookup, flags: FlagEvaluator, override: Target | null): Decision;
}

/** Throws EdgeError RF_CONFIG_INVALID when the table cannot be compiled (conflicting routes, bad pattern or CIDR). */
export function compileRouter(table: RouteTable): CompiledRouter {
  const matcher = compileRoutes(table.routes);
  const trusted = compileTrustedProxies(table.trustedProxies);
  return {
    table,
    matcher,
    trusted,
    decide(facts, state, flags, override) {
      return decideForRoute(table, matcher.match(facts.method, facts.path), facts, state, flags, override);
    },
  };
}
