// When a request the service failed may be answered by the monolith instead, decided by how far it got (issue 9):
//
// - not sent (connect refused, no route to the host, connect timeout): the service never saw it, any method may go;
// - sent, no response head (reset, headers timeout, or a status the route lists, such as 503): the service may have
//   acted on it, so only methods that are idempotent by definition (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT,
//   DELETE), or a request carrying an Idempotency-Key where the route allows that, may be sent again;
// - response started (the client has part of an answer): never.
//
// The body must be replayable: held in memory up to the route's limit (default 64 KiB). Beyond it, or with a body of
// unknown length, there is no fallback, and the edge logs why. A per-route retry budget (a share of the route's
// requests, at least a few a second) stops a dead service from doubling the monolith's load. Every fallback counts
// as a service failure for the judge, so falling back never hides a regression. Pure: the clock is an argument.

export type FailureStage = 'not_sent' | 'no_response' | 'status' | 'response_started';

export type NoFallback =
  | 'disabled'
  | 'response_started'
  | 'not_idempotent'
  | 'body_too_large'
  | 'body_not_replayable'
  | 'budget_exhausted';

/** How the request's body can be sent a second time. */
export type BodyReplay = 'none' | 'buffered' | 'too_large' | 'streamed';

export interface FallbackPolicy {
  readonly enabled: boolean;
  /** Service statuses answered from the monolith instead (when safe, as "sent, no response"). */
  readonly statuses: readonly number[];
  /** Largest request body held for a replay; bigger bodies are streamed and never replayed. */
  readonly maxBodyBytes: number;
  /** Whether a non-idempotent request with an Idempotency-Key may be sent again after reaching the service. */
  readonly idempotencyKey: boolean;
  /** Fallbacks allowed per second: this share of the route's requests, but at least `budgetMinPerSecond`. */
  readonly budgetRatio: number;
  readonly budgetMinPerSecond: number;
}

export const DEFAULT_FALLBACK: FallbackPolicy = {
  enabled: true,
  statuses: [503],
  maxBodyBytes: 64 * 1024,
  idempotencyKey: false,
  budgetRatio: 0.2,
  budgetMinPerSecond: 3,
};

/** RFC 9110 §9.2.2's idempotent methods, as the issue lists them (TRACE is never routed to a service). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Transport errors that mean the request never left the edge (undici and Node codes). */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The stage of a failure before any response head: not sent for connect errors, otherwise sent without answer. */
export function stageOfError(code: string | undefined): 'not_sent' | 'no_response' {
  return code !== undefined && NOT_SENT_CODES.has(code) ? 'not_sent' : 'no_response';
}

export interface FallbackInput {
  readonly stage: FailureStage;
  /** Upper-case method. */
  readonly method: string;
  readonly hasIdempotencyKey: boolean;
  readonly body: BodyReplay;
  readonly policy: FallbackPolicy;
  /** Whether the retry budget has a fallback left now (asked last: only a fallback that would happen spends it). */
  readonly budget: () => boolean;
}

export type FallbackDecision = { readonly fallback: true } | { readonly fallback: false; readonly why: NoFallback };

export function decideFallback(input: FallbackInput): FallbackDecision {
  const { stage, policy } = input;
  if (!policy.enabled) return { fallback: false, why: 'disabled' };
  if (stage === 'response_started') return { fallback: false, why: 'response_started' };
  if (stage !== 'not_sent') {
    const idempotent = IDEMPOTENT_METHODS.has(input.method) || (policy.idempotencyKey && input.hasIdempotencyKey);
    if (!idempotent) return { fallback: false, why: 'not_idempotent' };
  }
  if (input.body === 'too_large') return { fallback: false, why: 'body_too_large' };
  if (input.body === 'streamed') return { fallback: false, why: 'body_not_replayable' };
  if (!input.budget()) return { fallback: false, why: 'budget_exhausted' };
  return { fallback: true };
}

/**
 * Per route, fallbacks allowed per second: `ratio` × the route's requests in the busier of this and the last second,
 * at least `minPerSecond`. Counting whole seconds keeps it O(1) and makes a burst of failures spend this second's
 * budget only.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  #second = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #lastRequests = 0;
  #spent = 0;

  constructor(ratio: number, minPerSecond: number) {
    this.#ratio = ratio;
    this.#minPerSecond = minPerSecond;
  }

  #roll(now: number): void {
    const second = Math.floor(now / 1000);
    if (second === this.#second) return;
    this.#lastRequests = second === this.#second + 1 ? this.#requests : 0;
    this.#second = second;
    this.#requests = 0;
    this.#spent = 0;
  }

  /** Counts one request of the route. */
  noteRequest(now: number): void {
    this.#roll(now);
    this.#requests++;
  }

  /** Takes one fallback from this second's budget; false when it is spent. */
  tryTake(now: number): boolean {
    this.#roll(now);
    const allowed = Math.max(
      this.#minPerSecond,
      Math.floor(this.#ratio * Math.max(this.#requests, this.#lastRequests)),
    );
    if (this.#spent >= allowed) return false;
    this.#spent++;
    return true;
  }
}
