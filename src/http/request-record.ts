// What every request leaves behind, once: its log line, the request metrics, and the judge's outcome (plain
// requests, upgrades and requests refused before routing alike).

import { type Logger, type RawLineSink, rawLineSink } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import { childMap } from '../core/nested-map.ts';
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
  /** Set when the logger's line shape is known: the common line is then formatted here, in a fixed field order. */
  readonly #sink: RawLineSink | null;

  constructor(options: RequestRecorderOptions) {
    this.#log = options.log;
    this.#sink = rawLineSink(options.log);
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
    const hundreds = Math.floor(status / 100);
    const statusClass = failed || status === 0 ? 'error' : (STATUS_CLASS[hundreds] ?? `${hundreds}xx`);
    const upstreamError = state.upstreamError;
    if (upstreamError !== null) {
      this.#metrics.upstreamErrors.inc({ upstream: state.upstream?.config.name ?? '-', kind: upstreamError.kind });
    }
    this.#requestMetrics.observe(route, target, state.method, statusClass, durationMs / 1000);
    const reason = decision?.reason ?? state.rejected ?? '-';
    const upstream = state.upstream?.config.name ?? '-';
    const roundedMs = Math.round(durationMs * 100) / 100;
    const bytesOut = state.socket.bytesWritten - state.bytesAtStart;
    const sink = this.#sink;
    if (upstreamError === null && sink !== null) {
      // The common line, formatted by hand (pino's generic serialiser walks and escapes every field of an object
      // built per request); same fields, same order, same shape as the pino call below. Only the method and path
      // come from the client as typed (the request id is a UUID or passed saneRequestId's character set; route and
      // upstream names are checked by the route table's schema; target and reason are the edge's own codes), so
      // only those two are escaped.
      if (log.isLevelEnabled('info')) {
        sink.stream.write(
          `{"level":"info","time":"${isoNow()}"${sink.bindings},"event":"request","reqId":"${state.id}","method":${str(state.method)},"path":${str(state.path)},"route":"${route}","target":"${target}","upstream":"${upstream}","reason":"${reason}","status":${status},"durationMs":${roundedMs},"bytesOut":${bytesOut}${clientAborted ? ',"aborted":true' : ''}${state.rejected !== null ? `,"rejected":${str(state.rejected)}` : ''}${state.fallback !== null ? `,"fallback":"${state.fallback}"` : ''},"msg":"request"}\n`,
        );
      }
    } else {
      // Exactly one line per request; an upstream failure rides on it (at warn, with the error) instead of a second.
      (upstreamError === null ? log.info : log.warn).call(
        log,
        {
          event: 'request',
          reqId: state.id,
          method: state.method,
          path: state.path,
          route,
          target,
          upstream,
          reason,
          status,
          durationMs: roundedMs,
          bytesOut,
          ...(clientAborted ? { aborted: true } : {}),
          ...(state.rejected !== null ? { rejected: state.rejected } : {}),
          ...(state.fallback !== null ? { fallback: state.fallback } : {}),
          ...(upstreamError !== null ? { upstreamError: upstreamError.kind, err: upstreamError.err } : {}),
        },
        upstreamError === null ? 'request' : 'request failed upstream',
      );
    }
    if (state.shadow !== null) state.shadow.primaryDone(!failed && !clientAborted && status !== 0);
    if (decision !== null && decision.routeId !== null && state.rejected === null) {
      // A client that went away says nothing about the upstream: no outcome then.
      if (upstreamError !== null) {
        this.#safeRecord({
          routeId: decision.routeId,
          // After a fallback the monolith answered: its outcome is the monolith's (the service's failure is
          // already counted, by FallbackDesk).
          target: state.fallback !== null ? 'legacy' : decision.target,
          status: 0,
          latencyMs: durationMs,
          transportError: true,
          at: Date.now(),
        });
      } else if (!clientAborted) {
        const upstreamMs =
          state.sentAt !== null && state.headersAt !== null ? state.headersAt - state.sentAt : undefined;
        this.#safeRecord({
          routeId: decision.routeId,
          target: state.fallback !== null ? 'legacy' : decision.target,
          status,
          latencyMs: durationMs,
          ...(upstreamMs !== undefined ? { upstreamMs } : {}),
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

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape.
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** A JSON string literal; most values need no escaping (ids, methods, route names, checked paths). */
function str(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

let lastMs = 0;
let lastIso = '';
let lastSecond = -1;
let secondPrefix = '';

/**
 * `new Date().toISOString()`, once per millisecond at most (many requests share one under load), and only the
 * milliseconds formatted by hand within a second (toISOString costs ~0.5 µs; this ~0.03).
 */
function isoNow(): string {
  const now = Date.now();
  if (now === lastMs) return lastIso;
  lastMs = now;
  const ms = now % 1000;
  const second = now - ms;
  if (second !== lastSecond) {
    lastSecond = second;
    secondPrefix = new Date(second).toISOString().slice(0, 20); // `2026-12-06T19:41:49.`
  }
  lastIso = `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  return lastIso;
}

/** `status_class` label values for the common hundreds, made once (an upstream's 6xx–9xx gets its own). */
const STATUS_CLASS: readonly (string | undefined)[] = [undefined, '1xx', '2xx', '3xx', '4xx', '5xx'];

interface RequestMetricChild {
  readonly count: { inc(): void };
  readonly duration: { observe(v: number): void };
}

/** Children of the per-request metrics, found through nested maps by label instead of prom-client's label hashing. */
class RequestMetricCache {
  readonly #metrics: EdgeMetrics;
  readonly #children = new Map<string, Map<string, Map<string, Map<string, RequestMetricChild>>>>();

  constructor(metrics: EdgeMetrics) {
    this.#metrics = metrics;
  }

  observe(route: string, target: string, method: string, statusClass: string, seconds: number): void {
    const byStatus = childMap(childMap(childMap(this.#children, route), target), method);
    let child = byStatus.get(statusClass);
    if (child === undefined) {
      child = {
        count: this.#metrics.requests.labels(route, target, method, statusClass),
        duration: this.#metrics.requestDuration.labels(route, target, method, statusClass),
      };
      byStatus.set(statusClass, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }
}
