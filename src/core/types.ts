// Types shared by the pure core. Nothing here (nor anywhere under src/core) imports an I/O library: the clock,
// the route table and every input arrive as arguments.

import type { BucketMemo } from './compiled-flags.ts';
import type { OutcomeSlot } from './outcome-window.ts';
import type { JudgeEvidence } from './sequential-judge.ts';

export type Target = 'legacy' | 'service';

/** Why a request went where it went. Every value is a label on the decisions metric. */
export type DecisionReason =
  | 'unmatched' // no route matched: the legacy upstream, untouched
  | 'mode_legacy'
  | 'mode_service'
  | 'mode_shadow' // served by legacy, copied to the service
  | 'override' // a valid signed override header/cookie forced the target
  | 'flag_off' // kill switch: the route's flag is off in Unleash / flags/
  | 'not_eligible' // flag on, but this user is outside its constraints or its own rollout percentage
  | 'no_flag_data' // the flag is unknown to the flag source
  | 'rolled_back'
  | 'paused_zero' // state holds 0 % (off, or paused before the first step)
  | 'promoted'
  | 'bucket_in'
  | 'bucket_out';

/** What the proxy knows of a request when it decides. Header names are lower-case. */
export interface RequestFacts {
  readonly method: string;
  /** The normalised path (see core/path-safety), without the query. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The client address after trusted-proxy resolution. */
  readonly clientIp: string;
}

export interface Decision {
  readonly routeId: string | null;
  readonly target: Target;
  /** Upstream name the request is sent to. */
  readonly upstream: string;
  readonly reason: DecisionReason;
  /** 1..100 when a bucket was computed. */
  readonly bucket: number | null;
  /** The weight the decision used (route weight capped by the flag), when relevant. */
  readonly weight: number | null;
  /** Also send a copy to the service (shadow mode); the response comes from `target`. */
  readonly shadow: boolean;
}

/** What the flag source says about one flag for one user. */
export type FlagVerdict =
  | { readonly kind: 'no_flag_data' }
  | { readonly kind: 'off' }
  | { readonly kind: 'not_eligible' }
  | { readonly kind: 'eligible' };

/** Context handed to the flag source; `userId` is the stickiness value, so Unleash buckets exactly as we do. */
export interface FlagContext {
  readonly userId: string;
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly properties: Readonly<Record<string, string>>;
  /** The request's sticky bucket, shared with compiled flexibleRollout strategies (one murmur hash per request). */
  readonly buckets?: BucketMemo | undefined;
}

export type FlagEvaluator = (flag: string, context: FlagContext) => FlagVerdict;

// ---- rollout ----------------------------------------------------------------------------------------------------

export type RolloutPhase = 'off' | 'shadow' | 'canary' | 'holding' | 'promoted' | 'paused' | 'rolled_back';

export type Actor = 'system' | 'config' | 'judge' | `admin:${string}` | `cli:${string}`;

/** The state of one route's rollout: what the request path reads, what the controller moves. */
export interface RouteRolloutState {
  readonly routeId: string;
  readonly phase: RolloutPhase;
  /** Index into the route's steps while canary/holding/paused-in-canary; -1 otherwise. */
  readonly stepIndex: number;
  /** Percent of users sent to the service now, 0..100. */
  readonly weight: number;
  /** When the current step (or phase) began, ms since epoch. */
  readonly since: number;
  /** Service requests seen on the current step (to check minRequests). */
  readonly stepRequests: number;
  /** A weight set by hand (set-weight) pins the route until resume/promote/rollback. */
  readonly manualWeight: boolean;
  /** Phase to return to on resume from paused. */
  readonly pausedFrom: RolloutPhase | null;
  readonly reason: string;
  readonly updatedBy: Actor;
  /** Monotonic per route; stores use it to refuse stale writes and replicas to ignore old news. */
  readonly revision: number;
}

// ---- outcomes and judging ---------------------------------------------------------------------------------------

/** One proxied request's result, recorded off the response path. */
export interface Outcome {
  readonly routeId: string;
  readonly target: Target;
  readonly status: number; // 0 when no response came (transport error / timeout)
  readonly latencyMs: number;
  readonly transportError: boolean;
  readonly at: number;
  /**
   * The upstream's own time: request sent → response headers. What the judge compares (time queued in the edge or
   * spent streaming a body says nothing about the service); `latencyMs` (the whole exchange) when absent.
   */
  readonly upstreamMs?: number;
  /** The edge's own event loop was stalled when this outcome was recorded: its timing is the edge's, not the upstream's. */
  readonly edgeDelayed?: boolean;
}

/** Aggregated outcomes of one target on one route over the judge's window. */
export interface TargetWindowStats {
  readonly requests: number;
  /** 5xx + transport errors + timeouts. 4xx are not errors. */
  readonly errors: number;
  readonly p99Ms: number | null;
  /** Transport failures in a row at the end of the window (for the critical rule). */
  readonly consecutiveTransportFailures: number;
  /**
   * Latency histogram of the window (counts by bucket index of core/latency-histogram; holes mean 0). Lets the judge
   * test "more than 1 % of requests are slower than X" against the sample size instead of trusting a p99 read from
   * a handful of requests. Optional: without it the judge compares `p99Ms` directly.
   */
  readonly latencyCounts?: readonly number[];
  /**
   * The window's one-second slots, oldest first (merged across replicas): the sequential judge reads the evidence
   * second by second, paired in time with the other side. Left out of verdict figures.
   */
  readonly seconds?: readonly OutcomeSlot[];
}

export interface RouteWindowStats {
  readonly routeId: string;
  readonly windowMs: number;
  readonly legacy: TargetWindowStats;
  readonly service: TargetWindowStats;
}

export type VerdictOutcome = 'healthy' | 'unhealthy' | 'critical' | 'insufficient_data';

export interface VerdictCheck {
  readonly rule: string; // e.g. 'error_rate', 'error_rate_increase', 'p99', 'p99_ratio', 'min_samples', 'consecutive_failures'
  readonly passed: boolean;
  readonly value: number | null;
  readonly threshold: number;
  readonly detail: string;
}

export interface Verdict {
  readonly routeId: string;
  readonly outcome: VerdictOutcome;
  /** One sentence a person can read: what failed and by how much. */
  readonly reason: string;
  readonly checks: readonly VerdictCheck[];
  readonly figures: RouteWindowStats;
  /** The sequential judge's inputs: per side counts and quantiles, the tests' bounds and margins, contamination. */
  readonly evidence?: JudgeEvidence;
  readonly at: number;
}

/** One line of the audit trail: a transition of a route's rollout, with who, why and on what figures. */
export interface AuditEvent {
  readonly at: number;
  readonly routeId: string;
  readonly from: RolloutPhase;
  readonly to: RolloutPhase;
  readonly fromWeight: number;
  readonly toWeight: number;
  readonly actor: Actor;
  readonly reason: string;
  /** The verdict (figures, thresholds) or command payload the transition was based on. */
  readonly evidence: unknown;
  readonly configHash: string;
}
