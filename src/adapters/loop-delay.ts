// The edge's own event-loop delay, so the judge can tell the edge's stalls from the upstreams'. A request whose
// response headers were read while the loop was stalled carries the stall in its timing: its outcome is tagged
// `edgeDelayed`, and the judge leaves that second out as contaminated (core/sequential-judge).

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Outcome } from '../core/types.ts';

export interface LoopDelayMonitor {
  /** The worst loop delay (ms) seen in the current or the last sampling period. */
  currentMs(): number;
  /** The outcome, tagged `edgeDelayed` when the loop is stalled beyond the threshold now. */
  tag(outcome: Outcome): Outcome;
  stop(): void;
}

/** A stall this long is the edge's doing, not noise: ~10× a healthy loop's p99 under load. */
export const DEFAULT_LOOP_DELAY_THRESHOLD_MS = 100;
const PERIOD_MS = 250;

export function createLoopDelayMonitor(options: { thresholdMs?: number } = {}): LoopDelayMonitor {
  const thresholdMs = options.thresholdMs ?? DEFAULT_LOOP_DELAY_THRESHOLD_MS;
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let lastPeriodMaxMs = 0;
  // Each period keeps the previous period's worst, so a stall just before a timer tick still counts after it.
  const timer = setInterval(() => {
    lastPeriodMaxMs = histogram.max / 1e6;
    histogram.reset();
  }, PERIOD_MS);
  timer.unref();
  const currentMs = () => Math.max(lastPeriodMaxMs, histogram.max / 1e6);
  // tag() runs once per request: the histogram (a native read) is looked at once per millisecond at most. The
  // histogram itself only moves every `resolution` (10 ms), so nothing is missed.
  let readAt = Number.NEGATIVE_INFINITY;
  let delayed = false;
  return {
    currentMs,
    tag(outcome) {
      const now = performance.now();
      if (now - readAt >= 1) {
        readAt = now;
        delayed = currentMs() >= thresholdMs;
      }
      return delayed ? { ...outcome, edgeDelayed: true } : outcome;
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
