// Fallback to the monolith on the forwarding path (issue 9): what a request sent to the service needs in order to
// be answered by the monolith if the service fails it, and the edge's side of that (budgets per route, counting,
// logging, the judge's outcome). Whether it may is core/fallback-policy's decision.

import type { IncomingMessage } from 'node:http';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { FailureStage, FallbackPolicy, NoFallback } from '../core/fallback-policy.ts';
import { type BodyReplay, RetryBudget } from '../core/fallback-policy.ts';
import type { Outcome } from '../core/types.ts';
import type { ForwardTarget } from './forward.ts';
import type { EdgeRequestState, UpstreamPlan } from './request-state.ts';

/** A service request's way back to the monolith, prepared by admission. */
export interface FallbackPlan {
  readonly routeId: string;
  readonly policy: FallbackPolicy;
  /** The same request for the legacy upstream (its own Host policy and base path); built when called. */
  target(): ForwardTarget;
  readonly legacy: UpstreamPlan;
  /** How the body can be sent again; 'buffered' means the edge reads it into memory before forwarding. */
  readonly body: BodyReplay;
}

/** How a request's body can be replayed under `maxBodyBytes` (RFC 9112 §6: chunked has no length up front). */
export function bodyReplayOf(headers: IncomingMessage['headers'], hasBody: boolean, maxBodyBytes: number): BodyReplay {
  if (!hasBody) return 'none';
  if (headers['transfer-encoding'] !== undefined) return 'streamed';
  const length = Number(headers['content-length']);
  if (!Number.isSafeInteger(length) || length < 0) return 'streamed';
  return length <= maxBodyBytes ? 'buffered' : 'too_large';
}

/** Reads a request body whose length is known and within the limit (checked by bodyReplayOf). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy(new Error('request body longer than its Content-Length'));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client went away while sending its body'));
    });
  });
}

/** The edge's bookkeeping of fallbacks: a retry budget per route, the metric, the log, the judge's outcome. */
export class FallbackDesk {
  readonly #budgets = new Map<string, { policy: FallbackPolicy; budget: RetryBudget }>();
  readonly #metrics: EdgeMetrics;
  readonly #log: Logger;
  readonly #recordOutcome: (outcome: Outcome) => void;

  constructor(options: { metrics: EdgeMetrics; log: Logger; recordOutcome: (outcome: Outcome) => void }) {
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#recordOutcome = options.recordOutcome;
  }

  #budget(routeId: string, policy: FallbackPolicy): RetryBudget {
    let entry = this.#budgets.get(routeId);
    // A reload that changes the route's budget starts a new one; rollout changes keep the same policy object.
    if (entry === undefined || entry.policy !== policy) {
      entry = { policy, budget: new RetryBudget(policy.budgetRatio, policy.budgetMinPerSecond) };
      this.#budgets.set(routeId, entry);
    }
    return entry.budget;
  }

  /**
   * Counts a request of the route (to either side) toward its budget: the budget is a share of the route's traffic,
   * so a dead service at a 10 % canary has all its requests answered by the monolith, while at most that share of
   * the route's traffic is ever sent twice.
   */
  noteRequest(routeId: string, policy: FallbackPolicy): void {
    this.#budget(routeId, policy).noteRequest(Date.now());
  }

  takeBudget(plan: FallbackPlan): boolean {
    return this.#budget(plan.routeId, plan.policy).tryTake(Date.now());
  }

  /**
   * The service failed `state` and the monolith will answer instead: the failure counts against the service in the
   * judge's window (fallback never hides a regression) and in rf_edge_fallbacks_total.
   */
  fellBack(state: EdgeRequestState, plan: FallbackPlan, stage: FailureStage, status: number): void {
    this.#metrics.fallbacks.inc({ route: plan.routeId, reason: stage });
    const now = performance.now();
    try {
      this.#recordOutcome({
        routeId: plan.routeId,
        target: 'service',
        status: stage === 'status' ? status : 0,
        latencyMs: now - state.start,
        ...(state.sentAt !== null ? { upstreamMs: now - state.sentAt } : {}),
        transportError: stage !== 'status',
        at: Date.now(),
      });
    } catch (err) {
      this.#log.error({ event: 'outcome.record_failed', err }, 'recordOutcome threw; the outcome is lost');
    }
  }

  /** The service failed `state` and it stays failed: say why it did not go to the monolith. */
  skipped(state: EdgeRequestState, plan: FallbackPlan, stage: FailureStage, why: NoFallback): void {
    this.#metrics.fallbacksSkipped.inc({ route: plan.routeId, why });
    this.#log.info(
      { event: 'fallback.skipped', reqId: state.id, route: plan.routeId, method: state.method, stage, why },
      `no fallback to the monolith: ${why.replaceAll('_', ' ')}`,
    );
  }
}
