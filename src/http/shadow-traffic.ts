// Shadow traffic: a request whose decision says `shadow` is served by legacy as usual, and a copy goes to the
// route's service; when both answers are in, core/shadow-compare says whether they match. Nothing here is on the
// client's response path: the copy is sent after the primary was dispatched, its answer is read by its own handlers,
// and the primary never waits for it. What it costs the primary is a hash of the legacy body as it streams by (and,
// for routes that opt in to bodies, one pass-through stream that keeps a copy of the request body).
//
// Writes are not copied by default. A POST copied to a service in shadow runs twice against real data (once in the
// monolith, once in the service) unless the service writes to a store of its own or treats `x-edge-shadow: 1` as a
// dry run; a route has to list such methods under `shadow.methods` (with `shadow.maxBodyBytes`) to have them copied.
//
// Bounds: at most `maxInFlight` copies per process (one more is `skipped`, never queued), each with the service
// upstream's timeouts; copies use an undici agent of their own, so a service that hangs on shadow traffic cannot
// take pooled connections from real traffic to the same upstream.

import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { Agent, type Dispatcher, Pool } from 'undici';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { RouteTable, ShadowPolicy, UpstreamConfig } from '../config/types.ts';
import {
  compareShadow,
  DEFAULT_COMPARED_HEADERS,
  describeDifferences,
  type ShadowAnswer,
} from '../core/shadow-compare.ts';
import type { Outcome } from '../core/types.ts';
import { classifyUpstreamError } from './upstream-pools.ts';

export type ShadowResult = 'match' | 'mismatch' | 'error' | 'skipped';

/** Methods that do not change anything (RFC 9110 §9.2.1) and are copied on every shadowed route. */
export const SAFE_METHODS: readonly string[] = Object.freeze(['GET', 'HEAD', 'OPTIONS']);

export const DEFAULT_SHADOW_MAX_IN_FLIGHT = 64;

/** The header that tells the service a request is a shadow copy (its answer goes nowhere). */
export const SHADOW_HEADER = 'X-Edge-Shadow';

/** One route's shadow settings, compiled once per route table. */
export interface ShadowRoute {
  readonly routeId: string;
  readonly upstream: UpstreamConfig;
  /** Host header for the copy (the service upstream's host policy); null = the client's. */
  readonly host: string | null;
  /** Safe methods plus the route's opted-in ones. */
  readonly methods: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly compareHeaders: readonly string[];
}

/**
 * Shadow settings for every route of `table` whose service upstream exists. `hostOf` gives an upstream's Host header
 * (the edge's own policy), so the copy is addressed as a real request to the service would be.
 */
export function compileShadowRoutes(
  table: RouteTable,
  hostOf: (upstream: UpstreamConfig) => string | null,
): ReadonlyMap<string, ShadowRoute> {
  const out = new Map<string, ShadowRoute>();
  for (const route of table.routes) {
    const upstream = table.upstreams.get(route.service);
    if (upstream === undefined) continue;
    const policy: ShadowPolicy | undefined = route.shadow;
    out.set(route.id, {
      routeId: route.id,
      upstream,
      host: hostOf(upstream),
      methods: new Set([...SAFE_METHODS, ...(policy?.methods ?? [])]),
      maxBodyBytes: policy?.maxBodyBytes ?? 0,
      compareHeaders: policy?.compareHeaders ?? DEFAULT_COMPARED_HEADERS,
    });
  }
  return out;
}

export interface ShadowTrafficOptions {
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** The judge's window: each copy's answer is an outcome of the SERVICE target. Must be cheap and never throw. */
  readonly recordOutcome: (outcome: Outcome) => void;
  /** Copies in flight at once, per process; one more is skipped. Default 64. */
  readonly maxInFlight?: number | undefined;
  /** At most one `shadow.mismatch` line per route per this many ms (the metric still counts every one). */
  readonly mismatchLogEveryMs?: number | undefined;
}

/** What the edge hands over to send a copy. */
export interface ShadowRequest {
  readonly reqId: string;
  readonly method: string;
  /** basePath of the service + the raw request target, exactly as received. */
  readonly path: string;
  /** Upstream request headers for the service (forward-headers), without the shadow marker. */
  readonly headers: string[];
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

function ignore(): void {}

export class ShadowTraffic {
  readonly #log: Logger;
  readonly #metrics: EdgeMetrics;
  readonly #recordOutcome: (outcome: Outcome) => void;
  readonly #maxInFlight: number;
  readonly #mismatchLogEveryMs: number;
  readonly #agent: Agent;
  /** Connect timeout per origin, for pools created after a table named it. */
  readonly #connectTimeouts = new Map<string, number>();
  readonly #counters = new Map<string, { inc(): void }>();
  readonly #lastMismatchLog = new Map<string, { at: number; suppressed: number }>();
  #inFlight = 0;
  #closed = false;

