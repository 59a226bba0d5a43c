// The judge: compares the service with the monolith on the same route in the same window (a concurrent baseline,
// as Kayenta argues: both sides see the same traffic mix, time of day and shared dependencies) and says whether
// the canary may advance, must hold, or must go back.
//
// Decisions, and why:
// - Confidence. Every rule that looks at a rate is a one-sided exact binomial test at CONFIDENCE = 99 %. A
//   rollback is sticky until a person resumes, and the judge re-tests an overlapping window every second, so a
//   false alarm costs far more than a few seconds of extra evidence. 1 error in 3 requests is never enough
//   (its 99 % lower bound is 0.3 %); 30 errors in 300 against a monolith at 5 in 1000 is (lower bound 6.4 % vs the
//   monolith's upper bound 1.3 %).
// - Minimum sample. Below `minSamples` service requests nothing is evaluated but the critical rule; below
//   `minSamples` monolith requests the relative rules are not evaluated. A rule that could not be evaluated makes
//   the verdict `insufficient_data` (hold), never healthy: advancing needs every rule to have passed.
// - Shared outages. The absolute rules (error rate, p99) fire only when the service is also measurably worse than
//   the monolith in the same window, or when the monolith has too few requests to compare with. If both are bad
//   alike (a shared database is down), moving users back to the monolith would not help them, and rolling back a
//   healthy extraction would throw away its progress; the operator's alerting on the monolith covers that case.
//   Such a window is no evidence for the service either, so the verdict holds (`insufficient_data`): no advance.
// - Latency. "p99 > X" is tested as "significantly more than 1 % of the requests were slower than X", counted from
//   the window's histogram, so a single slow request among 50 (whose p99 is that request) does not roll back.
//   The ratio rule compares the service with `maxP99Ratio` × the monolith's p99, but never with less than
//   P99_RATIO_FLOOR_MS: 1 ms against 2 ms is noise, not a regression.
// - Critical. `criticalConsecutiveFailures` transport failures in a row roll back at once, whatever the sample.

import type { RolloutPolicy } from '../config/types.ts';
import { binomialUpperTail, rateLowerBound, rateUpperBound } from './binomial-test.ts';
import { LATENCY_BUCKET_BOUNDS_MS } from './latency-histogram.ts';
import type { RouteWindowStats, TargetWindowStats, Verdict, VerdictCheck, VerdictOutcome } from './types.ts';

export const CONFIDENCE = 0.99;
/** Below this, a p99 ratio says nothing (timer noise, a GC pause, connection setup). */
export const P99_RATIO_FLOOR_MS = 25;
/** The share of requests a p99 allows to be slower. */
const P99_TAIL_SHARE = 0.01;

export type JudgeRule =
  | 'min_samples'
  | 'consecutive_failures'
  | 'error_rate'
  | 'error_rate_increase'
  | 'p99'
  | 'p99_ratio';

const RULE_ORDER: readonly JudgeRule[] = [
  'consecutive_failures',
  'error_rate',
  'error_rate_increase',
  'p99',
  'p99_ratio',
];

function pct(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

function ms(value: number | null): string {
  return value === null ? 'n/a' : `${Math.round(value)} ms`;
}

function rate(t: TargetWindowStats): number {
  return t.requests > 0 ? t.errors / t.requests : 0;
}

/** Requests of `t` slower than `thresholdMs`, counted from whole buckets above it (a conservative count). */
function slowerThan(t: TargetWindowStats, thresholdMs: number): { slow: number; total: number } | null {
  const counts = t.latencyCounts;
  if (counts === undefined) return null;
  let slow = 0;
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    total += c;
    // Bucket i holds (bounds[i-1], bounds[i]]: every value in it is above the threshold when its lower edge is.
    const lower = i === 0 ? 0 : (LATENCY_BUCKET_BOUNDS_MS[i - 1] ?? Number.POSITIVE_INFINITY);
    if (i > 0 && lower >= thresholdMs) slow += c;
  }
  return { slow, total };
}

/**
 * True when `t` is significantly slower than `thresholdMs` at its p99: more than 1 % of its requests above the
 * threshold, beyond chance at CONFIDENCE. Without a histogram, falls back to the p99 figure itself.
 */
function significantlySlower(t: TargetWindowStats, thresholdMs: number): { yes: boolean; slow: number | null } {
  const counted = slowerThan(t, thresholdMs);
  if (counted === null) return { yes: t.p99Ms !== null && t.p99Ms > thresholdMs, slow: null };
  const pValue = binomialUpperTail(counted.slow, counted.total, P99_TAIL_SHARE);
  return { yes: pValue < 1 - CONFIDENCE, slow: counted.slow };
}

