// Tests that stay valid when looked at every second (anytime-valid inference), for the sequential judge.
//
// A fixed-level test (a 99 % binomial bound) re-run every second on growing or overlapping data is wrong a lot more
// often than 1 % of the time: every look is another chance for noise to cross the line, and a rollout looks
// thousands of times. The two tools below are nonnegative supermartingales under the null hypothesis, so by Ville's
// inequality the chance that they EVER cross 1/α, however often and however long one looks, is at most α
// (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
// sequences", 2021; Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting", 2023).
//
// - `rateBounds`: a confidence sequence for a Bernoulli rate from the beta-binomial mixture martingale (Robbins).
//   Closed form, no tuning, tight enough that 30 errors in 1,000 requests bound the rate away from 0.5 %.
// - `BettingTest`: a test that the mean of per-second values in [0, 1] stays at or below a null mean that may change
//   every second (known before the value is seen), by betting against it with a small grid of stakes.

import { lnGamma } from './binomial-test.ts';

function lnBeta(a: number, b: number): number {
  return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
}

/** Jeffreys' prior for the mixture: no preferred rate, and bounds that tighten like √(log n / n). */
const PRIOR_A = 0.5;
const PRIOR_B = 0.5;

export interface RateBounds {
  readonly lower: number;
  readonly upper: number;
}

/**
 * Time-uniform bounds for a rate seen as `events` in `trials`: with probability at least 1 − `alpha`, the true rate
 * lies inside [lower, upper] at every trial count at once. [0, 1] when there are no trials.
 */
export function rateBounds(events: number, trials: number, alpha: number): RateBounds {
  if (trials <= 0) return { lower: 0, upper: 1 };
  const k = Math.min(Math.max(events, 0), trials);
  const threshold = Math.log(1 / alpha);
  const mixture = lnBeta(PRIOR_A + k, PRIOR_B + trials - k) - lnBeta(PRIOR_A, PRIOR_B);
  // ln M(p) = mixture − ln L(p); convex in p with its minimum at the observed rate. The bounds are where it crosses
  // ln(1/α) on either side.
  const lnM = (p: number): number => mixture - k * Math.log(p) - (trials - k) * Math.log1p(-p);
  const observed = k / trials;
  const lower = k === 0 ? 0 : crossing(lnM, threshold, 0, observed);
  const upper = k === trials ? 1 : crossing(lnM, threshold, 1, observed);
  return { lower, upper };
}

/** Bisection between `outside` (where lnM ≥ threshold, or the edge) and `inside` (the minimum). */
function crossing(lnM: (p: number) => number, threshold: number, outside: number, inside: number): number {
  let out = outside;
  let inn = inside;
  // 50 halvings: far below any rate the judge could tell apart.
  for (let i = 0; i < 50; i++) {
    const mid = (out + inn) / 2;
    if (lnM(mid) >= threshold) out = mid;
    else inn = mid;
  }
  // The conservative side: never report a bound tighter than the crossing.
  return out;
}

/** Stakes as fractions of the largest safe bet (1 / null mean): a mixture over them adapts to the effect size. */
const STAKES = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7] as const;

/**
 * A test that E[value] ≤ nullMean, second after second, by betting: each stake's wealth is multiplied by
 * 1 + λ (value − nullMean), which never goes below 0 and has expectation ≤ 1 under the null; the average over the
 * stakes is a test supermartingale. `evidence()` is that average: the null is rejected when it reaches 1/α.
 */
export class BettingTest {
  readonly #wealth: number[] = STAKES.map(() => 1);
  #observations = 0;

  /** One observation in [0, 1], with the null mean in (0, 1) for it, fixed before the value was known. */
  observe(value: number, nullMean: number): void {
    if (!(nullMean > 0 && nullMean < 1)) return;
    const v = Math.min(Math.max(value, 0), 1);
    this.#observations++;
    for (let i = 0; i < STAKES.length; i++) {
      const lambda = (STAKES[i] ?? 0) / nullMean;
      // Capped far above any 1/α: the test's verdict is the same, and the number never overflows.
      this.#wealth[i] = Math.min((this.#wealth[i] ?? 1) * (1 + lambda * (v - nullMean)), 1e12);
    }
  }

  /** The test statistic: the mixture wealth (1 at the start; ≥ 1/α rejects the null). */
  evidence(): number {
    let sum = 0;
    for (const w of this.#wealth) sum += w;
    return sum / this.#wealth.length;
  }

  observations(): number {
    return this.#observations;
  }
}
