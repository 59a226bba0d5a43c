// Builders for the sequential judge's inputs: a rollout policy with the routes.yaml defaults, and runs of seconds
// from compact descriptions (a latency → count map becomes the histogram the edge records), fed through the real
// outcome window as the controller feeds them.
import { DEFAULT_ROLLOUT } from '../../src/config/routes-schema.ts';
import type { RolloutPolicy } from '../../src/config/types.ts';
import type { RecordedSecond } from '../../src/core/judge-replay.ts';
import { LATENCY_BUCKET_COUNT, latencyBucket } from '../../src/core/latency-histogram.ts';
import { createOutcomeWindow, type OutcomeSlot } from '../../src/core/outcome-window.ts';
import { SequentialJudge } from '../../src/core/sequential-judge.ts';
import type { Verdict } from '../../src/core/types.ts';

/** The defaults of routes.yaml / the config loader (minSamples 20, criticalConsecutiveFailures 5). */
export const DEFAULT_POLICY: RolloutPolicy = DEFAULT_ROLLOUT;

/** One side's outcomes in each second of a phase. */
export interface SecondSpec {
  requests: number;
  /** 5xx and transport failures. */
  errors?: number;
  /** Of the errors, those without a response (at the end of the second). */
  transportFailures?: number;
  /** Latency in ms → number of requests. Default: every request at 5 ms. */
  latencies?: Record<string, number>;
  /** Requests recorded while the edge's own loop was stalled. */
  edgeDelayed?: number;
}

export interface PhaseSpec {
  seconds: number;
  service?: SecondSpec;
  legacy?: SecondSpec;
}

export const JUDGE_T0_SECOND = 1_700_000_000;
const ROUTE = 'agents-read';

export function slotOf(second: number, spec: SecondSpec): OutcomeSlot {
  const latency = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  const latencies = spec.latencies ?? (spec.requests > 0 ? { '5': spec.requests } : {});
  for (const [ms, count] of Object.entries(latencies)) {
    const bucket = latencyBucket(Number(ms));
    latency[bucket] = (latency[bucket] ?? 0) + count;
  }
  const transportFailures = spec.transportFailures ?? 0;
  return {
    second,
    requests: spec.requests,
    errors: spec.errors ?? 0,
    transportFailures,
    latency,
    tailTransportFailures: transportFailures,
    edgeDelayed: spec.edgeDelayed ?? 0,
  };
}

/**
 * Runs the phases second by second through an outcome window and a judge, as the controller does (each second
 * learnt once it is over; the hard guards read the live window), and returns every verdict, one per second.
 */
export function judgePhases(phases: readonly PhaseSpec[], policy: RolloutPolicy = DEFAULT_POLICY): Verdict[] {
  const window = createOutcomeWindow({ retainMs: policy.windowMs });
  const judge = new SequentialJudge(ROUTE, JUDGE_T0_SECOND);
  const verdicts: Verdict[] = [];
  let second = JUDGE_T0_SECOND;
  for (const phase of phases) {
    for (let i = 0; i < phase.seconds; i++, second++) {
      if (phase.service && phase.service.requests > 0)
        window.recordSlot(ROUTE, 'service', slotOf(second, phase.service));
      if (phase.legacy && phase.legacy.requests > 0) window.recordSlot(ROUTE, 'legacy', slotOf(second, phase.legacy));
      const now = (second + 1) * 1000;
      const seen = window.slotsAt(ROUTE, second);
      judge.observe(second, seen.service, seen.legacy, policy);
      verdicts.push(judge.verdict(policy, now, window.stats(ROUTE, policy.windowMs, now - 1)));
    }
  }
  return verdicts;
}

/** `n` recorded seconds of a route from `from`: the service at `serviceMs`, the monolith at 50 ms (for replays). */
export function recordedSeconds(routeId: string, n: number, serviceMs: string, from: number): RecordedSecond[] {
  return Array.from({ length: n }, (_, i) => ({
    routeId,
    second: from + i,
    service: slotOf(from + i, { requests: 20, latencies: { [serviceMs]: 20 } }),
    legacy: slotOf(from + i, { requests: 80, latencies: { '50': 80 } }),
  }));
}
