// One undici Pool per upstream origin, sized and timed from routes.yaml, behind one Agent that the edge dispatches
// through (forward.ts). The edge hands undici the raw request target byte for byte (no WHATWG URL parsing, which
// would resolve `%2e%2e`, turn `\` into `/` or re-encode bytes) with the upstream's own headers and body timeouts.

import { Agent, type Dispatcher, Pool } from 'undici';
import type { Logger } from '../adapters/logger.ts';
import type { RouteTable, UpstreamConfig } from '../config/types.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { UpstreamDispatcher } from './forward.ts';

/** Response headers bigger than Node's 16 KiB default still reach the client (the client may have asked for them). */
const MAX_RESPONSE_HEADER_BYTES = 256 * 1024;

export class UpstreamPools implements UpstreamDispatcher {
  readonly #log: Logger;
  #agent: Agent;
  /** The pool settings the current agent was built with (origins, connections, connect timeouts). */
  #signature = '';
  readonly #retiring = new Map<Agent, Promise<void>>();
  #closed = false;

  constructor(log: Logger) {
    this.#log = log;
    this.#agent = this.#newAgent(new Map());
  }

  /** Sends one request through the current agent (the pool of `options.origin`). */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#agent.dispatch(options, handler);
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

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'other';

/**
 * Maps an upstream failure (undici's, or node:http's for upgrades) to the metric
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
