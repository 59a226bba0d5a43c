// The diff rule: does the service answer *the same* as the monolith, often enough, with confidence? Pure.
//
// Two uses, one test (the exact one-sided binomial bounds the judge uses, at the judge's CONFIDENCE):
// - The gate. A canary route with `shadow.gate` starts in shadow and goes to its first step only once
//   `shadow.minRequests` comparisons are in and the mismatch rate after noise is significantly below
//   `shadow.maxMismatchRate` (its upper bound is under the limit). Until then it stays in shadow (`hold`).
// - The canary rule `diff`. While the canary runs, a sampled share of the monolith-served requests is still copied;
//   a mismatch rate significantly above the limit (its lower bound over it) makes the verdict `unhealthy`, with the
//   fields named, so the route rolls back exactly as it would on errors. Above the limit but not significantly is
//   `insufficient_data` (hold: no advance on doubtful evidence). Below `minSamples` comparisons it says nothing.
// The judge (core/sequential-judge.ts) stays as it is: `withDiffCheck` adds this check to its verdict.

import { rateLowerBound, rateUpperBound } from './binomial-test.ts';
import type { DiffSummary } from './diff-tally.ts';
import type { Verdict, VerdictCheck } from './types.ts';

/**
 * A fixed-level bound, unlike the sequential judge's anytime-valid ones: the gate must open after a few hundred
 * comparisons, and a confidence sequence at the judge's alpha needs thousands before its upper bound drops below a
 * 1 % limit. The price is that looking every second lets noise cross it more often than 1 %; the diff rule's window
 * and minimum sample limit that, and moving it to a confidence sequence is open work (README, "Known gaps").
 */
const CONFIDENCE = 0.99;

export interface DiffPolicy {
  readonly minRequests: number;
  readonly maxMismatchRate: number;
}

/** A copy the service did not answer is not an equal answer: errors count as compared and different. */
function counted(summary: DiffSummary): { compared: number; mismatches: number } {
  return { compared: summary.compared + summary.errors, mismatches: summary.mismatches + summary.errors };
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

/** The fields most responsible, as a person reads them: `body.price (31), status (2)`. */
export function namedFields(summary: DiffSummary, limit = 5): string {
  const top = summary.mismatchFields.slice(0, limit).map((f) => `${f.field} (${f.count})`);
  const more = summary.mismatchFields.length - top.length;
  return top.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

export type GateDecision =
  | { readonly outcome: 'pass'; readonly reason: string; readonly check: VerdictCheck }
  | { readonly outcome: 'hold'; readonly reason: string; readonly check: VerdictCheck };

/** Whether a gated route may leave shadow for its first step. */
export function diffGate(summary: DiffSummary, policy: DiffPolicy): GateDecision {
  const { compared, mismatches } = counted(summary);
  const rate = compared > 0 ? mismatches / compared : 0;
  const upper = rateUpperBound(mismatches, compared, CONFIDENCE);
  const figures = `${mismatches}/${compared} compared answers differ after noise (${pct(rate)}, upper bound ${pct(upper)})`;
  if (compared < policy.minRequests) {
    const reason = `shadow gate: ${compared} of ${policy.minRequests} comparisons needed so far; ${figures}`;
    return { outcome: 'hold', reason, check: check(false, rate, policy, reason) };
  }
  if (upper < policy.maxMismatchRate) {
    const reason = `shadow gate passed: ${figures}, below ${pct(policy.maxMismatchRate)}`;
    return { outcome: 'pass', reason, check: check(true, rate, policy, reason) };
  }
  const fields = mismatches > 0 ? `; differing fields: ${namedFields(summary)}` : '';
  const reason = `shadow gate holds: ${figures}, not significantly below ${pct(policy.maxMismatchRate)}${fields}`;
  return { outcome: 'hold', reason, check: check(false, rate, policy, reason) };
}

export type DiffCheckOutcome = 'passed' | 'failed' | 'doubtful' | 'insufficient_data';

/** The canary-phase `diff` check. `minSamples`: comparisons needed before it says anything. */
export function diffCheck(
  summary: DiffSummary,
  policy: DiffPolicy,
  minSamples: number,
): { readonly outcome: DiffCheckOutcome; readonly check: VerdictCheck } {
  const { compared, mismatches } = counted(summary);
  const rate = compared > 0 ? mismatches / compared : 0;
  if (compared < minSamples) {
    const detail = `${compared} comparisons, need ${minSamples} to judge answers`;
    return { outcome: 'insufficient_data', check: check(true, compared > 0 ? rate : null, policy, detail) };
  }
  const lower = rateLowerBound(mismatches, compared, CONFIDENCE);
  const figures = `mismatch rate after noise ${pct(rate)} (${mismatches}/${compared})`;
  if (lower > policy.maxMismatchRate) {
    const detail = `${figures} exceeds ${pct(policy.maxMismatchRate)} (lower bound ${pct(lower)}); differing fields: ${namedFields(summary)}`;
    return { outcome: 'failed', check: check(false, rate, policy, detail) };
  }
  if (rate > policy.maxMismatchRate) {
    const detail = `${figures} is above ${pct(policy.maxMismatchRate)} but not significantly yet; fields: ${namedFields(summary)}`;
    return { outcome: 'doubtful', check: check(true, rate, policy, detail) };
  }
  return { outcome: 'passed', check: check(true, rate, policy, `${figures} within ${pct(policy.maxMismatchRate)}`) };
}

function check(passed: boolean, value: number | null, policy: DiffPolicy, detail: string): VerdictCheck {
  return { rule: 'diff', passed, value, threshold: policy.maxMismatchRate, detail };
}

/**
 * The judge's verdict with the diff check added: a failed check makes a healthy or doubtful verdict `unhealthy`
 * (a critical one stays critical), a doubtful one makes a healthy verdict hold. The reason names the fields.
 */
export function withDiffCheck(
  verdict: Verdict,
  diff: { readonly outcome: DiffCheckOutcome; readonly check: VerdictCheck },
): Verdict {
  const checks = [...verdict.checks, diff.check];
  if (diff.outcome === 'failed' && verdict.outcome !== 'critical') {
    const reason =
      verdict.outcome === 'unhealthy'
        ? `${verdict.reason}; answers differ: ${diff.check.detail}`
        : `answers differ: ${diff.check.detail}`;
    return { ...verdict, outcome: 'unhealthy', reason, checks };
  }
  if (diff.outcome === 'doubtful' && verdict.outcome === 'healthy') {
    return { ...verdict, outcome: 'insufficient_data', reason: `holding: ${diff.check.detail}`, checks };
  }
  return { ...verdict, checks };
}