  constructor(options: ShadowTrafficOptions) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#recordOutcome = options.recordOutcome;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_SHADOW_MAX_IN_FLIGHT;
    this.#mismatchLogEveryMs = options.mismatchLogEveryMs ?? 1000;
    this.#agent = new Agent({
      factory: (origin, opts) =>
        new Pool(origin, {
          ...opts,
          pipelining: 1,
          // In-flight copies are bounded process-wide; more connections than that are never needed.
          connections: this.#maxInFlight,
          connectTimeout: this.#connectTimeouts.get(String(origin)) ?? 5_000,
        }),
    });
  }

  /** Copies being sent or answered now. */
  inFlight(): number {
    return this.#inFlight;
  }

  /** Learns the connect timeouts of a (new) route table's upstreams; pools already open keep theirs. */
  useTable(table: RouteTable): void {
    for (const upstream of table.upstreams.values()) {
      if (!this.#connectTimeouts.has(upstream.origin)) {
        this.#connectTimeouts.set(upstream.origin, upstream.connectTimeoutMs);
      }
    }
  }

  /**
   * Whether this request gets a copy: its method is copied on the route, its body (if any) fits, and a slot is free.
   * Returns the copy, holding a slot, or null after counting the request `skipped`. `contentLength` is the declared
   * body size (null: none declared, chunked or no body).
   */
  begin(
    route: ShadowRoute | undefined,
    routeId: string,
    method: string,
    hasBody: boolean,
    contentLength: number | null,
  ): ShadowCopy | null {
    let why: string | null = null;
    if (this.#closed) why = 'closing';
    else if (route === undefined) why = 'no_service_upstream';
    else if (!route.methods.has(method)) why = 'method';
    else if (hasBody && (route.maxBodyBytes === 0 || (contentLength !== null && contentLength > route.maxBodyBytes))) {
      why = 'body_too_large';
    } else if (this.#inFlight >= this.#maxInFlight) why = 'in_flight_limit';
    if (why !== null || route === undefined) {
      this.skip(routeId, method, why ?? 'no_service_upstream');
      return null;
    }
    this.#inFlight++;
    return new ShadowCopy(this, route);
  }

  /** Counts a shadow decision whose request is not copied. */
  skip(routeId: string, method: string, why: string): void {
    this.#count(routeId, 'skipped');
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ event: 'shadow.skipped', route: routeId, method, why }, 'request not shadowed');
    }
  }

  /** Stops copying; copies in flight are cut and their results dropped (nobody is left to read them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent.destroy().catch(ignore);
  }

  // ---- for ShadowCopy ---------------------------------------------------------------------------------------------

  /** @internal */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  release(): void {
    this.#inFlight--;
  }

  /** @internal */
  dispatch(
    options: Dispatcher.RequestOptions,
    onResponse: (data: Dispatcher.ResponseData) => void,
    onError: (err: unknown) => void,
  ): void {
    try {
      this.#agent.request(options).then(onResponse, onError);
    } catch (err) {
      // undici throws synchronously on options it refuses (a header value it deems invalid).
      onError(err);
    }
  }

  /** @internal */
  recordService(routeId: string, status: number, latencyMs: number, transportError: boolean): void {
    if (this.#closed) return;
    try {
      this.#recordOutcome({ routeId, target: 'service', status, latencyMs, transportError, at: Date.now() });
    } catch (err) {
      this.#log.error({ event: 'outcome.record_failed', err }, 'recordOutcome threw; the shadow outcome is lost');
    }
  }

  /** @internal */
  settle(copy: ShadowCopy, result: ShadowResult, detail: Record<string, unknown>, differences?: string): void {
    if (this.#closed) return;
    const routeId = copy.route.routeId;
    this.#count(routeId, result);
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ event: 'shadow.result', route: routeId, result, ...detail }, 'shadow copy compared');
    }
    if (result === 'mismatch' && differences !== undefined) this.#logMismatch(routeId, detail, differences);
  }

  #logMismatch(routeId: string, detail: Record<string, unknown>, differences: string): void {
    const now = performance.now();
    const last = this.#lastMismatchLog.get(routeId);
    if (last !== undefined && now - last.at < this.#mismatchLogEveryMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastMismatchLog.set(routeId, { at: now, suppressed: 0 });
    this.#log.info(
      { event: 'shadow.mismatch', route: routeId, differences, ...detail, suppressedSinceLast: suppressed },
      `the service answered differently from the monolith: ${differences}`,
    );
  }

  #count(routeId: string, result: ShadowResult): void {
    const key = `${routeId}\u0000${result}`;
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      counter = this.#metrics.shadowRequests.labels(routeId, result);
      this.#counters.set(key, counter);
    }
    counter.inc();
  }
}

