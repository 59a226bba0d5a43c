// Whole rollouts, second by second, through the real outcome window, the real sequential judge and the real rollout
// state machine: the evidence that the judge neither cries wolf nor sleeps through a regression.
//
// Traffic is drawn per second (a Poisson number of requests, each sent to the service with the rollout's weight,
// failing with its side's error rate, its latency drawn from a lognormal), aggregated into the one-second slots the
// edge records, and handed to the window with `recordSlot`. Latencies are drawn as histogram buckets straight from
// the distribution's CDF over the window's bucket bounds, so a million rollout-seconds stay cheap. Randomness comes
// from a seeded generator: a run is reproducible from its seed.

import { DEFAULT_ROLLOUT } from '../../src/config/routes-schema.ts';
import type { RolloutPolicy, RouteConfig } from '../../src/config/types.ts';
import { LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT, latencyBucket } from '../../src/core/latency-histogram.ts';
import { createOutcomeWindow, emptySlot, type MutableSlot } from '../../src/core/outcome-window.ts';
import { transition } from '../../src/core/rollout-machine.ts';
import { failingRule, SequentialJudge } from '../../src/core/sequential-judge.ts';
import type { RouteRolloutState, Target, Verdict } from '../../src/core/types.ts';
import { seededRandom } from './seeded-random.ts';

export interface SideModel {
  /** Share of requests answered 5xx. */
  readonly errorRate: number;
  /** Lognormal latency: median (ms) and σ of its logarithm. */
  readonly medianMs: number;
  readonly sigma: number;
  /** Added to every request (a latency regression). */
  readonly shiftMs: number;
}

export interface Scenario {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly legacy: SideModel;
  readonly service: SideModel;
  /** Common-mode stalls hitting both sides: mean per minute, and the longest (uniform 0..max). */
  readonly stallsPerMinute: number;
  readonly maxStallMs: number;
  /** How long to hold at the last step before calling the rollout done. */
  readonly holdMs: number;
}

export interface RolloutResult {
  readonly rolledBack: boolean;
  /** Seconds from the start to the rollback (or to the end). */
  readonly seconds: number;
  /** Service requests served before the rollback (or in all). */
  readonly serviceRequests: number;
  readonly finalWeight: number;
  readonly reachedHolding: boolean;
  /** Advances taken with fewer than `minRequests` service requests on the step (must be 0). */
  readonly advancesWithoutEvidence: number;
  /** The verdict that rolled back, when one did: its first failing rule and its reason. */
  readonly rollbackRule: string | null;
  readonly rollbackReason: string | null;
}

export const BASE_SIDE: SideModel = { errorRate: 0.005, medianMs: 50, sigma: 0.6, shiftMs: 0 };

export function scenario(name: string, overrides: Partial<Omit<Scenario, 'name'>> = {}): Scenario {
  return {
    name,
    requestsPerSecond: 100,
    legacy: BASE_SIDE,
    service: BASE_SIDE,
    stallsPerMinute: 0,
    maxStallMs: 0,
    holdMs: 10 * 60_000,
    ...overrides,
  };
}

/** Seeded (mulberry32): a run is reproducible from its seed. */
export const createRandom = seededRandom;

