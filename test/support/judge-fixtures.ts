// Builders for judge inputs: a rollout policy with the routes.yaml defaults, and window stats from compact
// descriptions (a latency → count map becomes the same histogram the outcome windows produce).
import { DEFAULT_ROLLOUT } from '../../src/config/routes-schema.ts';
import type { RolloutPolicy } from '../../src/config/types.ts';
import { LATENCY_BUCKET_COUNT, latencyBucket, quantileFromBuckets } from '../../src/core/latency-histogram.ts';
import type { RouteWindowStats, TargetWindowStats } from '../../src/core/types.ts';

/** The defaults of routes.yaml / the config loader (minSamples 20, criticalConsecutiveFailures 5). */
export const DEFAULT_POLICY: RolloutPolicy = DEFAULT_ROLLOUT;

export interface TargetSpec {
  requests: number;
  errors: number;
  consecutiveTransportFailures?: number;
  /** Latency in ms → number of requests. Default: every request at 5 ms. Ignored when `p99Ms` is given. */
  latencies?: Record<string, number>;
  /** Give the p99 figure without a histogram (stats as a store without histograms would report them). */
  p99Ms?: number | null;
}

export function targetStats(spec: TargetSpec): TargetWindowStats {
  const base = {
    requests: spec.requests,
    errors: spec.errors,
    consecutiveTransportFailures: spec.consecutiveTransportFailures ?? 0,
  };
  if (spec.p99Ms !== undefined) return { ...base, p99Ms: spec.p99Ms };
  const counts = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  const latencies = spec.latencies ?? (spec.requests > 0 ? { '5': spec.requests } : {});
  for (const [latency, count] of Object.entries(latencies)) {
    const bucket = latencyBucket(Number(latency));
    counts[bucket] = (counts[bucket] ?? 0) + count;
  }
  return { ...base, p99Ms: quantileFromBuckets(counts, 0.99), latencyCounts: counts };
}

export function windowStats(
  service: TargetSpec,
  legacy: TargetSpec,
  routeId = 'agents-read',
  windowMs = 60_000,
): RouteWindowStats {
  return { routeId, windowMs, service: targetStats(service), legacy: targetStats(legacy) };
}
