// The route table compiled for the hot path, and its one owner. The app swaps the routing object on every reload
// (and on every rollout or flag change that recompiles decisions); the owner notices the new object on the next
// request, compiles it once, and points the upstream pools and the shadow sender at a new table when the table
// itself changed. Every request reads the compiled table through `current()`, nothing else keeps a copy.

import type { Logger } from '../adapters/logger.ts';
import type { RouteTable } from '../config/types.ts';
import { compileTrustedProxies, type TrustedProxies } from '../core/client-ip.ts';
import type { FallbackPolicy } from '../core/fallback-policy.ts';
import type { Decision, RequestFacts, Target } from '../core/types.ts';
import type { UpstreamPlan } from './request-state.ts';
import { compileShadowRoutes, type ShadowRoute } from './shadow-traffic.ts';

/** What the edge needs per request, built once per loaded route table by the app wiring. */
export interface EdgeRouting {
  readonly table: RouteTable;
  decide(facts: RequestFacts, override: Target | null): Decision;
}

/** A route table compiled for the hot path. */
export interface TablePlan {
  readonly routing: EdgeRouting;
  readonly trusted: TrustedProxies;
  readonly upstreams: ReadonlyMap<string, UpstreamPlan>;
  readonly overrideHeader: string;
  readonly overrideCookie: string;
  readonly maxUrlLength: number;
  /** By route id: where and what a shadow decision copies. */
  readonly shadowRoutes: ReadonlyMap<string, ShadowRoute>;
  /** By route id, routes whose service failures may be answered by the monolith (fallback enabled). */
  readonly fallbacks: ReadonlyMap<string, FallbackPolicy>;
  /** The monolith: where unmatched requests and fallbacks go. */
  readonly legacy: UpstreamPlan | undefined;
}

/** Told when the route table (not just the routing around it) changed. */
export interface TableListener {
  useTable(table: RouteTable): void;
}

export class TablePlanOwner {
  readonly #routing: () => EdgeRouting;
  readonly #log: Logger;
  readonly #listeners: readonly TableListener[];
  #lastRouting: EdgeRouting | null = null;
  #lastTable: RouteTable | null = null;
  #plan: TablePlan | null = null;

  constructor(routing: () => EdgeRouting, log: Logger, listeners: readonly TableListener[]) {
    this.#routing = routing;
    this.#log = log;
    this.#listeners = listeners;
  }

  /** The compiled plan of the current routing (compiled on first use after a swap). */
  current(): TablePlan {
    const routing = this.#routing();
    const plan = this.#plan;
    if (routing === this.#lastRouting && plan !== null) return plan;
    const next = compileTablePlan(routing, this.#log);
    if (routing.table !== this.#lastTable) for (const listener of this.#listeners) listener.useTable(routing.table);
    this.#lastRouting = routing;
    this.#lastTable = routing.table;
    this.#plan = next;
    return next;
  }
}

export function compileTablePlan(routing: EdgeRouting, log: Logger): TablePlan {
  const table = routing.table;
  let trusted: TrustedProxies;
  try {
    trusted = compileTrustedProxies(table.trustedProxies);
  } catch (err) {
    // The loader validates the list; should an entry still not parse, trusting nobody is the safe reading.
    log.error({ event: 'config.trusted_proxies_invalid', err }, 'trustedProxies unusable; trusting no proxy');
    trusted = compileTrustedProxies([]);
  }
  const upstreams = new Map<string, UpstreamPlan>();
  for (const [name, config] of table.upstreams) {
    const origin = new URL(config.origin);
    upstreams.set(name, {
      config,
      host: config.host.kind === 'preserve' ? null : config.host.kind === 'upstream' ? origin.host : config.host.value,
      location: config.rewriteLocation ? { upstreamOrigin: config.origin, basePath: config.basePath } : null,
    });
  }
  return {
    routing,
    trusted,
    upstreams,
    overrideHeader: table.override.header.toLowerCase(),
    overrideCookie: table.override.cookie,
    maxUrlLength: table.limits.maxUrlLength,
    shadowRoutes: compileShadowRoutes(table, (u) => upstreams.get(u.name)?.host ?? null),
    fallbacks: new Map(table.routes.flatMap((r) => (r.fallback?.enabled ? [[r.id, r.fallback] as const] : []))),
    legacy: upstreams.get(table.legacy),
  };
}
