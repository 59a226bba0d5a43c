// The judge: compares the service with the monolith on the same route, second by second, and says whether the canary
// may advance (pass: `healthy`), must hold (inconclusive: `insufficient_data`) or must go back (fail: `unhealthy`,
// or `critical` for the hard guards).
//
// Why it looks like this (a rollback is sticky and costs a team a day: it must only happen on real evidence):
// - Paired in time. Evidence is read per one-second slot, the service beside the monolith of the same second in the
//   same edge. A stall (GC, CPU steal, a shared dependency) slows both sides of that second alike; the latency tests
//   compare each second's service requests with that second's monolith requests, so what hits both cancels.
// - Contaminated seconds are left out, as "no evidence", never as failure: a second in which the edge's own event
//   loop was stalled (its timings are the edge's), or in which both sides jumped together (both much slower than
//   their own baseline, or both erroring at once). A run of them makes the verdict hold.
// - Anytime-valid. Every rule is a confidence sequence or a test supermartingale (core/confidence-sequence), built
//   from the start of the step and looked at every second: the chance that a rule ever fires on a service that is
//   within the policy's margins is at most ALPHA per rule and step, however long the rollout. No fixed-level test is
//   re-run on overlapping windows.
// - Practical margins are policy: `maxErrorRateIncrease` (points of 5xx over the monolith), `maxLatencyIncrease`
//   (relative slowdown of the median and p90 against the same second's monolith), `maxErrorRate` and `maxP99Ms`
//   (absolute, and only when the service is also worse than the monolith: a shared outage is not the service's
//   fault), `maxP99Ratio` (service requests over ratio × the monolith's p99).
// - Hard guards stay, on the plain recent window: `criticalConsecutiveFailures` transport failures in a row, or a
//   service error rate HARD_ERROR_GAP beyond the monolith's (at HARD_ALPHA), roll back at once.
// - Pass needs evidence: at least `minSamples` clean requests on each side in this step, paired latency seconds,
//   and a quiet recent past; otherwise the verdict holds and says why.

import type { RolloutPolicy } from '../config/types.ts';
import { rateLowerBound, rateUpperBound } from './binomial-test.ts';
import { BettingTest, type RateBounds, rateBounds } from './confidence-sequence.ts';
import { LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT, quantileFromBuckets } from './latency-histogram.ts';
import type { OutcomeSlot } from './outcome-window.ts';
import type { RouteWindowStats, TargetWindowStats, Verdict, VerdictCheck, VerdictOutcome } from './types.ts';

/** False-alarm budget of each sequential rule over one step, however often it is looked at. */
export const ALPHA = 1e-4;
/**
 * The hard guard's confidence, per look (exact binomial bounds on the recent window). Looked at every second, but
 * the gap it needs is so far from any noise (10 points over the monolith's upper bound) that an A/A rollout never
 * gets near it: at a 0.5 % error rate, 8 errors in 30 requests has a chance of about 1e-12.
 */
export const HARD_ALPHA = 1e-4;
/** Service error rate beyond the monolith's (lower vs upper bound) that rolls back at once. */
export const HARD_ERROR_GAP = 0.1;
/** Below this, a p99 ratio says nothing (timer noise, a GC pause, connection setup). */
export const P99_RATIO_FLOOR_MS = 25;
/**
 * The latency margin is `maxLatencyIncrease` or this many milliseconds, whichever is larger: 5 ms against 6 ms is
 * timer noise and connection setup, not a regression worth a day of a team's time.
 */
export const LATENCY_MARGIN_FLOOR_MS = 5;
/** Monolith requests pooled before its p99 is trusted as the ratio rule's yardstick. */
const RATIO_MIN_LEGACY = 100;
/** A side "jumped" in a second when this share of its requests is slower than JUMP_FACTOR × its baseline p90… */
const JUMP_SHARE = 0.2;
const JUMP_FACTOR = 2;
/** …or when this share of them failed (with at least JUMP_MIN_ERRORS errors). */
const JUMP_ERROR_SHARE = 0.2;
const JUMP_MIN_ERRORS = 1;
/** Clean requests a side needs in its baseline before jumps are judged. */
const BASELINE_MIN = 50;
/**
 * Learnt seconds (with data) the verdict looks back at for "the edge or a shared dependency is disturbed right
 * now": any contaminated one among them, or among the live seconds not learnt yet, holds the step.
 */
