// One undici Pool per upstream origin, sized and timed from routes.yaml, behind the single dispatcher that
// @fastify/reply-from is registered with.
//
// reply-from builds the upstream URL with WHATWG `new URL()`, which resolves `%2e%2e`, turns `\` into `/` and
// re-encodes some bytes, and it calls `decodeURIComponent` on the path (throwing on `%zz`). A transparent proxy must
// send the raw request target byte for byte (signed URLs, odd but legal paths), so the edge hands reply-from a
// constant source (the upstream origin) and carries the real plan (path, headers, body) to this dispatcher in a
// symbol-keyed slot of the request headers, which reply-from copies (`Object.assign`) without reading. The
// dispatcher then asks undici for exactly that request, with the upstream's own headers and body timeouts.

import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, Pool } from 'undici';
import type { Logger } from '../adapters/logger.ts';
import type { RouteTable, UpstreamConfig } from '../config/types.ts';
import type { ErrorCode } from '../core/errors.ts';

/** Where the edge puts the ForwardPlan in the headers object it gives reply-from. */
export const FORWARD_PLAN = Symbol('rf-edge.forward-plan');

/** One request's way to its upstream, built by the edge; the dispatcher fills in what the upstream answered. */
export class ForwardPlan {
  readonly upstream: UpstreamConfig;
  /** basePath + the raw request target (path and query exactly as received). */
  readonly path: string;
  /** Flat `[name, value, …]` list from forward-headers buildUpstreamHeaders. */
  readonly headers: string[];
  /** The client's request stream when the request has a body (streamed, never buffered), else null. */
  readonly body: Readable | null;
  /** The upstream's reason phrase (undici parses it; reply-from does not pass it on). */
  statusText = '';
  /** reply-from's callback, held here so one shared function answers every request (no closure per request). */
  callback: ResponseCallback | null = null;

  constructor(upstream: UpstreamConfig, path: string, headers: string[], body: Readable | null) {
    this.upstream = upstream;
    this.path = path;
    this.headers = headers;
    this.body = body;
  }
}

/** What reply-from passes to `undici.request()` (lib/request.js handleUndici); only `method` and the plan matter. */
interface ReplyFromRequest {
  readonly method: string;
  readonly headers: { [FORWARD_PLAN]?: ForwardPlan };
}

type ResponseCallback = (err: Error | null, data?: Dispatcher.ResponseData) => void;

/** Response headers bigger than Node's 16 KiB default still reach the client (the client may have asked for them). */
const MAX_RESPONSE_HEADER_BYTES = 256 * 1024;

export class UpstreamPools {
  readonly #log: Logger;
  #agent: Agent;
  /** The pool settings the current agent was built with (origins, connections, connect timeouts). */
  #signature = '';
  readonly #retiring = new Map<Agent, Promise<void>>();
  #closed = false;

  /** The object reply-from is registered with (`undici:`): it only needs `request(opts, callback)`. */
  readonly dispatcher: { request(opts: ReplyFromRequest, callback: ResponseCallback): void };