type SideState = 'pending' | 'answered' | 'failed';

/**
 * One request's copy: it sends the copy once the request body (if any) is complete, hashes the service's answer,
 * watches the legacy answer as the edge relays it, and compares the two once both are in.
 */
export class ShadowCopy {
  readonly route: ShadowRoute;
  readonly #owner: ShadowTraffic;
  #request: ShadowRequest | null = null;
  #sentAt = 0;
  /** The copy holds an in-flight slot until its answer is read (or it is given up). */
  #holdsSlot = true;
  #settled = false;

  #shadow: SideState = 'pending';
  #shadowAnswer: ShadowAnswer | null = null;

  #primary: SideState = 'pending';
  #primaryStatus = 0;
  #primaryHeaders: readonly string[] = [];
  #primaryHash: Hash | null = null;
  #primaryBytes = 0;

  constructor(owner: ShadowTraffic, route: ShadowRoute) {
    this.#owner = owner;
    this.route = route;
  }

  /**
   * Sends the copy. Without a body it goes on the next turn of the event loop (after the primary was dispatched);
   * with one, the returned stream is what the primary must send instead of `body`: it passes the body through as it
   * comes and keeps a copy up to the route's limit, and the copy goes out when the body is complete.
   */
  send(request: ShadowRequest, body: IncomingMessage | null): Readable | null {
    this.#request = { ...request, headers: markAsShadow(request.headers) };
    if (body === null) {
      setImmediate(sendCopy, this, null);
      return null;
    }
    const tee = new BodyTee(this, this.route.maxBodyBytes);
    // A client that breaks off its upload must break the primary too (pipe() alone would leave it waiting).
    body.once('close', () => {
      if (!body.complete) tee.destroy(new Error('request body aborted by the client'));
    });
    // The primary may stop reading early (its upstream answered and closed); the copy is given up then.
    tee.on('error', ignore);
    tee.once('close', () => {
      if (!tee.ended) this.giveUp('body_incomplete');
    });
    body.pipe(tee);
    return tee;
  }

  /** The request body as copied, once complete (BodyTee). */
  bodyComplete(buffer: Buffer): void {
    sendCopy(this, buffer);
  }