const RECENT_SECONDS = 5;
/** Paired seconds the latency tests need before latency counts as evaluated. */
const MIN_PAIRED_SECONDS = 3;
/** Contaminated seconds listed in a verdict (the newest). */
const LISTED_CONTAMINATED = 10;

export type JudgeRule =
  | 'min_samples'
  | 'consecutive_failures'
  | 'error_burst'
  | 'error_rate'
  | 'error_rate_increase'
  | 'p99'
  | 'p99_ratio'
  | 'latency';

const CRITICAL_RULES: readonly JudgeRule[] = ['consecutive_failures', 'error_burst'];
const RULE_ORDER: readonly JudgeRule[] = [
  'consecutive_failures',
  'error_burst',
  'error_rate',
  'error_rate_increase',
  'p99',
  'p99_ratio',
  'latency',
];

export type ContaminationReason = 'edge_stall' | 'common_latency' | 'common_errors';

const CONTAMINATION_TEXT: Record<ContaminationReason, string> = {
  edge_stall: "the edge's own event loop stalled (its timings are its own)",
  common_latency: 'both sides slow together: a shared slowdown',
  common_errors: 'both sides failing together: a shared failure',
};

/** One side's clean evidence in the current step. */
export interface SideEvidence {
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p90Ms: number | null;
  readonly p99Ms: number | null;
  /** Requests slower than `maxP99Ms`. */
  readonly slowerThanMax: number;
  /** Requests slower than `maxP99Ratio` × the monolith's p99 (counted once that p99 is trusted). */
  readonly slowerThanRatio: number;
  /** Requests the ratio count was taken over. */
  readonly ratioTrials: number;
}

/** The numbers behind a verdict: what a person needs to see why it held or rolled back. */
export interface JudgeEvidence {
  /** First second (epoch seconds) of the evidence: the step's start. */
  readonly fromSecond: number;
  /** Last second judged. */
  readonly toSecond: number;
  readonly service: SideEvidence;
  readonly legacy: SideEvidence;
  readonly alpha: number;
  readonly errorRate: {
    readonly service: RateBounds;
    readonly legacy: RateBounds;
    /** maxErrorRateIncrease: the margin the increase is tested against. */
    readonly margin: number;
  };
  readonly latency: {
    /** maxLatencyIncrease (relative). */
    readonly margin: number;
    /** Seconds with both sides present and clean. */
    readonly pairedSeconds: number;
    /** The test statistics (wealth): each rejects at 1/alpha. */
    readonly medianEvidence: number;
    readonly p90Evidence: number;
    readonly rejectAt: number;
  };
  readonly contaminated: {
    readonly seconds: number;
    readonly cleanSeconds: number;
    readonly byReason: Readonly<Record<ContaminationReason, number>>;
    /** The newest contaminated seconds with why, newest last. */
    readonly recent: readonly { readonly second: number; readonly reason: ContaminationReason }[];
  };
}

interface MutableSide {
  requests: number;
  errors: number;
  slowerThanMax: number;
  slowerThanRatio: number;
  ratioTrials: number;
  latency: number[];
}

function emptySide(): MutableSide {
  return {
    requests: 0,
    errors: 0,
    slowerThanMax: 0,
    slowerThanRatio: 0,
    ratioTrials: 0,
    latency: new Array<number>(LATENCY_BUCKET_COUNT).fill(0),
  };
}

/** Lower edge (ms) of latency bucket i: every value in bucket i is above it. */
function lowerEdge(i: number): number {
  return i === 0 ? 0 : (LATENCY_BUCKET_BOUNDS_MS[i - 1] ?? Number.POSITIVE_INFINITY);
}