  constructor(log: Logger) {
    this.#log = log;
    this.#agent = this.#newAgent(new Map());
    this.dispatcher = { request: (opts, callback) => this.#request(opts, callback) };
  }

  /**
   * Makes the pools match a (new) route table. Cheap when nothing about the pools changed (the usual reload); when
   * an origin's `connections` or `connectTimeoutMs` changed, new requests go to a fresh agent while the old one
   * finishes its in-flight requests and then closes.
   */
  useTable(table: RouteTable): void {
    // The first upstream naming an origin sets its pool (two upstreams on one origin share one).
    const settings = new Map<string, UpstreamConfig>();
    for (const upstream of table.upstreams.values()) {
      if (!settings.has(upstream.origin)) settings.set(upstream.origin, upstream);
    }
    const signature = [...settings.values()]
      .map((u) => `${u.origin} ${u.connections} ${u.connectTimeoutMs}`)
      .sort()
      .join('\n');
    if (signature === this.#signature) return;
    const previous = this.#agent;
    const first = this.#signature === '';
    this.#signature = signature;
    this.#agent = this.#newAgent(settings);
    if (!first) {
      this.#log.info({ event: 'upstream.pools_replaced' }, 'upstream pool settings changed; old pools drain and close');
    }
    this.#retire(previous);
  }

  /** Waits for in-flight upstream requests up to `timeoutMs`, then destroys whatever is left. */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#retire(this.#agent);
    const all = Promise.all([...this.#retiring.values()]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const result = await Promise.race([all.then(() => 'done' as const), late]);
    clearTimeout(timer);
    if (result === 'late') {
      await Promise.all([...this.#retiring.keys()].map((agent) => agent.destroy().catch(() => undefined)));
    }
    await all;
  }

  #request(opts: ReplyFromRequest, callback: ResponseCallback): void {
    const plan = opts.headers[FORWARD_PLAN];
    if (plan === undefined) {
      // Only the edge calls reply.from, and always with a plan; anything else is a wiring bug, not a request.
      callback(new Error('rf-edge: reply.from called without a forward plan'));
      return;
    }
    const upstream = plan.upstream;
    plan.callback = callback;
    this.#agent.request<ForwardPlan>(
      {
        origin: upstream.origin,
        path: plan.path,
        method: opts.method as Dispatcher.HttpMethod,
        headers: plan.headers,
        body: plan.body,
        headersTimeout: upstream.headersTimeoutMs,
        // undici reads 0 as "no body timeout": what SSE streams and long downloads need.
        bodyTimeout: upstream.bodyTimeoutMs,
        // The response headers as sent (names in their case, order, repeats), for a transparent response.
        responseHeaders: 'raw',
        opaque: plan,
      },
      onUpstreamResponse,
    );
  }

  #newAgent(settings: ReadonlyMap<string, UpstreamConfig>): Agent {
    return new Agent({
      factory: (origin, options) => {
        const upstream = settings.get(String(origin));
        return new Pool(origin, {
          ...options,
          pipelining: 1,
          maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
          ...(upstream === undefined
            ? {}
            : { connections: upstream.connections, connectTimeout: upstream.connectTimeoutMs }),
        });
      },
    });
  }

  #retire(agent: Agent): void {
    const closing: Promise<void> = agent.close().catch((err: unknown) => {
      this.#log.warn({ event: 'upstream.pool_close_failed', err }, 'an upstream pool failed to close');
    });
    this.#retiring.set(agent, closing);
    void closing.finally(() => this.#retiring.delete(agent));
  }
}

/** Undici answers here, for every request; the plan (undici's `opaque`, also on errors) says whose it is. */
function onUpstreamResponse(err: Error | null, data?: Dispatcher.ResponseData<ForwardPlan>): void {
  const plan = data?.opaque;
  const callback = plan?.callback;
  if (plan === undefined || callback === null || callback === undefined) return;
  plan.callback = null;
  if (err === null && data !== undefined) plan.statusText = data.statusText;
  callback(err, data as Dispatcher.ResponseData | undefined);
}

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'other';

/**
 * Maps an upstream failure (undici's, reply-from's wrapper around it, or node:http's for upgrades) to the metric
 * kind and the catalogue code the client sees: timeouts of any phase are 504, the rest 502.
 */
export function classifyUpstreamError(error: unknown): { kind: UpstreamErrorKind; code: ErrorCode } {
  const codes: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  const has = (...wanted: string[]) => codes.some((c) => wanted.includes(c));
  if (has('UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT')) {
    return { kind: 'timeout', code: 'RF_UPSTREAM_TIMEOUT' };
  }
  if (has('ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL')) {
    return { kind: 'connect', code: 'RF_UPSTREAM_CONNECT' };
  }
  if (has('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'))
    return { kind: 'reset', code: 'RF_UPSTREAM_RESET' };
  return { kind: 'other', code: 'RF_UPSTREAM_ERROR' };
}