function normal(random: () => number): number {
  const u = random() || Number.MIN_VALUE;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Knuth's product method: exact, and cheap for the means simulated here (≤ a few hundred). */
function poisson(random: () => number, mean: number): number {
  if (mean > 500) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(random)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf): ample for bucket probabilities. */
function phi(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

/** Cumulative probability of each latency bucket for a side: a draw is a binary search on a uniform. */
function bucketCdf(side: SideModel): Float64Array {
  const cdf = new Float64Array(LATENCY_BUCKET_COUNT);
  const mu = Math.log(side.medianMs);
  for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) {
    const bound = LATENCY_BUCKET_BOUNDS_MS[i];
    if (bound === undefined) {
      cdf[i] = 1;
      continue;
    }
    const x = bound - side.shiftMs;
    cdf[i] = x <= 0 ? 0 : phi((Math.log(x) - mu) / side.sigma);
  }
  return cdf;
}

function drawBucket(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cdf[mid] ?? 1) >= u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const ROUTE_ID = 'sim';

export function simulationRoute(policy: RolloutPolicy = DEFAULT_ROLLOUT): RouteConfig {
  return {
    id: ROUTE_ID,
    path: '/sim/*',
    methods: null,
    service: 'service',
    flag: null,
    mode: 'canary',
    adapter: null,
    rollout: policy,
    line: 1,
  };
}

/** One rollout from its first step until it is rolled back or has held at the last step for `holdMs`. */
export function simulateRollout(s: Scenario, seed: number, route: RouteConfig = simulationRoute()): RolloutResult {
  const random = createRandom(seed);
  const policy = route.rollout;
  const cdf: Record<Target, Float64Array> = { legacy: bucketCdf(s.legacy), service: bucketCdf(s.service) };
  const model: Record<Target, SideModel> = { legacy: s.legacy, service: s.service };
  const window = createOutcomeWindow({ retainMs: policy.windowMs });
  const start = 1_700_000_000;
  let state: RouteRolloutState | undefined;
  const begin = transition(undefined, { type: 'config' }, route, start * 1000);
  if (!begin.ok) throw new Error(begin.message);
  state = begin.state;
  const judge = new SequentialJudge(ROUTE_ID, start);
  let judgedSince = state.since;
  let serviceRequests = 0;
  let advancesWithoutEvidence = 0;
  let reachedHolding = false;
  let holdingSince: number | null = null;
  const stallChance = s.stallsPerMinute / 60;
  const limitSeconds = Math.ceil((policy.steps.length * Math.max(policy.stepIntervalMs, 60_000) * 6 + s.holdMs) / 1000);

  for (let t = 0; t < limitSeconds; t++) {
    const second = start + t;
    const weight = state.weight / 100;
    // A stall this second: requests arriving while it lasts wait for its end, on both sides alike.
    let stallStart = -1;
    let stallMs = 0;
    if (stallChance > 0 && random() < stallChance) {
      stallStart = random() * 1000;
      stallMs = random() * s.maxStallMs;
    }
    const slots: Record<Target, MutableSlot> = { legacy: emptySlot(second), service: emptySlot(second) };
    const n = poisson(random, s.requestsPerSecond);
    for (let i = 0; i < n; i++) {
      const target: Target = random() < weight ? 'service' : 'legacy';
      const slot = slots[target];
      slot.requests++;
      if (random() < model[target].errorRate) slot.errors++;
      const arrival = random() * 1000;
      let bucket: number;
      if (stallMs > 0 && arrival >= stallStart && arrival < stallStart + stallMs) {
        const side = model[target];
        const base = Math.exp(Math.log(side.medianMs) + side.sigma * normal(random)) + side.shiftMs;
        bucket = latencyBucket(base + (stallStart + stallMs - arrival));
      } else {
        bucket = drawBucket(cdf[target], random());
      }
      slot.latency[bucket] = (slot.latency[bucket] ?? 0) + 1;
    }
    serviceRequests += slots.service.requests;
    for (const target of ['legacy', 'service'] as const) {
      if (slots[target].requests > 0) window.recordSlot(ROUTE_ID, target, slots[target]);
    }

    // The controller's tick at the end of the second: count the step's requests, judge, transition.
    const now = (second + 1) * 1000;
    const seen = window.slotsAt(ROUTE_ID, second);
    judge.observe(second, seen.service, seen.legacy, policy);
    const verdict: Verdict = judge.verdict(policy, now);
    const before: RouteRolloutState = state;
    for (const event of [
      { type: 'tick_requests' as const, count: slots.service.requests },
      { type: 'verdict' as const, verdict },
    ]) {
      const result = transition(state, event, route, now);
      if (!result.ok) throw new Error(result.message);
      state = result.state;
    }
    if (state.phase === 'rolled_back') {
      return {
        rolledBack: true,
        seconds: t + 1,
        serviceRequests,
        finalWeight: before.weight,
        reachedHolding,
        advancesWithoutEvidence,
        rollbackRule: failingRule(verdict),
        rollbackReason: verdict.reason,
      };
    }
    if (state.stepIndex !== before.stepIndex) {
      if (before.stepRequests + slots.service.requests < policy.minRequests) advancesWithoutEvidence++;
    }
    if (state.since !== judgedSince) {
      judgedSince = state.since;
      // The controller's rule: the judge's own advances keep the evidence (same service); a person's move restarts.
      if (state.updatedBy !== 'judge') judge.restart(Math.floor(state.since / 1000));
    }
    if (state.phase === 'holding') {
      reachedHolding = true;
      holdingSince ??= now;
      if (now - holdingSince >= s.holdMs) break;
    }
    window.prune(now);
  }
  return {
    rolledBack: false,
    seconds: limitSeconds,
    serviceRequests,
    finalWeight: state.weight,
    reachedHolding,
    advancesWithoutEvidence,
    rollbackRule: null,
    rollbackReason: null,
  };
}

export interface ScenarioSummary {
  readonly name: string;
  readonly rollouts: number;
  readonly rolledBack: number;
  readonly reachedHolding: number;
  readonly advancesWithoutEvidence: number;
  /** Median service requests served before a rollback (null when none rolled back). */
  readonly medianServiceRequestsBeforeRollback: number | null;
  readonly medianSecondsToRollback: number | null;
  readonly reasons: ReadonlyMap<string, number>;
}

export function runScenario(s: Scenario, rollouts: number, seed: number, route?: RouteConfig): ScenarioSummary {
  const before: number[] = [];
  const seconds: number[] = [];
  const reasons = new Map<string, number>();
  let rolledBack = 0;
  let reachedHolding = 0;
  let advancesWithoutEvidence = 0;
  for (let i = 0; i < rollouts; i++) {
    const r = simulateRollout(s, (seed + i * 7919) >>> 0, route);
    if (r.rolledBack) {
      rolledBack++;
      before.push(r.serviceRequests);
      seconds.push(r.seconds);
      const rule = r.rollbackRule ?? 'unknown';
      reasons.set(rule, (reasons.get(rule) ?? 0) + 1);
    }
    if (r.reachedHolding) reachedHolding++;
    advancesWithoutEvidence += r.advancesWithoutEvidence;
  }
  return {
    name: s.name,
    rollouts,
    rolledBack,
    reachedHolding,
    advancesWithoutEvidence,
    medianServiceRequestsBeforeRollback: median(before),
    medianSecondsToRollback: median(seconds),
    reasons,
  };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
}

/** The scenarios of issue 9's floors, at a given traffic level. */
export function floorScenarios(): Scenario[] {
  return [
    scenario('A/A'),
    scenario('A/A with common-mode stalls', { stallsPerMinute: 1, maxStallMs: 1000 }),
    scenario('service errors +2 points', { service: { ...BASE_SIDE, errorRate: 0.025 } }),
    scenario('service latency +300 ms', { service: { ...BASE_SIDE, shiftMs: 300 } }),
    scenario('A/A at 5 req/s', { requestsPerSecond: 5 }),
    scenario('A/A at 5 req/s with stalls', { requestsPerSecond: 5, stallsPerMinute: 1, maxStallMs: 1000 }),
  ];
}