/** Upper edge (ms) of bucket i: every value in bucket i is at most it. */
function upperEdge(i: number): number {
  return LATENCY_BUCKET_BOUNDS_MS[i] ?? Number.POSITIVE_INFINITY;
}

function total(counts: readonly number[]): number {
  let n = 0;
  for (const c of counts) n += c ?? 0;
  return n;
}

/** Requests surely slower than `ms`: whole buckets whose lower edge is at or above it (a conservative count). */
function countAbove(counts: readonly number[], ms: number): number {
  let n = 0;
  for (let i = counts.length - 1; i > 0; i--) {
    if (lowerEdge(i) < ms) break;
    n += counts[i] ?? 0;
  }
  return n;
}

/** Upper edge of the bucket holding the k-th smallest value (1-based): the k-th order statistic, rounded up. */
function orderStatistic(counts: readonly number[], k: number): number {
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= k) return upperEdge(i);
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * The judge's memory of one route's current step. Pure: it only learns from the seconds it is given, and the clock
 * arrives as an argument. The controller keeps one per route, the simulation one per rollout, the replay one per run.
 */
export class SequentialJudge {
  readonly routeId: string;
  #fromSecond: number;
  #lastSecond: number;
  #service = emptySide();
  #legacy = emptySide();
  /** Clean latency of each side across steps: what a "jump" is measured against. */
  readonly #baseline = { service: emptySide(), legacy: emptySide() };
  #baselineP90 = { service: Number.POSITIVE_INFINITY, legacy: Number.POSITIVE_INFINITY };
  #median = new BettingTest();
  #p90 = new BettingTest();
  #pairedSeconds = 0;
  #cleanSeconds = 0;
  #contaminatedSeconds = 0;
  #byReason: Record<ContaminationReason, number> = { edge_stall: 0, common_latency: 0, common_errors: 0 };
  #recentContaminated: { second: number; reason: ContaminationReason }[] = [];
  /** Seconds with data, newest last, for "disturbed right now" (true = contaminated). */
  #recentFlags: boolean[] = [];
  /** The recent window for the hard guard: per second, [service n, service e, legacy n, legacy e]. */
  #ring: { second: number; sn: number; se: number; ln: number; le: number }[] = [];
  /** Transport failures in a row at the end of the seconds seen (when no live window is given). */
  #run = 0;

  constructor(routeId: string, fromSecond: number) {
    this.routeId = routeId;
    this.#fromSecond = fromSecond;
    this.#lastSecond = fromSecond - 1;
  }

  get fromSecond(): number {
    return this.#fromSecond;
  }

  /** The newest second already observed. */
  get lastSecond(): number {
    return this.#lastSecond;
  }

  /**
   * A new step (or a person's resume): the tests start over from `fromSecond`, each with its full ALPHA. The
   * baselines the jump detection uses are kept: they describe the two sides, not the step.
   */
  restart(fromSecond: number): void {
    this.#fromSecond = fromSecond;
    this.#lastSecond = Math.max(this.#lastSecond, fromSecond - 1);
    this.#service = emptySide();
    this.#legacy = emptySide();
    this.#median = new BettingTest();
    this.#p90 = new BettingTest();
    this.#pairedSeconds = 0;
    this.#cleanSeconds = 0;
    this.#contaminatedSeconds = 0;
    this.#byReason = { edge_stall: 0, common_latency: 0, common_errors: 0 };
    this.#recentContaminated = [];
    this.#recentFlags = [];
  }