  /** The copy will not be sent (body over the limit, upload cut, primary gone first): counted `skipped`. */
  giveUp(why: string): void {
    if (this.#sentAt !== 0 || this.#settled) return;
    this.#releaseSlot();
    this.#finish('skipped', { why });
  }

  /** Sends the copy with `body` (null: none); once only. */
  dispatch(body: Buffer | null): void {
    const request = this.#request;
    if (request === null || this.#settled || this.#sentAt !== 0) return;
    if (this.#owner.closed) {
      this.giveUp('closing');
      return;
    }
    const upstream = this.route.upstream;
    this.#sentAt = performance.now();
    this.#owner.dispatch(
      {
        origin: upstream.origin,
        path: request.path,
        method: request.method as Dispatcher.HttpMethod,
        headers: request.headers,
        body,
        headersTimeout: upstream.headersTimeoutMs,
        // A copy must end: a service that streams forever (bodyTimeout 0 = none) is cut by its headers timeout.
        bodyTimeout: upstream.bodyTimeoutMs === 0 ? upstream.headersTimeoutMs : upstream.bodyTimeoutMs,
        responseHeaders: 'raw',
      },
      (data) => this.#onShadowResponse(data),
      (err) => this.#onShadowError(err),
    );
  }

  /**
   * The legacy answer's head, as the edge relays it; `hasBody` when the client gets a body (false for HEAD, 204,
   * 304). Call before the body starts flowing (primaryData).
   */
  primaryHead(status: number, rawHeaders: readonly string[], hasBody: boolean): void {
    this.#primaryStatus = status;
    this.#primaryHeaders = rawHeaders;
    if (hasBody) this.#primaryHash = createHash('sha256');
  }

  /** A chunk of the legacy body as relayed to the client. */
  primaryData(chunk: Buffer): void {
    const hash = this.#primaryHash;
    if (hash === null) return;
    this.#primaryBytes += chunk.length;
    hash.update(chunk);
  }

  /** The edge is done with the primary: `complete` when the client got the whole legacy answer. */
  primaryDone(complete: boolean): void {
    if (this.#primary !== 'pending') return;
    const gotHead = this.#primaryStatus !== 0;
    this.#primary = complete && gotHead ? 'answered' : 'failed';
    // Not sent yet means the request body never completed: nothing will send it now.
    if (this.#sentAt === 0) this.giveUp('primary_done_first');
    this.#maybeCompare();
  }

  #onShadowResponse(data: Dispatcher.ResponseData): void {
    const hash = createHash('sha256');
    let bytes = 0;
    const body = data.body;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    body.once('error', (err: unknown) => this.#onShadowError(err));
    body.once('end', () => {
      const latencyMs = performance.now() - this.#sentAt;
      this.#releaseSlot();
      this.#owner.recordService(this.route.routeId, data.statusCode, latencyMs, false);
      this.#shadow = 'answered';
      // undici's types say headers is an object; `responseHeaders: 'raw'` makes it the flat list.
      const headers = data.headers as unknown as string[];
      this.#shadowAnswer = { status: data.statusCode, headers, bodySha256: hash.digest('hex'), bodyBytes: bytes };
      this.#maybeCompare();
    });
  }

  #onShadowError(err: unknown): void {
    if (this.#shadow !== 'pending') return;
    const latencyMs = performance.now() - this.#sentAt;
    this.#releaseSlot();
    this.#owner.recordService(this.route.routeId, 0, latencyMs, true);
    this.#shadow = 'failed';
    // The service failed: that is the result, whatever legacy answered.
    this.#finish('error', { kind: classifyUpstreamError(err).kind, err });
  }

  #maybeCompare(): void {
    if (this.#settled || this.#shadow !== 'answered' || this.#primary === 'pending') return;
    const shadow = this.#shadowAnswer!;
    if (this.#primary === 'failed') {
      this.#finish('skipped', { why: 'primary_failed', serviceStatus: shadow.status });
      return;
    }
    const primary: ShadowAnswer = {
      status: this.#primaryStatus,
      headers: this.#primaryHeaders,
      bodySha256: this.#primaryHash === null ? EMPTY_SHA256 : this.#primaryHash.digest('hex'),
      bodyBytes: this.#primaryBytes,
    };
    const comparison = compareShadow(primary, shadow, this.route.compareHeaders);
    const detail = {
      legacyStatus: primary.status,
      serviceStatus: shadow.status,
      serviceMs: Math.round((performance.now() - this.#sentAt) * 100) / 100,
    };
    if (comparison.result === 'match') this.#finish('match', detail);
    else this.#finish('mismatch', detail, describeDifferences(comparison.differences));
  }

  #finish(result: ShadowResult, detail: Record<string, unknown>, differences?: string): void {
    if (this.#settled) return;
    this.#settled = true;
    const request = this.#request;
    this.#owner.settle(this, result, { reqId: request?.reqId, method: request?.method, ...detail }, differences);
  }

  #releaseSlot(): void {
    if (!this.#holdsSlot) return;
    this.#holdsSlot = false;
    this.#owner.release();
  }
}

/** The upstream headers (which never carry a client's own marker: forward-headers drops it) plus the shadow marker. */
export function markAsShadow(headers: readonly string[]): string[] {
  return [...headers, SHADOW_HEADER, '1'];
}

function sendCopy(copy: ShadowCopy, body: Buffer | null): void {
  copy.dispatch(body);
}

/**
 * Passes the request body through to the primary unchanged, keeping a copy up to `limit` bytes; past the limit the
 * copy is dropped at once (and the shadow given up), the primary goes on.
 */
class BodyTee extends Transform {
  readonly #copy: ShadowCopy;
  readonly #limit: number;
  #chunks: Buffer[] | null = [];
  #bytes = 0;
  ended = false;

  constructor(copy: ShadowCopy, limit: number) {
    super();
    this.#copy = copy;
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#chunks !== null) {
      this.#bytes += chunk.length;
      if (this.#bytes > this.#limit) {
        this.#chunks = null;
        this.#copy.giveUp('body_too_large');
      } else {
        this.#chunks.push(chunk);
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.ended = true;
    const chunks = this.#chunks;
    this.#chunks = null;
    if (chunks !== null) this.#copy.bodyComplete(Buffer.concat(chunks, this.#bytes));
    callback();
  }
}
