// What every request leaves behind, once: its log line, the request metrics, and the judge's outcome (plain
// requests, upgrades and requests refused before routing alike).

import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { Outcome } from '../core/types.ts';
import type { EdgeRequestState } from './request-state.ts';

export interface RequestRecorderOptions {
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** Feeds the judge's window; must be cheap and never throw (a throw is logged, the outcome lost). */
  readonly recordOutcome: (outcome: Outcome) => void;
}

export class RequestRecorder {
  readonly #log: Logger;
  readonly #metrics: EdgeMetrics;
  readonly #recordOutcome: (outcome: Outcome) => void;
  readonly #requestMetrics: RequestMetricCache;

  constructor(options: RequestRecorderOptions) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#recordOutcome = options.recordOutcome;
    this.#requestMetrics = new RequestMetricCache(options.metrics);
  }

  /**
   * One log line, the request metrics, and the judge's outcome. `status` 0: no response head was sent; `failed`:
   * the response did not complete or the upstream failed; `clientAborted`: the client went away first.
   */
  finish(state: EdgeRequestState, status: number, failed: boolean, clientAborted: boolean): void {
    if (state.done) return;
    state.done = true;
    const log = this.#log;
    const durationMs = performance.now() - state.start;
    const decision = state.decision;
    const route = decision?.routeId ?? '-';
    const target = decision?.target ?? '-';
    const statusClass = failed || status === 0 ? 'error' : `${Math.floor(status / 100)}xx`;
    const upstreamError = state.upstreamError;
    if (upstreamError !== null) {
      this.#metrics.upstreamErrors.inc({ upstream: state.upstream?.config.name ?? '-', kind: upstreamError.kind });
    }
    this.#requestMetrics.observe(route, target, state.method, statusClass, durationMs / 1000);
    // Exactly one line per request; an upstream failure rides on it (at warn, with the error) instead of a second one.
    (upstreamError === null ? log.info : log.warn).call(
      log,
      {
        event: 'request',
        reqId: state.id,
        method: state.method,
        path: state.path,
        route,
        target,
        upstream: state.upstream?.config.name ?? '-',
        reason: decision?.reason ?? state.rejected ?? '-',
        status,
        durationMs: Math.round(durationMs * 100) / 100,
        bytesOut: state.socket.bytesWritten - state.bytesAtStart,
        ...(clientAborted ? { aborted: true } : {}),
        ...(state.rejected !== null ? { rejected: state.rejected } : {}),
        ...(upstreamError !== null ? { upstreamError: upstreamError.kind, err: upstreamError.err } : {}),
      },
      upstreamError === null ? 'request' : 'request failed upstream',
    );
    if (state.shadow !== null) state.shadow.primaryDone(!failed && !clientAborted && status !== 0);
    if (decision !== null && decision.routeId !== null && state.rejected === null) {
      // A client that went away says nothing about the upstream: no outcome then.
      if (upstreamError !== null) {
        this.#safeRecord({
          routeId: decision.routeId,
          target: decision.target,
          status: 0,
          latencyMs: durationMs,
          transportError: true,
          at: Date.now(),
        });
      } else if (!clientAborted) {
        this.#safeRecord({
          routeId: decision.routeId,
          target: decision.target,
          status,
          latencyMs: durationMs,
          transportError: false,
          at: Date.now(),
        });
      }
    }
  }

  #safeRecord(outcome: Outcome): void {
    try {
      this.#recordOutcome(outcome);
    } catch (err) {
      this.#log.error({ event: 'outcome.record_failed', err }, 'recordOutcome threw; the outcome is lost');
    }
  }
}

/** Children of the per-request metrics, looked up by a string key instead of prom-client's label hashing. */
class RequestMetricCache {
  readonly #metrics: EdgeMetrics;
  readonly #children = new Map<string, { count: { inc(): void }; duration: { observe(v: number): void } }>();

  constructor(metrics: EdgeMetrics) {
    this.#metrics = metrics;
  }

  observe(route: string, target: string, method: string, statusClass: string, seconds: number): void {
    const key = `${route}\u0000${target}\u0000${method}\u0000${statusClass}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = {
        count: this.#metrics.requests.labels(route, target, method, statusClass),
        duration: this.#metrics.requestDuration.labels(route, target, method, statusClass),
      };
      this.#children.set(key, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }
}