  /**
   * Learns one whole second (call in increasing order; seconds at or before the last one seen are ignored, so
   * feeding an overlapping window again is harmless).
   */
  observe(second: number, service: OutcomeSlot | undefined, legacy: OutcomeSlot | undefined, policy: RolloutPolicy) {
    if (second <= this.#lastSecond) return;
    this.#lastSecond = second;
    const sn = service?.requests ?? 0;
    const ln = legacy?.requests ?? 0;
    if (sn === 0 && ln === 0) return;
    this.#pushRing(second, service, legacy, policy);
    if (service !== undefined && sn > 0) {
      const tail = service.transportFailures >= sn ? sn : (service.tailTransportFailures ?? 0);
      this.#run = tail === sn ? this.#run + tail : tail;
    }

    const reason = this.#contamination(service, legacy);
    this.#recentFlags.push(reason !== null);
    if (this.#recentFlags.length > RECENT_SECONDS) this.#recentFlags.shift();
    if (reason !== null) {
      this.#contaminatedSeconds++;
      this.#byReason[reason]++;
      this.#recentContaminated.push({ second, reason });
      if (this.#recentContaminated.length > LISTED_CONTAMINATED) this.#recentContaminated.shift();
      return;
    }
    this.#cleanSeconds++;

    // The ratio rule's yardstick is the monolith's p99 from the seconds before this one (fixed before this
    // second's service requests are counted, as the sequential test needs).
    const legacyP99 =
      this.#legacy.requests >= RATIO_MIN_LEGACY ? quantileFromBuckets(this.#legacy.latency, 0.99) : null;
    const ratioMs = legacyP99 === null ? null : Math.max(legacyP99 * policy.maxP99Ratio, P99_RATIO_FLOOR_MS);
    if (service !== undefined && sn > 0) this.#addSide(this.#service, this.#baseline.service, service, policy, ratioMs);
    if (legacy !== undefined && ln > 0) this.#addSide(this.#legacy, this.#baseline.legacy, legacy, policy, ratioMs);
    this.#baselineP90 = {
      service: this.#baselineQuantile(this.#baseline.service),
      legacy: this.#baselineQuantile(this.#baseline.legacy),
    };
    if (service !== undefined && legacy !== undefined) this.#pairLatency(service, legacy, policy);
  }

  #pushRing(second: number, service: OutcomeSlot | undefined, legacy: OutcomeSlot | undefined, policy: RolloutPolicy) {
    this.#ring.push({
      second,
      sn: service?.requests ?? 0,
      se: service?.errors ?? 0,
      ln: legacy?.requests ?? 0,
      le: legacy?.errors ?? 0,
    });
    const oldest = second - Math.ceil(policy.windowMs / 1000);
    while ((this.#ring[0]?.second ?? second) <= oldest) this.#ring.shift();
  }

  #baselineQuantile(side: MutableSide): number {
    return side.requests >= BASELINE_MIN
      ? (quantileFromBuckets(side.latency, 0.9) ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
  }

  #contamination(service: OutcomeSlot | undefined, legacy: OutcomeSlot | undefined): ContaminationReason | null {
    if ((service?.edgeDelayed ?? 0) + (legacy?.edgeDelayed ?? 0) > 0) return 'edge_stall';
    if (service === undefined || legacy === undefined || service.requests === 0 || legacy.requests === 0) return null;
    const errorJump = (slot: OutcomeSlot) =>
      slot.errors >= JUMP_MIN_ERRORS && slot.errors >= JUMP_ERROR_SHARE * slot.requests;
    if (errorJump(service) && errorJump(legacy)) return 'common_errors';
    const latencyJump = (slot: OutcomeSlot, baselineP90: number) => {
      if (!Number.isFinite(baselineP90)) return false;
      const slow = countAbove(slot.latency, baselineP90 * JUMP_FACTOR);
      return slow > 0 && slow >= JUMP_SHARE * total(slot.latency);
    };
    if (latencyJump(service, this.#baselineP90.service) && latencyJump(legacy, this.#baselineP90.legacy)) {
      return 'common_latency';
    }
    return null;
  }

  #addSide(side: MutableSide, baseline: MutableSide, slot: OutcomeSlot, policy: RolloutPolicy, ratioMs: number | null) {
    side.requests += slot.requests;
    side.errors += slot.errors;
    side.slowerThanMax += countAbove(slot.latency, policy.maxP99Ms);
    if (ratioMs !== null) {
      side.slowerThanRatio += countAbove(slot.latency, ratioMs);
      side.ratioTrials += total(slot.latency);
    }
    const n = Math.min(slot.latency.length, LATENCY_BUCKET_COUNT);
    for (let i = 0; i < n; i++) {
      const c = slot.latency[i] ?? 0;
      if (c === 0) continue;
      side.latency[i] = (side.latency[i] ?? 0) + c;
      baseline.latency[i] = (baseline.latency[i] ?? 0) + c;
    }
    baseline.requests += slot.requests;
  }

