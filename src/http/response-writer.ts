// Writing to the client: the upstream's answer as it came (status and reason phrase, the raw header list minus
// hop-by-hop fields, the body streamed with backpressure), or the edge's own JSON error. Straight on Node's
// ServerResponse (the fastify reply is hijacked): fastify's reply lower-cases header names and re-orders them.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { EdgeError } from '../core/errors.ts';
import { decideFallback, type FailureStage, stageOfError } from '../core/fallback-policy.ts';
import type { FallbackDesk, FallbackPlan } from './fallback.ts';
import { type ForwardSink, forward, type UpstreamCall, type UpstreamDispatcher } from './forward.ts';
import { buildClientHeaders } from './forward-headers.ts';
import type { EdgeRequestState } from './request-state.ts';
import { classifyUpstreamError } from './upstream-pools.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

/** The client closed its side: its request body broke off, or its connection is gone. */
export function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || (!req.complete && (req.destroyed || req.socket.destroyed));
}

/** The edge's own answer, `{ "error": { "code", "message" } }`; cuts the connection if a response already began. */
export function writeError(res: ServerResponse, requestId: string, err: EdgeError, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  const headers = [
    'Content-Type',
    JSON_TYPE,
    'Content-Length',
    String(Buffer.byteLength(body)),
    'X-Request-Id',
    requestId,
  ];
  if (close) headers.push('Connection', 'close');
  res.writeHead(err.status, headers);
  res.end(body);
}

/** What a relay needs to send a failed service request to the monolith. */
export interface RetryContext {
  readonly plan: FallbackPlan;
  readonly desk: FallbackDesk;
  readonly dispatcher: UpstreamDispatcher;
  /** The body as read before the first try (null: none). */
  readonly body: Buffer | null;
}

/** How a response ended, as the request line and the judge's outcome need it. */
export interface ResponseEnd {
  readonly status: number;
  readonly failed: boolean;
  readonly clientAborted: boolean;
}

/**
 * Relays one upstream answer to one client response (a ForwardSink). Created per request; the edge calls
 * `closed()` from the response's 'close' event.
 */
export class ClientRelay implements ForwardSink {
  readonly state: EdgeRequestState;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Whether the edge is draining (answers then ask the client to close). */
  readonly #draining: () => boolean;
  call: UpstreamCall | null = null;
  /** Set for a service request that may fall back to the monolith; used at most once. */
  retry: RetryContext | null = null;
  #bodyless = false;
  #onDrain: (() => void) | null = null;

  constructor(state: EdgeRequestState, req: IncomingMessage, res: ServerResponse, draining: () => boolean) {
    this.state = state;
    this.req = req;
    this.res = res;
    this.#draining = draining;
  }

  /** Answers with the edge's own error (unless the client is gone). */
  fail(err: EdgeError): void {
    writeError(this.res, this.state.id, err, this.#draining());
  }

  onHead(call: UpstreamCall, status: number, statusText: string, rawHeaders: string[]): void {
    const { state, res } = this;
    state.headersAt = performance.now();
    if (res.destroyed) {
      // The client left while the upstream was still thinking: nobody to relay the answer to.
      call.abort();
      return;
    }
    // A status the route lists (503…) counts as "sent, no response": the monolith may answer, when safe.
    if (this.retry?.plan.policy.statuses.includes(status) && this.#fallBack(call, 'status', status)) return;
    const headers = buildClientHeaders(rawHeaders, {
      requestId: state.id,
      location: state.locationRewrite(),
      // An unread request body leaves the connection unusable for the next request (RFC 9112 §9.3).
      close: this.#draining() || !this.req.complete,
    });
    try {
      res.writeHead(status, statusText === '' ? undefined : statusText, headers);
    } catch (err) {
      // Node refuses to send what it considers invalid (a header value with a control character): the upstream's
      // answer cannot be relayed as is, which is the upstream's failure.
      call.abort(err as Error);
      state.upstreamError = { kind: 'other', err };
      res.removeHeader('content-length');
      writeError(
        res,
        state.id,
        new EdgeError('RF_UPSTREAM_ERROR', 'upstream response could not be relayed', { cause: err }),
        false,
      );
      return;
    }
    this.#bodyless = status === 204 || status === 304 || state.method === 'HEAD';
    // Before the body flows, so the shadow comparison hashes all of it.
    if (state.shadow !== null) state.shadow.primaryHead(status, rawHeaders, !this.#bodyless);
    // No body by definition (RFC 9110 §9.3.2, §15.3.5, §15.4.5). A 304 may still carry the Content-Length of the
    // representation, which undici reports as a length mismatch once the (empty) message ends: not our concern.
    if (this.#bodyless) res.end();
  }

  onData(call: UpstreamCall, chunk: Buffer): boolean {
    if (this.#bodyless) return true;
    this.state.shadow?.primaryData(chunk);
    if (this.res.write(chunk)) return true;
    this.call = call;
    this.#onDrain ??= () => this.call?.resume();
    this.res.once('drain', this.#onDrain);
    return false;
  }

  onEnd(): void {
    if (!this.#bodyless) this.res.end();
  }

  onError(_call: UpstreamCall, err: Error, afterHead: boolean): void {
    const { state, res } = this;
    if (!afterHead) {
      // A client that went away mid-upload fails the upstream request too (its body stream broke): that is not
      // the upstream's failure, and must not count against it in the judge's window.
      if (clientGone(this.req, res)) return;
      if (this.#fallBack(_call, stageOfError((err as { code?: string }).code), 0)) return;
      const { kind, code } = classifyUpstreamError(err);
      state.upstreamError = { kind, err };
      this.fail(new EdgeError(code, undefined, { cause: err }));
      return;
    }
    // The answer was already complete for the client (HEAD, 204, 304): what undici says after that is not ours.
    if (res.writableFinished) return;
    state.upstreamError = { kind: classifyUpstreamError(err).kind, err };
    // A cut body must not pass for a complete one: the client connection goes.
    res.destroy();
  }

  /**
   * Answers from the monolith instead, if core/fallback-policy says it is safe: true when the request went there
   * (the failed call is stopped, the failure counted against the service). Only ever once per request.
   */
  #fallBack(call: UpstreamCall, stage: FailureStage, status: number): boolean {
    const retry = this.retry;
    if (retry === null) return false;
    this.retry = null;
    const { state } = this;
    const { plan, desk } = retry;
    const decision = decideFallback({
      stage,
      method: state.method,
      hasIdempotencyKey: typeof this.req.headers['idempotency-key'] === 'string',
      body: plan.body,
      policy: plan.policy,
      budget: () => desk.takeBudget(plan),
    });
    if (!decision.fallback) {
      desk.skipped(state, plan, stage, decision.why);
      return false;
    }
    if (stage === 'status') call.abort();
    desk.fellBack(state, plan, stage, status);
    state.fallback = stage;
    state.upstream = plan.legacy;
    state.sentAt = performance.now();
    state.headersAt = null;
    this.call = forward(retry.dispatcher, state.method, plan.target(), retry.body, this);
    return true;
  }

  /** The response closed (finished, cut, or the client went away): how it ended. Stops the upstream if unfinished. */
  closed(): ResponseEnd {
    const res = this.res;
    const complete = res.writableFinished;
    if (!complete) this.call?.abort();
    const upstreamFailed = this.state.upstreamError !== null;
    return {
      status: res.headersSent ? res.statusCode : 0,
      failed: !complete || upstreamFailed,
      clientAborted: !complete && !upstreamFailed,
    };
  }
}
