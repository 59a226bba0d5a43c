// Keeps rf_edge_route_effective_weight_percent true: the share a canary route really sends to the service is the
// smaller of the flag's own rollout percentage and the route's weight, so a dashboard showing the route weight
// alone would claim 50 % while Unleash holds the flag at 30 % (or off). Both inputs change asynchronously (a flag
// refresh, a controller transition on any replica, a route table reload), so the gauge is recomputed on each of
// those events rather than on a timer.

import type { RouteTable } from '../../config/types.ts';
import { effectiveWeight } from '../../core/decide.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FlagSource, StateStore } from '../ports.ts';

export interface EffectiveWeightGauge {
  /** Recomputes every route of the current table (call it after a route table is applied). */
  refresh(): void;
  stop(): void;
}

export function trackEffectiveWeights(options: {
  readonly flags: Pick<FlagSource, 'rolloutPercent' | 'onChange'>;
  readonly store: Pick<StateStore, 'get' | 'onChange'>;
  readonly metrics: EdgeMetrics;
  readonly getTable: () => RouteTable;
}): EffectiveWeightGauge {
  const { flags, store, metrics, getTable } = options;
  let published = new Set<string>();

  const refresh = () => {
    const next = new Set<string>();
    for (const route of getTable().routes) {
      const flagPercent = route.flag === null ? null : flags.rolloutPercent(route.flag);
      metrics.routeEffectiveWeight.set({ route: route.id }, effectiveWeight(route, store.get(route.id), flagPercent));
      next.add(route.id);
    }
    // A route removed from routes.yaml must not keep reporting its last share.
    for (const id of published) if (!next.has(id)) metrics.routeEffectiveWeight.remove({ route: id });
    published = next;
  };

  const offFlags = flags.onChange(refresh);
  const offStore = store.onChange(refresh);
  return {
    refresh,
    stop() {
      offFlags();
      offStore();
    },
  };
}