function slowDetail(slow: number | null, total: number): string {
  return slow === null ? '' : ` (${slow}/${total} requests slower)`;
}

export function judge(stats: RouteWindowStats, policy: RolloutPolicy, now: number): Verdict {
  const { service, legacy } = stats;
  const windowS = `${Math.round(stats.windowMs / 1000)} s`;
  const serviceEnough = service.requests >= policy.minSamples;
  const legacyEnough = legacy.requests >= policy.minSamples;
  const checks: VerdictCheck[] = [];

  checks.push({
    rule: 'min_samples',
    passed: serviceEnough && legacyEnough,
    value: Math.min(service.requests, legacy.requests),
    threshold: policy.minSamples,
    detail: `service ${service.requests} and monolith ${legacy.requests} requests in the ${windowS} window (need ${policy.minSamples} each)`,
  });

  const run = service.consecutiveTransportFailures;
  checks.push({
    rule: 'consecutive_failures',
    passed: run < policy.criticalConsecutiveFailures,
    value: run,
    threshold: policy.criticalConsecutiveFailures,
    detail: `service failed ${run} times in a row without a response (limit ${policy.criticalConsecutiveFailures})`,
  });

  const serviceRate = rate(service);
  const legacyRate = rate(legacy);
  const serviceLow = rateLowerBound(service.errors, service.requests, CONFIDENCE);
  const legacyHigh = rateUpperBound(legacy.errors, legacy.requests, CONFIDENCE);
  const conf = `${Math.round(CONFIDENCE * 100)}%`;
  const serviceErr = `service error rate ${pct(serviceRate)} (${service.errors}/${service.requests})`;
  const legacyErr = `monolith ${pct(legacyRate)} (${legacy.errors}/${legacy.requests})`;
  let inconclusive = !serviceEnough || !legacyEnough;
  /** Absolute rules excused because the monolith is as bad: no rollback, and no advance either. */
  const shared: string[] = [];
  const skipped = (rule: JudgeRule, threshold: number, why: string): VerdictCheck => {
    inconclusive = true;
    return { rule, passed: true, value: null, threshold, detail: `not evaluated: ${why}` };
  };
  const tooFewService = `too few service requests (${service.requests} < ${policy.minSamples})`;
  const tooFewLegacy = `too few monolith requests (${legacy.requests} < ${policy.minSamples})`;
  const tooFewEither = serviceEnough ? tooFewLegacy : tooFewService;

  // error_rate: absolute, gated on "worse than the monolith" (see the header).
  if (!serviceEnough) {
    checks.push(skipped('error_rate', policy.maxErrorRate, tooFewService));
  } else {
    const overLimit = serviceLow > policy.maxErrorRate;
    const worseThanMonolith = !legacyEnough || serviceLow > legacyHigh;
    const failed = overLimit && worseThanMonolith;
    const limitText = `${pct(policy.maxErrorRate)} (${conf} lower bound ${pct(serviceLow)})`;
    let detail: string;
    if (failed) detail = `${serviceErr} exceeds ${limitText}`;
    else if (overLimit) {
      detail = `${serviceErr} is over ${limitText}, but so is the ${legacyErr}: a shared failure, holding`;
      shared.push(detail);
    } else detail = `${serviceErr} within ${limitText}`;
    checks.push({ rule: 'error_rate', passed: !failed, value: serviceRate, threshold: policy.maxErrorRate, detail });
  }

  // error_rate_increase: the service's lower bound minus the monolith's upper bound, against the allowed increase.
  if (!serviceEnough || !legacyEnough) {
    checks.push(skipped('error_rate_increase', policy.maxErrorRateIncrease, tooFewEither));
  } else {
    const increase = serviceLow - legacyHigh;
    const failed = increase > policy.maxErrorRateIncrease;
    const detail = `${serviceErr} ${failed ? 'exceeds' : 'is within'} the ${legacyErr} + ${pct(policy.maxErrorRateIncrease)} (at ${conf} confidence the increase is at least ${pct(Math.max(0, increase))})`;
    checks.push({
      rule: 'error_rate_increase',
      passed: !failed,
      value: serviceRate - legacyRate,
      threshold: policy.maxErrorRateIncrease,
      detail,
    });
  }

  // p99: absolute, gated like error_rate.
  if (!serviceEnough) {
    checks.push(skipped('p99', policy.maxP99Ms, tooFewService));
  } else {
    const over = significantlySlower(service, policy.maxP99Ms);
    const worseThanMonolith = !legacyEnough || legacy.p99Ms === null || significantlySlower(service, legacy.p99Ms).yes;
    const failed = over.yes && worseThanMonolith;
    const base = `service p99 ${ms(service.p99Ms)}${slowDetail(over.slow, service.requests)}`;
    let detail: string;
    if (failed) detail = `${base} exceeds ${ms(policy.maxP99Ms)}`;
    else if (over.yes) {
      detail = `${base} is over ${ms(policy.maxP99Ms)}, but the monolith's p99 is ${ms(legacy.p99Ms)} too: a shared slowdown, holding`;
      shared.push(detail);
    } else detail = `${base} within ${ms(policy.maxP99Ms)}`;
    checks.push({ rule: 'p99', passed: !failed, value: service.p99Ms, threshold: policy.maxP99Ms, detail });
  }

  // p99_ratio: service against maxP99Ratio × the monolith's p99, floored.
  if (!serviceEnough || !legacyEnough || legacy.p99Ms === null) {
    const why = !serviceEnough || !legacyEnough ? tooFewEither : 'no monolith latency';
    checks.push(skipped('p99_ratio', policy.maxP99Ratio, why));
  } else {
    const limitMs = Math.max(legacy.p99Ms * policy.maxP99Ratio, P99_RATIO_FLOOR_MS);
    const over = significantlySlower(service, limitMs);
    const ratio = service.p99Ms === null || legacy.p99Ms <= 0 ? null : service.p99Ms / legacy.p99Ms;
    const ratioText = ratio === null ? '' : ` (${ratio.toFixed(1)}×)`;
    const detail = `service p99 ${ms(service.p99Ms)} vs monolith ${ms(legacy.p99Ms)}${ratioText}${slowDetail(over.slow, service.requests)} ${over.yes ? 'exceeds' : 'within'} the ${policy.maxP99Ratio}× limit (${ms(limitMs)})`;
    checks.push({ rule: 'p99_ratio', passed: !over.yes, value: ratio, threshold: policy.maxP99Ratio, detail });
  }

  const failing = RULE_ORDER.map((rule) => checks.find((c) => c.rule === rule && !c.passed)).filter(
    (c): c is VerdictCheck => c !== undefined,
  );
  let outcome: VerdictOutcome;
  let reason: string;
  const first = failing[0];
  if (first !== undefined) {
    outcome = first.rule === 'consecutive_failures' ? 'critical' : 'unhealthy';
    const also = failing.slice(1).map((c) => c.rule);
    reason = first.detail + (also.length > 0 ? ` (also failing: ${also.join(', ')})` : '');
  } else if (shared.length > 0) {
    outcome = 'insufficient_data';
    reason = shared.join('; ');
  } else if (inconclusive) {
    outcome = 'insufficient_data';
    const skippedRules = checks.filter((c) => c.value === null).map((c) => `${c.rule} (${c.detail})`);
    reason =
      !serviceEnough || !legacyEnough
        ? `too few requests to judge: service ${service.requests}, monolith ${legacy.requests} in the ${windowS} window (need ${policy.minSamples} each)`
        : `cannot judge yet: ${skippedRules.join('; ')}`;
  } else {
    outcome = 'healthy';
    reason = `healthy: ${serviceErr} vs ${legacyErr}, p99 ${ms(service.p99Ms)} vs ${ms(legacy.p99Ms)}`;
  }

  return { routeId: stats.routeId, outcome, reason, checks, figures: withoutHistograms(stats), at: now };
}

/** The verdict's figures go to the audit trail; the histograms (130-odd numbers per side) would only bloat it. */
function withoutHistograms(stats: RouteWindowStats): RouteWindowStats {
  const strip = ({ latencyCounts: _ignored, ...rest }: TargetWindowStats): TargetWindowStats => rest;
  return {
    routeId: stats.routeId,
    windowMs: stats.windowMs,
    legacy: strip(stats.legacy),
    service: strip(stats.service),
  };
}

/**
 * The `rule` label of the verdicts metric: the first failing rule; for a hold, `min_samples` or `inconclusive`
 * (shared failure, a rule without data); `none` when healthy.
 */
export function failingRule(verdict: Verdict): string {
  for (const rule of RULE_ORDER) {
    if (verdict.checks.some((c) => c.rule === rule && !c.passed)) return rule;
  }
  if (verdict.outcome !== 'insufficient_data') return 'none';
  // Holding with enough requests: a shared failure or a rule without data (e.g. no monolith latency).
  return verdict.checks.some((c) => c.rule === 'min_samples' && !c.passed) ? 'min_samples' : 'inconclusive';
}