  /**
   * The paired latency tests. Within one second the two sides' requests are exchangeable when the service is no
   * slower, so a service request lands above the k-th smallest of the L monolith requests with probability at
   * most (L − k + 1) / (L + 1), whatever the latency distribution and whatever hit that second. The margin
   * multiplies the threshold, and counting only requests surely above it (whole buckets) keeps the test conservative.
   */
  #pairLatency(service: OutcomeSlot, legacy: OutcomeSlot, policy: RolloutPolicy) {
    const n = total(service.latency);
    const l = total(legacy.latency);
    if (n === 0 || l === 0) return;
    this.#pairedSeconds++;
    const factor = 1 + policy.maxLatencyIncrease;
    const limit = (ms: number) => Math.max(ms * factor, ms + LATENCY_MARGIN_FLOOR_MS);
    const median = Math.ceil((l + 1) / 2);
    const medianMs = limit(orderStatistic(legacy.latency, median));
    this.#median.observe(countAbove(service.latency, medianMs) / n, (l - median + 1) / (l + 1));
    if (l >= 9) {
      const p90 = Math.ceil(0.9 * (l + 1));
      const p90Ms = limit(orderStatistic(legacy.latency, p90));
      this.#p90.observe(countAbove(service.latency, p90Ms) / n, (l - p90 + 1) / (l + 1));
    }
  }

  /** The numbers behind the verdict. */
  evidence(policy: RolloutPolicy): JudgeEvidence {
    const side = (s: MutableSide): SideEvidence => ({
      requests: s.requests,
      errors: s.errors,
      p50Ms: quantileFromBuckets(s.latency, 0.5),
      p90Ms: quantileFromBuckets(s.latency, 0.9),
      p99Ms: quantileFromBuckets(s.latency, 0.99),
      slowerThanMax: s.slowerThanMax,
      slowerThanRatio: s.slowerThanRatio,
      ratioTrials: s.ratioTrials,
    });
    return {
      fromSecond: this.#fromSecond,
      toSecond: this.#lastSecond,
      service: side(this.#service),
      legacy: side(this.#legacy),
      alpha: ALPHA,
      errorRate: {
        service: rateBounds(this.#service.errors, this.#service.requests, ALPHA / 2),
        legacy: rateBounds(this.#legacy.errors, this.#legacy.requests, ALPHA / 2),
        margin: policy.maxErrorRateIncrease,
      },
      latency: {
        margin: policy.maxLatencyIncrease,
        pairedSeconds: this.#pairedSeconds,
        medianEvidence: this.#median.evidence(),
        p90Evidence: this.#p90.evidence(),
        rejectAt: 1 / ALPHA,
      },
      contaminated: {
        seconds: this.#contaminatedSeconds,
        cleanSeconds: this.#cleanSeconds,
        byReason: { ...this.#byReason },
        recent: [...this.#recentContaminated],
      },
    };
  }

  /**
   * The verdict now. `live` is the plain recent window (the controller's, including the current partial second):
   * the hard guards read it so a dead service is caught within the second; without it they read the seconds seen.
   */
  verdict(policy: RolloutPolicy, now: number, live?: RouteWindowStats): Verdict {
    const ev = this.evidence(policy);
    const checks: VerdictCheck[] = [];
    const svc = ev.service;
    const mono = ev.legacy;
    const enough = svc.requests >= policy.minSamples && mono.requests >= policy.minSamples;
    const stepText = `since ${new Date(ev.fromSecond * 1000).toISOString()}`;
    checks.push({
      rule: 'min_samples',
      passed: enough,
      value: Math.min(svc.requests, mono.requests),
      threshold: policy.minSamples,
      detail: `clean requests ${stepText}: service ${svc.requests}, monolith ${mono.requests} (need ${policy.minSamples} each; ${ev.contaminated.seconds} contaminated seconds left out)`,
    });

    // Hard guards.
    const run = live?.service.consecutiveTransportFailures ?? this.#run;
    checks.push({
      rule: 'consecutive_failures',
      passed: run < policy.criticalConsecutiveFailures,
      value: run,
      threshold: policy.criticalConsecutiveFailures,
      detail: `service failed ${run} times in a row without a response (limit ${policy.criticalConsecutiveFailures})`,
    });
    const recent = live ? { service: live.service, legacy: live.legacy } : this.#ringTotals();
    const burstLow = rateLowerBound(recent.service.errors, recent.service.requests, 1 - HARD_ALPHA);
    const burstHigh = rateUpperBound(recent.legacy.errors, recent.legacy.requests, 1 - HARD_ALPHA);
    const burst = recent.legacy.requests > 0 ? burstLow - burstHigh : burstLow;
    const windowS = `${Math.round(policy.windowMs / 1000)} s`;
    checks.push({
      rule: 'error_burst',
      passed: !(burst > HARD_ERROR_GAP),
      value: rateOf(recent.service),
      threshold: HARD_ERROR_GAP,
      detail: `last ${windowS}: service errors ${frac(recent.service)} vs monolith ${frac(recent.legacy)}; the service is at least ${pct(Math.max(0, burst))} worse (rolls back at once beyond ${pct(HARD_ERROR_GAP)})`,
    });

    // Sequential rules.
    const sb = ev.errorRate.service;
    const lb = ev.errorRate.legacy;
    const serviceErr = `service errors ${svc.errors}/${svc.requests} (${pct(rate(svc.errors, svc.requests))}, bounds ${pct(sb.lower)}–${pct(sb.upper)})`;
    const legacyErr = `monolith ${mono.errors}/${mono.requests} (${pct(rate(mono.errors, mono.requests))}, bounds ${pct(lb.lower)}–${pct(lb.upper)})`;
    const worse = sb.lower > lb.upper;
    const overMax = sb.lower > policy.maxErrorRate;
    checks.push({
      rule: 'error_rate',
      passed: !(overMax && worse),
      value: rate(svc.errors, svc.requests),
      threshold: policy.maxErrorRate,
      detail: overMax
        ? worse
          ? `${serviceErr} exceeds ${pct(policy.maxErrorRate)} and the ${legacyErr}`
          : `${serviceErr} is over ${pct(policy.maxErrorRate)}, but so is the ${legacyErr}: shared, not the service's`
        : `${serviceErr} not shown above ${pct(policy.maxErrorRate)}`,
    });
    const increase = sb.lower - lb.upper;
    checks.push({
      rule: 'error_rate_increase',
      passed: !(increase > policy.maxErrorRateIncrease),
      value: rate(svc.errors, svc.requests) - rate(mono.errors, mono.requests),
      threshold: policy.maxErrorRateIncrease,
      detail: `${serviceErr} vs ${legacyErr}: the increase is at least ${pct(Math.max(0, increase))} (margin ${pct(policy.maxErrorRateIncrease)})`,
    });

    const slow = rateBounds(svc.slowerThanMax, svc.requests, ALPHA / 2);
    const slowMono = rateBounds(mono.slowerThanMax, mono.requests, ALPHA / 2);
    const p99Fails = slow.lower > 0.01 && slow.lower > slowMono.upper;
    checks.push({
      rule: 'p99',
      passed: !p99Fails,
      value: svc.p99Ms,
      threshold: policy.maxP99Ms,
      detail: `service p99 ${ms(svc.p99Ms)}: ${svc.slowerThanMax}/${svc.requests} slower than ${ms(policy.maxP99Ms)} (at least ${pct(slow.lower)}; monolith at most ${pct(slowMono.upper)}; fails above 1% and the monolith)`,
    });

    // Against the monolith's own share over the same yardstick too: a stall the jump detection missed (before the
    // baselines exist, in the first seconds) slows the monolith's requests of that second as much.
    const ratio = rateBounds(svc.slowerThanRatio, svc.ratioTrials, ALPHA / 2);
    const ratioMono = rateBounds(mono.slowerThanRatio, mono.ratioTrials, ALPHA / 2);
    const ratioFails = svc.ratioTrials > 0 && ratio.lower > 0.01 && ratio.lower > ratioMono.upper;
    const ratioValue = svc.p99Ms !== null && mono.p99Ms !== null && mono.p99Ms > 0 ? svc.p99Ms / mono.p99Ms : null;
    checks.push({
      rule: 'p99_ratio',
      passed: !ratioFails,
      value: ratioValue,
      threshold: policy.maxP99Ratio,
      detail:
        svc.ratioTrials === 0
          ? `not evaluated yet: the monolith's p99 needs ${RATIO_MIN_LEGACY} clean requests`
          : `service p99 ${ms(svc.p99Ms)} vs monolith ${ms(mono.p99Ms)}: ${svc.slowerThanRatio}/${svc.ratioTrials} service requests slower than ${policy.maxP99Ratio}× the monolith's p99 (at least ${pct(ratio.lower)}; monolith at most ${pct(ratioMono.upper)}; fails above 1% and the monolith)`,
    });

    const lat = ev.latency;
    const latencyFails = lat.medianEvidence >= lat.rejectAt || lat.p90Evidence >= lat.rejectAt;
    checks.push({
      rule: 'latency',
      passed: !latencyFails,
      value: Math.max(lat.medianEvidence, lat.p90Evidence),
      threshold: lat.rejectAt,
      detail: `service p50/p90 ${ms(svc.p50Ms)}/${ms(svc.p90Ms)} vs monolith ${ms(mono.p50Ms)}/${ms(mono.p90Ms)} over ${lat.pairedSeconds} paired seconds: evidence of a slowdown beyond +${Math.round(lat.margin * 100)}% (at least ${LATENCY_MARGIN_FLOOR_MS} ms) is ${fmt(lat.medianEvidence)} (median) and ${fmt(lat.p90Evidence)} (p90), rollback at ${fmt(lat.rejectAt)}`,
    });

    const failing = RULE_ORDER.map((rule) => checks.find((c) => c.rule === rule && !c.passed)).filter(
      (c): c is VerdictCheck => c !== undefined,
    );
    const disturbed = this.#recentFlags.filter(Boolean).length;
    const disturbedNow = live ? this.#liveContamination(live) : null;
    let outcome: VerdictOutcome;
    let reason: string;
    const first = failing[0];
    if (first !== undefined) {
      outcome = CRITICAL_RULES.includes(first.rule as JudgeRule) ? 'critical' : 'unhealthy';
      const also = failing.slice(1).map((c) => c.rule);
      reason = first.detail + (also.length > 0 ? ` (also failing: ${also.join(', ')})` : '');
    } else if (!enough) {
      outcome = 'insufficient_data';
      reason = `too few clean requests to judge ${stepText}: service ${svc.requests}, monolith ${mono.requests} (need ${policy.minSamples} each)`;
    } else if (lat.pairedSeconds < MIN_PAIRED_SECONDS) {
      outcome = 'insufficient_data';
      reason = `cannot judge latency yet: ${lat.pairedSeconds} seconds with both sides (need ${MIN_PAIRED_SECONDS})`;
    } else if (disturbed > 0 || disturbedNow !== null) {
      outcome = 'insufficient_data';
      const last = disturbedNow ?? ev.contaminated.recent[ev.contaminated.recent.length - 1]?.reason ?? 'edge_stall';
      const count =
        disturbedNow !== null
          ? 'the newest seconds are'
          : `${disturbed} of the last ${this.#recentFlags.length} seconds are`;
      reason = `${count} contaminated (${last}): ${CONTAMINATION_TEXT[last]}, holding until it is quiet again`;
    } else {
      outcome = 'healthy';
      reason = `healthy: ${serviceErr} vs ${legacyErr}; p50/p90 ${ms(svc.p50Ms)}/${ms(svc.p90Ms)} vs ${ms(mono.p50Ms)}/${ms(mono.p90Ms)}`;
    }
    const figures: RouteWindowStats = live
      ? withoutHistograms(live)
      : {
          routeId: this.routeId,
          windowMs: policy.windowMs,
          service: { ...recent.service, p99Ms: null, consecutiveTransportFailures: this.#run },
          legacy: { ...recent.legacy, p99Ms: null, consecutiveTransportFailures: 0 },
        };
    return { routeId: this.routeId, outcome, reason, checks, figures, evidence: ev, at: now };
  }

  /** Contamination in the live window's seconds not learnt yet (the newest, still settling). */
  #liveContamination(live: RouteWindowStats): ContaminationReason | null {
    const legacyBySecond = new Map<number, OutcomeSlot>();
    for (const slot of live.legacy.seconds ?? [])
      if (slot.second > this.#lastSecond) legacyBySecond.set(slot.second, slot);
    for (const slot of live.service.seconds ?? []) {
      if (slot.second <= this.#lastSecond) continue;
      const reason = this.#contamination(slot, legacyBySecond.get(slot.second));
      if (reason !== null) return reason;
    }
    for (const slot of legacyBySecond.values()) if ((slot.edgeDelayed ?? 0) > 0) return 'edge_stall';
    return null;
  }

  #ringTotals(): { service: { requests: number; errors: number }; legacy: { requests: number; errors: number } } {
    let sn = 0;
    let se = 0;
    let ln = 0;
    let le = 0;
    for (const r of this.#ring) {
      sn += r.sn;
      se += r.se;
      ln += r.ln;
      le += r.le;
    }
    return { service: { requests: sn, errors: se }, legacy: { requests: ln, errors: le } };
  }
}

/** The verdict's figures go to the audit trail; histograms and per-second slots would only bloat it. */
export function withoutHistograms(stats: RouteWindowStats): RouteWindowStats {
  const strip = ({ latencyCounts: _l, seconds: _s, ...rest }: TargetWindowStats): TargetWindowStats => rest;
  return {
    routeId: stats.routeId,
    windowMs: stats.windowMs,
    legacy: strip(stats.legacy),
    service: strip(stats.service),
  };
}

/**
 * The `rule` label of the verdicts metric: the first failing rule; for a hold, `min_samples` or `inconclusive`
 * (contaminated seconds, latency not evaluable yet); `none` when healthy.
 */
export function failingRule(verdict: Verdict): string {
  for (const rule of RULE_ORDER) {
    if (verdict.checks.some((c) => c.rule === rule && !c.passed)) return rule;
  }
  if (verdict.outcome !== 'insufficient_data') return 'none';
  return verdict.checks.some((c) => c.rule === 'min_samples' && !c.passed) ? 'min_samples' : 'inconclusive';
}

function rate(events: number, trials: number): number {
  return trials > 0 ? events / trials : 0;
}

function rateOf(t: { requests: number; errors: number }): number {
  return rate(t.errors, t.requests);
}

function frac(t: { requests: number; errors: number }): string {
  return `${t.errors}/${t.requests}`;
}

function pct(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}

function ms(value: number | null): string {
  return value === null ? 'n/a' : `${Math.round(value)} ms`;
}

function fmt(value: number): string {
  return value >= 1000 ? value.toExponential(1) : value.toFixed(2);
}
