// One request to one upstream, through undici's dispatcher API (no `request()`, no Readable, no pipe): undici calls
// this handler with the response head as the raw header list, then each body chunk; the sink decides what reaches
// the client. Backpressure is undici's own: returning false from a data callback pauses the upstream socket until
// `resume()`.
//
// The seam for the features built on top:
// - `forward(target, body, sink)` can be called again for the same request with another target (a fallback to the
//   monolith), given a body source that can be read twice (a Buffer); the client's stream can only be sent once.
// - `sink.onHead` is called when the upstream's status line and headers arrived and BEFORE anything is written to
//   the client: a sink may look at them, buffer the body instead of streaming it (a response translator), or give up
//   on this answer and forward elsewhere.
// - `sink.onError` says whether the failure came before the head (nothing was written: a clean 502/504 or a retry is
//   possible) or during the body (the client already has part of an answer).

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/types.ts';

/** Where a request goes: the upstream, the path to ask it for (basePath + raw target), and the headers to send. */
export interface ForwardTarget {
  readonly upstream: UpstreamConfig;
  /** basePath + the raw request target (path and query exactly as received). */
  readonly path: string;
  /** Flat `[name, value, …]` list from forward-headers buildUpstreamHeaders. */
  readonly headers: string[];
}

/**
 * A request body as undici sends it: the client's stream (streamed as it arrives, once), a Buffer (replayable), or
 * null for none.
 */
export type BodySource = Readable | Buffer | null;

/** Receives one upstream exchange. Methods are called on the sink object (no closure per request). */
export interface ForwardSink {
  /**
   * The response head, before anything went to the client. `rawHeaders` is the flat list as the upstream sent it
   * (names in their case, order and repeats). Informational (1xx) heads are not reported.
   */
  onHead(call: UpstreamCall, status: number, statusText: string, rawHeaders: string[]): void;
  /** A body chunk; return false to pause the upstream until `call.resume()`. */
  onData(call: UpstreamCall, chunk: Buffer): boolean;
  /** The whole response arrived. */
  onEnd(call: UpstreamCall): void;
  /** The exchange failed; `afterHead` when onHead had already been called. Not called once `abort()` was called. */
  onError(call: UpstreamCall, err: Error, afterHead: boolean): void;
}

/** What the edge dispatches through (UpstreamPools): undici's `dispatch`, nothing else. */
export interface UpstreamDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

function ignore(): void {}

/**
 * One upstream exchange, as undici's (classic) dispatch handler: onConnect / onHeaders / onData / onComplete /
 * onError with raw header buffers, which undici calls without wrapping or parsing anything.
 */
export class UpstreamCall<S extends ForwardSink = ForwardSink> {
  readonly sink: S;
  readonly target: ForwardTarget;
  readonly body: BodySource;
  #abort: ((reason?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #headSeen = false;
  #settled = false;
  #abortReason: Error | null = null;

  constructor(sink: S, target: ForwardTarget, body: BodySource) {
    this.sink = sink;
    this.target = target;
    this.body = body;
  }

  get headSeen(): boolean {
    return this.#headSeen;
  }

  /** Continues a body paused by the sink's onData returning false. */
  resume(): void {
    this.#resume?.();
  }

  /** Stops the exchange (the client went away); the sink hears nothing more. */
  abort(reason: Error = new Error('rf-edge: the client went away')): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#abortReason = reason;
    this.#abort?.(reason);
  }

  // ---- undici's handler protocol ----------------------------------------------------------------------------------

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#abortReason !== null) abort(this.#abortReason);
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (100 Continue, 103 Early Hints) are not relayed: the final answer follows on the same exchange.
    if (status < 200 || this.#settled) return true;
    this.#headSeen = true;
    this.#resume = resume;
    const headers = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      // As undici's own `responseHeaders: 'raw'`: names as UTF-8, values as latin1 (bytes kept one for one).
      headers[i] = rawHeaders[i]!.toString();
      headers[i + 1] = rawHeaders[i + 1]!.toString('latin1');
    }
    this.sink.onHead(this, status, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#settled) return true;
    return this.sink.onData(this, chunk);
  }

  onComplete(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.sink.onEnd(this);
  }

  onError(err: Error): void {
    const body = this.body;
    // As undici's request() does: a request body still streaming goes with the exchange (the client's upload is cut
    // rather than left hanging).
    if (body !== null && !Buffer.isBuffer(body) && !body.destroyed) {
      body.on('error', ignore);
      body.destroy(err);
    }
    if (this.#settled) return;
    this.#settled = true;
    this.sink.onError(this, err, this.#headSeen);
  }
}

/** Sends `target` with `body` through `dispatcher`; the sink hears the answer. Returns the call (abort, resume). */
export function forward<S extends ForwardSink>(
  dispatcher: UpstreamDispatcher,
  method: string,
  target: ForwardTarget,
  body: BodySource,
  sink: S,
): UpstreamCall<S> {
  const call = new UpstreamCall(sink, target, body);
  const upstream = target.upstream;
  dispatcher.dispatch(
    {
      origin: upstream.origin,
      path: target.path,
      method: method as Dispatcher.HttpMethod,
      headers: target.headers,
      body,
      headersTimeout: upstream.headersTimeoutMs,
      // undici reads 0 as "no body timeout": what SSE streams and long downloads need.
      bodyTimeout: upstream.bodyTimeoutMs,
    },
    call as unknown as Dispatcher.DispatchHandler,
  );
  return call;
}
