// Fixed, log-spaced latency buckets shared by every place that counts outcomes (in memory and in Redis), so
// windows from many replicas add up bucket by bucket and a p99 can be read from the sum. Bounds grow by ~10 %,
// so a p99 read from them is within ~10 % of the true value, from 0.5 ms to ~2 minutes.

const GROWTH = 1.1;
const FIRST_BOUND_MS = 0.5;

/** Upper bounds (ms, inclusive) of every bucket but the last, which is unbounded. */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = FIRST_BOUND_MS; b < 120_000; b *= GROWTH) bounds.push(Math.round(b * 1000) / 1000);
  return Object.freeze(bounds);
})();

export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** Index of the bucket that holds `ms`. */
export function latencyBucket(ms: number): number {
  if (!(ms > FIRST_BOUND_MS)) return 0;
  const approx = Math.ceil(Math.log(ms / FIRST_BOUND_MS) / Math.log(GROWTH));
  // Guard against float rounding at the edges of a bucket.
  let i = Math.min(Math.max(approx - 1, 0), LATENCY_BUCKET_BOUNDS_MS.length);
  while (i < LATENCY_BUCKET_BOUNDS_MS.length && ms > (LATENCY_BUCKET_BOUNDS_MS[i] ?? Number.POSITIVE_INFINITY)) i++;
  while (i > 0 && ms <= (LATENCY_BUCKET_BOUNDS_MS[i - 1] ?? 0)) i--;
  return i;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, reported as the upper bound of the bucket holding it (conservative:
 * never below the true value by more than one bucket). Null when the histogram is empty.
 */
export function quantileFromBuckets(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] ?? 0;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) {
      const lastBound = LATENCY_BUCKET_BOUNDS_MS[LATENCY_BUCKET_BOUNDS_MS.length - 1] ?? 0;
      return LATENCY_BUCKET_BOUNDS_MS[i] ?? lastBound * GROWTH;
    }
  }
  return null;
}
