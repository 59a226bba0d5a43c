// What follows a rollout transition once it is stored: the audit row, the metrics and the log line. One place, so
// a leader's tick, a person's command and a blind replica's own rollback are recorded the same way.

import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { AuditLog } from '../adapters/ports.ts';
import type { RouteConfig, RouteTable } from '../config/types.ts';
import { ROLLOUT_PHASES, type RolloutEvent } from '../core/rollout-machine.ts';
import type { Actor, AuditEvent, RouteRolloutState, Verdict } from '../core/types.ts';

export interface TransitionDeps {
  readonly audit: AuditLog;
  readonly metrics: EdgeMetrics;
  readonly log: Logger;
  readonly instanceId: string;
}

export interface StoredChange {
  readonly from: RouteRolloutState | undefined;
  readonly to: RouteRolloutState;
  readonly event: RolloutEvent;
}

/** `admin:alice` → `admin`: people's names stay out of metric labels (unbounded cardinality). */
export function actorKind(actor: Actor): string {
  const colon = actor.indexOf(':');
  return colon === -1 ? actor : actor.slice(0, colon);
}

/** The figures a transition was based on: the verdict for the judge, the command for a person, the mode for config. */
export function evidenceOf(event: RolloutEvent, route: RouteConfig): unknown {
  switch (event.type) {
    case 'verdict':
      return event.verdict;
    case 'config':
      return { command: 'config', mode: route.mode, steps: route.rollout.steps };
    case 'tick_requests':
      return { command: 'tick_requests', count: event.count };
    case 'diff_gate':
      return event.evidence;
    case 'set_weight':
      return { command: event.type, actor: event.actor, reason: event.reason, weight: event.weight };
    default:
      return { command: event.type, actor: event.actor, reason: event.reason };
  }
}

export function setRouteGauges(metrics: EdgeMetrics, state: RouteRolloutState, now: number): void {
  const route = state.routeId;
  for (const phase of ROLLOUT_PHASES) metrics.routeState.set({ route, phase }, phase === state.phase ? 1 : 0);
  metrics.effectiveWeight.set({ route }, state.weight);
  metrics.timeOnStep.set({ route }, Math.max(0, now - state.since) / 1000);
}

export function clearRouteGauges(metrics: EdgeMetrics, routeId: string): void {
  for (const phase of ROLLOUT_PHASES) metrics.routeState.remove({ route: routeId, phase });
  metrics.effectiveWeight.remove({ route: routeId });
  metrics.timeOnStep.remove({ route: routeId });
}

/**
 * Records a stored transition. Bookkeeping (`tick_requests`) only moves gauges; everything else is audited,
 * counted and logged with the reason. `local` marks a blind replica's own rollback, not yet in the shared store.
 */
export function announceTransition(
  deps: TransitionDeps,
  change: StoredChange,
  route: RouteConfig,
  table: RouteTable,
  now: number,
  local = false,
): void {
  const { from, to, event } = change;
  setRouteGauges(deps.metrics, to, now);
  if (event.type === 'tick_requests') return;

  const fromPhase = from?.phase ?? 'off';
  const fromWeight = from?.weight ?? 0;
  record(
    deps,
    {
      at: now,
      routeId: to.routeId,
      from: fromPhase,
      to: to.phase,
      fromWeight,
      toWeight: to.weight,
      actor: to.updatedBy,
      reason: to.reason,
      evidence: evidenceOf(event, route),
      configHash: table.hash,
    },
    { stepIndex: to.stepIndex, revision: to.revision, ...(local ? { local: true } : {}) },
    `route ${to.routeId}: ${fromPhase} ${fromWeight}% → ${to.phase} ${to.weight}% by ${to.updatedBy}${local ? ' (this replica only, store unreachable)' : ''}: ${to.reason}`,
  );
}

/**
 * Records that a route left routes.yaml and its stored state was forgotten: audited and counted as a move to
 * `off` by config, so the trail shows where the route stood when it went.
 */
export function announceRemoval(deps: TransitionDeps, before: RouteRolloutState, table: RouteTable, now: number): void {
  clearRouteGauges(deps.metrics, before.routeId);
  const reason = 'route removed from routes.yaml';
  record(
    deps,
    {
      at: now,
      routeId: before.routeId,
      from: before.phase,
      to: 'off',
      fromWeight: before.weight,
      toWeight: 0,
      actor: 'config',
      reason,
      evidence: { command: 'config', removed: true },
      configHash: table.hash,
    },
    {},
    `route ${before.routeId}: ${reason}, its rollout state is forgotten`,
  );
}

/** The audit row, the counters and the `rollout.transition` log line (a warning for a rollback). */
function record(deps: TransitionDeps, row: AuditEvent, logFields: Record<string, unknown>, message: string): void {
  deps.audit.append(row);
  deps.metrics.transitions.inc({ route: row.routeId, from: row.from, to: row.to });
  const rollback = row.to === 'rolled_back' && row.from !== 'rolled_back';
  if (rollback) deps.metrics.rollbacks.inc({ route: row.routeId, actor: actorKind(row.actor) });

  const fields = {
    event: 'rollout.transition',
    routeId: row.routeId,
    from: row.from,
    to: row.to,
    fromWeight: row.fromWeight,
    toWeight: row.toWeight,
    actor: row.actor,
    reason: row.reason,
    instance: deps.instanceId,
    ...logFields,
  };
  if (rollback) deps.log.warn(fields, message);
  else deps.log.info(fields, message);
}

/** The judge's inputs as gauges, so a dashboard shows the numbers behind a hold or a rollback. */
export function setJudgeGauges(metrics: EdgeMetrics, verdict: Verdict): void {
  const ev = verdict.evidence;
  if (ev === undefined) return;
  const route = verdict.routeId;
  for (const target of ['service', 'legacy'] as const) {
    const side = ev[target];
    metrics.judgeRequests.set({ route, target, kind: 'requests' }, side.requests);
    metrics.judgeRequests.set({ route, target, kind: 'errors' }, side.errors);
    const bounds = ev.errorRate[target];
    metrics.judgeErrorRateBound.set({ route, target, bound: 'lower' }, bounds.lower);
    metrics.judgeErrorRateBound.set({ route, target, bound: 'upper' }, bounds.upper);
    for (const [quantile, value] of [
      ['0.5', side.p50Ms],
      ['0.9', side.p90Ms],
      ['0.99', side.p99Ms],
    ] as const) {
      if (value !== null) metrics.judgeLatency.set({ route, target, quantile }, value / 1000);
    }
  }
  metrics.judgeLatencyEvidence.set({ route, test: 'median' }, ev.latency.medianEvidence);
  metrics.judgeLatencyEvidence.set({ route, test: 'p90' }, ev.latency.p90Evidence);
  for (const [reason, seconds] of Object.entries(ev.contaminated.byReason)) {
    metrics.judgeContaminatedSeconds.set({ route, reason }, seconds);
  }
}
