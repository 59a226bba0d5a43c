// Exact latency percentiles from every sample. A run holds at most a few hundred thousand samples, so keeping them
// all (8 bytes each) is cheaper to reason about than a bucketed histogram, whose bucket width would blur the
// sub-millisecond differences between proxies that this benchmark exists to show.

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** A growable buffer of latencies in milliseconds. */
export class LatencySamples {
  private data = new Float64Array(1 << 16);
  private length = 0;

  add(ms: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = ms;
  }

  get count(): number {
    return this.length;
  }

  summary(): LatencySummary {
    return summariseLatencies(this.data.subarray(0, this.length));
  }
}

/**
 * The q-quantile (0 < q ≤ 1) of ascending samples by the nearest-rank method: the smallest sample with at least
 * q of all samples at or below it. It is always a latency some request really had.
 */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export function summariseLatencies(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const ms of sorted) sum += ms;
  return {
    count: sorted.length,
    meanMs: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    p50Ms: quantileOfSorted(sorted, 0.5),
    p90Ms: quantileOfSorted(sorted, 0.9),
    p99Ms: quantileOfSorted(sorted, 0.99),
    p999Ms: quantileOfSorted(sorted, 0.999),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
  };
}
