// The legacy adapter on the request path: the I/O around the pure translation engine (src/core/adapter/). A request
// whose route names an `adapter` and whose decision sends it to the service is translated on its way there and its
// answer on its way back; everything else never reaches this file (the hook in edge-server.ts is one lookup).
//
// - Path, query, method and headers are translated without touching the body: a request or answer whose body the
//   operation does not translate streams through exactly as unadapted traffic does (CSV exports, SSE).
// - A JSON body the operation translates is buffered up to the adapter's maxBodyBytes, decoded from gzip/deflate/br,
//   translated, and encoded again in the coding it came in. Beyond the limit: `oversize: reject` answers 413
//   (request) or 502 (answer) `RF_ADAPTER_*_TOO_LARGE`; `oversize: pass` sends the body on untranslated.
// - A client request body that is not JSON goes to the service as it is: rejecting bad input is the service's job,
//   and its error is translated like any other.
// - Bytes-derived headers are recomputed (Content-Length) or dropped (Content-MD5, Digest, Content-Digest,
//   Repr-Digest); ETags are derived from the service's and turned back on the way in (core/adapter/etag.ts), so
//   If-None-Match and If-Match reach the service and its own 304/412 answer v1 clients.
// - Any failure (an operation throws, a body that should be JSON is not, a mapping finds no value, no operation
//   describes the request) answers 502 `RF_ADAPTER_FAILED` naming route, adapter and rule, is logged
//   (`adapter.failed`) and counted (`rf_edge_adapter_errors_total{route,adapter,rule}`); the request's outcome is
//   then a 502 of the service, which the judge counts against it like any other service error.

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { RouteTable } from '../config/types.ts';
import {
  type AdapterPlan,
  type MatchedOperation,
  matchOperation,
  translateRequest,
  translateResponse,
} from '../core/adapter/compile.ts';
import { deriveEtag, serviceEtags } from '../core/adapter/etag.ts';
import { formatQuery, headerValue, parseQuery, withoutHeaders } from '../core/adapter/field-rules.ts';
import { AdapterFailure, type AdapterRequest, type JsonValue, type OversizePolicy } from '../core/adapter/types.ts';
import { EdgeError } from '../core/errors.ts';
import type { Decision } from '../core/types.ts';
import { BodyTooLarge, type Coding, codingOf, decodeBody, encodeBody, isJsonType, parseJson } from './adapter-body.ts';
import type { Admitted } from './admission.ts';
import {
  type BodySource,
  type ForwardSink,
  type ForwardTarget,
  forward,
  type UpstreamCall,
  type UpstreamDispatcher,
} from './forward.ts';
import type { EdgeRequestState } from './request-state.ts';
import type { ClientRelay } from './response-writer.ts';

/** The loaded adapters by name (legacy-adapter/<name>.yaml or .ts), as the app's adapter loader keeps them. */
export interface AdapterSource {
  get(name: string): AdapterPlan | undefined;
}

export interface AdapterRuntimeOptions {
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** Read per request: a reload swaps what it returns. */
  readonly adapters: () => AdapterSource;
}

/** Headers that describe the bytes of a body: wrong once the body is re-serialised. */
const BYTES_HEADERS = new Set([
  'content-length',
  'content-md5',
  'digest',
  'content-digest',
  'repr-digest',
  'transfer-encoding',
]);
const CONDITIONAL = new Set(['if-none-match', 'if-match']);

/** The client's request, split for the engine: what an operation sees before translating. */
/** A shadow copy's request as the service must get it, and the translation of its answer (null: it failed). */
export interface ShadowAdaptation {
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  translate(
    status: number,
    headers: readonly string[],
    body: Buffer,
  ): { status: number; headers: readonly string[]; body: Buffer } | null;
  /** The copied request body translated (as the client's would be); the bytes as they were when not JSON. */
  translateBody(body: Buffer): Buffer;
}

/** A route's adapter: its name, and the route's own oversize choice (null: the adapter's). */
export interface AdaptedRoute {
  readonly name: string;
  readonly oversize: OversizePolicy | null;
}

export interface ClientRequest {
  readonly request: AdapterRequest;
  readonly match: MatchedOperation;
  readonly plan: AdapterPlan;
  readonly name: string;
  /** Beyond maxBodyBytes: the route's choice, else the adapter's. */
  readonly oversize: OversizePolicy;
}

export class AdapterRuntime {
  readonly #log: Logger;
  readonly #metrics: EdgeMetrics;
  readonly #adapters: () => AdapterSource;
  readonly #byTable = new WeakMap<RouteTable, ReadonlyMap<string, AdaptedRoute>>();
  readonly #counters = new Map<string, { inc(): void }>();

  constructor(options: AdapterRuntimeOptions) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#adapters = options.adapters;
  }

  /** The adapter a decision must go through: its route names one and the request goes to the service. */
  adapterFor(table: RouteTable, decision: Decision | null): AdaptedRoute | null {
    if (decision === null || decision.target !== 'service' || decision.routeId === null) return null;
    let byRoute = this.#byTable.get(table);
    if (byRoute === undefined) {
      byRoute = new Map(
        table.routes.flatMap((r) =>
          r.adapter === null ? [] : [[r.id, { name: r.adapter, oversize: r.adapterOversize ?? null }] as const],
        ),
      );
      this.#byTable.set(table, byRoute);
    }
    return byRoute.get(decision.routeId) ?? null;
  }

  /** Forwards an admitted request through adapter `name`; the relay answers the client either way. */
  start(
    dispatcher: UpstreamDispatcher,
    state: EdgeRequestState,
    raw: IncomingMessage,
    relay: ClientRelay,
    admitted: Admitted,
    route: AdaptedRoute,
  ): void {
    const client = this.#client(state, raw, admitted.target, route);
    if (client instanceof EdgeError) {
      relay.fail(client);
      return;
    }
    const op = client.match.operation;
    const body = admitted.body;
    if (!op.translatesRequestBody || body === null || Buffer.isBuffer(body)) {
      this.#send(dispatcher, state, relay, admitted.target, client, body, null);
      return;
    }
    const max = client.plan.adapter.maxBodyBytes;
    const refuse = () =>
      relay.fail(
        this.#oversize(
          state,
          client,
          'request',
          new EdgeError('RF_ADAPTER_BODY_TOO_LARGE', `request body is larger than ${max} bytes`),
        ),
      );
    const declared = Number(raw.headers['content-length'] ?? Number.NaN);
    if (declared > max) {
      if (client.oversize === 'pass') this.#send(dispatcher, state, relay, admitted.target, client, body, null);
      else refuse();
      return;
    }
    readBounded(body, max).then(
      (read) => {
        if (read.complete) {
          this.#send(dispatcher, state, relay, admitted.target, client, read.bytes, read.bytes);
        } else if (client.oversize === 'pass') {
          this.#send(dispatcher, state, relay, admitted.target, client, Readable.from(replay(read.chunks, body)), null);
        } else {
          body.resume(); // let Node read and drop the rest, so the 413 reaches the client
          refuse();
        }
      },
      () => {
        // The client's upload broke off: nobody to answer, and nothing the service did.
      },
    );
  }

  /** The upgrade request's target through adapter `name` (path, query, headers), or the error to answer with. */
  upgradeTarget(
    state: EdgeRequestState,
    raw: IncomingMessage,
    target: ForwardTarget,
    route: AdaptedRoute,
  ): ForwardTarget | EdgeError {
    const client = this.#client(state, raw, target, route);
    if (client instanceof EdgeError) return client;
    try {
      const out = translateRequest(client.match, client.request);
      return {
        upstream: target.upstream,
        path: upstreamPath(target, out),
        headers: conditionalToService([...out.headers], client.plan.adapter.version),
      };
    } catch (err) {
      return this.#failure(state, client.name, err);
    }
  }

  /**
   * The shadow copy of a request on an adapted route (path, query, headers; the copy's body, if any, is sent as
   * the client wrote it), and how to translate the service's answer before it is compared with legacy's.
   * undefined: the route has no adapter; null: the copy cannot be translated (it is not sent).
   */
  shadowRequest(
    table: RouteTable,
    routeId: string,
    method: string,
    url: string,
    headers: string[],
  ): ShadowAdaptation | null | undefined {
    const route = this.adapterFor(table, { routeId, target: 'service' } as Decision);
    if (route === null) return undefined;
    const name = route.name;
    const plan = this.#adapters().get(name);
    if (plan === undefined) return null;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const match = matchOperation(plan, method, path);
    if (match === null) return null;
    const request: AdapterRequest = { method, path, query: parseQuery(q === -1 ? '' : url.slice(q + 1)), headers };
    const client: ClientRequest = { request, match, plan, name, oversize: route.oversize ?? plan.adapter.oversize };
    let out: AdapterRequest;
    try {
      out = translateRequest(match, request);
    } catch {
      return null;
    }
    const query = formatQuery(out.query);
    const translatesBody = match.operation.translatesRequestBody;
    const copyHeaders = conditionalToService([...out.headers], plan.adapter.version);
    return {
      method: out.method,
      path: out.path + (query === '' ? '' : `?${query}`),
      // A translated body has another length: undici frames the Buffer itself.
      headers: translatesBody ? withoutHeaders(copyHeaders, BYTES_HEADERS) : copyHeaders,
      translateBody: (bytes) => {
        if (!translatesBody) return bytes;
        try {
          const parsed = parseRequestBody(request, bytes, plan.adapter.maxBodyBytes);
          if (parsed === null) return bytes;
          const body = translateRequest(match, parsed.request).body;
          return body === undefined ? bytes : encodeBody(Buffer.from(JSON.stringify(body), 'utf8'), parsed.coding);
        } catch {
          return bytes;
        }
      },
      translate: (status, rawHeaders, body) => {
        try {
          const answer = translateWhole(client, status, rawHeaders, body);
          return { status: answer.status, headers: answer.headers, body: answer.bytes ?? body };
        } catch (err) {
          const rule = err instanceof AdapterFailure ? err.rule : `${match.operation.name}.response.maxBodyBytes`;
          this.#counter(routeId, name, rule).inc();
          return null;
        }
      },
    };
  }

  #client(
    state: EdgeRequestState,
    raw: IncomingMessage,
    target: ForwardTarget,
    route: AdaptedRoute,
  ): ClientRequest | EdgeError {
    const name = route.name;
    const plan = this.#adapters().get(name);
    if (plan === undefined)
      return this.#failure(state, name, new AdapterFailure('load', `adapter "${name}" is not loaded`));
    const url = (raw as IncomingMessage & { originalUrl?: string }).originalUrl ?? raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const match = matchOperation(plan, state.method, path);
    if (match === null) {
      return this.#failure(state, name, new AdapterFailure('match', `no operation describes ${state.method} ${path}`));
    }
    const request: AdapterRequest = {
      method: state.method,
      path,
      query: parseQuery(q === -1 ? '' : url.slice(q + 1)),
      headers: target.headers,
    };
    return { request, match, plan, name, oversize: route.oversize ?? plan.adapter.oversize };
  }

  /** Translates the request (with its parsed body when `bytes` is given) and forwards it. */
  #send(
    dispatcher: UpstreamDispatcher,
    state: EdgeRequestState,
    relay: ClientRelay,
    target: ForwardTarget,
    client: ClientRequest,
    body: BodySource,
    bytes: Buffer | null,
  ): void {
    const parsed = bytes === null ? null : parseRequestBody(client.request, bytes, client.plan.adapter.maxBodyBytes);
    const request = parsed?.request ?? client.request;
    const coding = parsed?.coding ?? null;
    let out: AdapterRequest;
    try {
      out = translateRequest(client.match, request);
    } catch (err) {
      relay.fail(this.#failure(state, client.name, err));
      return;
    }
    const version = client.plan.adapter.version;
    let headers = conditionalToService([...out.headers], version);
    let sent: BodySource = body;
    if (coding !== null && out.body !== undefined) {
      sent = encodeBody(Buffer.from(JSON.stringify(out.body), 'utf8'), coding);
      headers = withoutHeaders(headers, BYTES_HEADERS);
    }
    // A HEAD whose answer is translated is asked as GET: the client's Content-Length is that of the translated body.
    const headOnly = state.method === 'HEAD' && client.match.operation.translatesResponseBody(200);
    const method = headOnly ? 'GET' : out.method;
    const upstream: ForwardTarget = { upstream: target.upstream, path: upstreamPath(target, out), headers };
    const sink = new AdaptedSink(this, state, relay, client, headOnly);
    state.sentAt = performance.now();
    relay.call = forward(dispatcher, method, upstream, sent, sink);
  }

  #oversize(state: EdgeRequestState, client: ClientRequest, side: string, err: EdgeError): EdgeError {
    this.#count(state, client.name, `${client.match.operation.name}.${side}.maxBodyBytes`, err);
    return err;
  }

  /** Logs and counts a translation failure; returns the 502 to answer with. */
  #failure(state: EdgeRequestState, name: string, err: unknown): EdgeError {
    const rule = err instanceof AdapterFailure ? err.rule : 'internal';
    const route = state.decision?.routeId ?? '-';
    const message = err instanceof Error ? err.message : String(err);
    const edgeErr = new EdgeError(
      'RF_ADAPTER_FAILED',
      `route "${route}", adapter "${name}", rule "${rule}": ${message}`,
      {
        cause: err,
        details: { route, adapter: name, rule },
      },
    );
    this.#count(state, name, rule, err);
    return edgeErr;
  }

  /** Exposed to the sink (same module). */
  failure(state: EdgeRequestState, name: string, err: unknown): EdgeError {
    return this.#failure(state, name, err);
  }

  oversize(state: EdgeRequestState, client: ClientRequest, err: EdgeError): EdgeError {
    return this.#oversize(state, client, 'response', err);
  }

  #counter(route: string, adapter: string, rule: string): { inc(): void } {
    const key = `${route}\u0000${adapter}\u0000${rule}`;
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      counter = this.#metrics.adapterErrors.labels(route, adapter, rule);
      this.#counters.set(key, counter);
    }
    return counter;
  }

  #count(state: EdgeRequestState, adapter: string, rule: string, err: unknown): void {
    const route = state.decision?.routeId ?? '-';
    this.#counter(route, adapter, rule).inc();
    this.#log.warn(
      { event: 'adapter.failed', reqId: state.id, route, adapter, rule, err },
      `adapter "${adapter}" could not translate ${state.method} ${state.path} (rule ${rule})`,
    );
  }
}

/** Receives the service's answer for an adapted request and hands the client its translation (via the relay). */
class AdaptedSink implements ForwardSink {
  readonly #runtime: AdapterRuntime;
  readonly #state: EdgeRequestState;
  readonly #relay: ClientRelay;
  readonly #client: ClientRequest;
  readonly #headOnly: boolean;
  /** Streaming: the answer goes through untranslated but for its head. */
  #through = false;
  #headWritten = false;
  #status = 0;
  #statusText = '';
  #headers: string[] = [];
  #chunks: Buffer[] = [];
  #size = 0;
  #failed = false;

  constructor(
    runtime: AdapterRuntime,
    state: EdgeRequestState,
    relay: ClientRelay,
    client: ClientRequest,
    headOnly: boolean,
  ) {
    this.#runtime = runtime;
    this.#state = state;
    this.#relay = relay;
    this.#client = client;
    this.#headOnly = headOnly;
  }

  onHead(call: UpstreamCall, status: number, statusText: string, rawHeaders: string[]): void {
    const op = this.#client.match.operation;
    const noBody = status === 204 || status === 304 || (this.#state.method === 'HEAD' && !this.#headOnly);
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = rawHeaders;
    if (noBody || !op.translatesResponseBody(status)) {
      this.#through = true;
      this.#write(call, null);
      return;
    }
    // Whether the body is JSON in a known coding is checked once it is in (an empty body needs no translating).
    const declared = Number(headerValue(rawHeaders, 'content-length') ?? Number.NaN);
    if (declared > this.#client.plan.adapter.maxBodyBytes) this.#tooLarge(call);
  }

  onData(call: UpstreamCall, chunk: Buffer): boolean {
    if (this.#failed) return true;
    if (this.#through) return this.#relay.onData(call, chunk);
    this.#size += chunk.length;
    this.#chunks.push(chunk);
    if (this.#size > this.#client.plan.adapter.maxBodyBytes) this.#tooLarge(call);
    return true;
  }

  onEnd(call: UpstreamCall): void {
    if (this.#failed) return;
    if (this.#through) {
      this.#relay.onEnd();
      return;
    }
    this.#write(call, Buffer.concat(this.#chunks, this.#size));
  }

  onError(call: UpstreamCall, err: Error, afterHead: boolean): void {
    if (this.#failed) return;
    // Until the translated head is written the client has nothing: a failure mid-buffer is a clean 502/504.
    this.#relay.onError(call, err, afterHead && this.#headWritten);
  }

  /** Translates the answer (the head only when `raw` is null: the body then streams through) and writes it. */
  #write(call: UpstreamCall, raw: Buffer | null): void {
    let out: WholeAnswer;
    try {
      out = translateWhole(this.#client, this.#status, this.#headers, raw);
    } catch (err) {
      if (err instanceof BodyTooLarge) this.#tooLarge(call);
      else this.#fail(call, this.#runtime.failure(this.#state, this.#client.name, err));
      return;
    }
    this.#headWritten = true;
    this.#relay.onHead(call, out.status, out.status === this.#status ? this.#statusText : '', out.headers);
    if (out.bytes === null) return;
    if (out.bytes.length > 0) this.#relay.onData(call, out.bytes);
    this.#relay.onEnd();
  }

  #tooLarge(call: UpstreamCall): void {
    const adapter = this.#client.plan.adapter;
    if (this.#client.oversize === 'pass') {
      // Past the limit: the answer goes on untranslated but for its head (status, headers), chunks so far first.
      this.#through = true;
      const chunks = this.#chunks;
      this.#chunks = [];
      this.#write(call, null);
      for (const chunk of chunks) this.#relay.onData(call, chunk);
      return;
    }
    const err = new EdgeError(
      'RF_ADAPTER_RESPONSE_TOO_LARGE',
      `the service's answer is larger than ${adapter.maxBodyBytes} bytes`,
    );
    this.#fail(call, this.#runtime.oversize(this.#state, this.#client, err));
  }

  #fail(call: UpstreamCall, err: EdgeError): void {
    this.#failed = true;
    this.#chunks = [];
    call.abort(err);
    this.#relay.fail(err);
  }
}

interface WholeAnswer {
  readonly status: number;
  readonly headers: string[];
  /** The body to send; null when it streams through (only the head was translated). */
  readonly bytes: Buffer | null;
}

/**
 * The service's answer as the v1 client gets it: status, headers (derived ETag; Content-Length, digests recomputed or
 * dropped) and, when the operation translates this status's body, the body decoded, translated and encoded again.
 * `raw` null: the head only. Throws AdapterFailure (the rule) or BodyTooLarge (decoded past maxBodyBytes).
 */
export function translateWhole(
  client: ClientRequest,
  status: number,
  rawHeaders: readonly string[],
  raw: Buffer | null,
): WholeAnswer {
  const { match, request, plan } = client;
  const op = match.operation;
  const translating = raw !== null && raw.length > 0 && op.translatesResponseBody(status);
  let json: JsonValue | undefined;
  let coding: Coding | null = 'identity';
  if (translating) {
    const rule = `${op.name}.response.body`;
    coding = codingOf(headerValue(rawHeaders, 'content-encoding'));
    if (coding === null || !isJsonType(headerValue(rawHeaders, 'content-type'))) {
      throw new AdapterFailure(
        rule,
        `the service's ${status} answer is ${coding === null ? 'in an unknown content-coding' : 'not JSON'}`,
      );
    }
    let decoded: Buffer;
    try {
      decoded = decodeBody(raw, coding, plan.adapter.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) throw err;
      throw new AdapterFailure(rule, `the service's body cannot be decoded (${coding})`, { cause: err });
    }
    json = parseJson(decoded);
    if (json === undefined) throw new AdapterFailure(rule, `the service's ${status} answer is not valid JSON`);
  }
  const out = translateResponse(match, { status, headers: rawHeaders, body: json }, { request, params: match.params });
  let headers = etagsToClient([...out.headers], plan.adapter.version);
  let bytes = raw;
  if (translating && coding !== null && out.body !== undefined) {
    bytes = encodeBody(Buffer.from(JSON.stringify(out.body), 'utf8'), coding);
    headers = withoutHeaders(headers, BYTES_HEADERS);
    headers.push('content-length', String(bytes.length));
  }
  return { status: out.status, headers, bytes };
}

/**
 * The request with its JSON body parsed (decoded from its content-coding), or null when the body is not JSON in a
 * known coding: the service then gets the bytes as the client sent them, and judges them.
 */
function parseRequestBody(
  request: AdapterRequest,
  bytes: Buffer,
  max: number,
): { request: AdapterRequest; coding: Coding } | null {
  if (!isJsonType(headerValue(request.headers, 'content-type'))) return null;
  const coding = codingOf(headerValue(request.headers, 'content-encoding'));
  if (coding === null) return null;
  let json: JsonValue | undefined;
  try {
    json = parseJson(decodeBody(bytes, coding, max));
  } catch {
    return null;
  }
  return json === undefined ? null : { request: { ...request, body: json }, coding };
}

function upstreamPath(target: ForwardTarget, out: AdapterRequest): string {
  const query = formatQuery(out.query);
  return target.upstream.basePath + out.path + (query === '' ? '' : `?${query}`);
}

/** If-None-Match / If-Match with the edge's derived tags turned back into the service's. */
function conditionalToService(headers: string[], version: string): string[] {
  for (let i = 0; i < headers.length; i += 2) {
    if (CONDITIONAL.has((headers[i] as string).toLowerCase()))
      headers[i + 1] = serviceEtags(headers[i + 1] as string, version);
  }
  return headers;
}

/** The service's ETag turned into the edge's derived tag (dropped when unparseable). */
function etagsToClient(headers: string[], version: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    let value = headers[i + 1] as string;
    if (name.length === 4 && name.toLowerCase() === 'etag') {
      const derived = deriveEtag(value, version);
      if (derived === null) continue;
      value = derived;
    }
    out.push(name, value);
  }
  return out;
}

type BoundedRead =
  | { readonly complete: true; readonly bytes: Buffer }
  | { readonly complete: false; readonly chunks: Buffer[] };

/** Reads a stream whole, or stops (paused) once it passes `max` bytes, keeping what it read. */
function readBounded(stream: Readable, max: number): Promise<BoundedRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) {
        stream.pause();
        cleanup();
        resolve({ complete: false, chunks });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ complete: true, bytes: Buffer.concat(chunks, size) });
    };
    const onError = (err?: unknown) => {
      cleanup();
      reject(err instanceof Error ? err : new Error('request body aborted'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onError);
  });
}

async function* replay(chunks: readonly Buffer[], rest: Readable): AsyncGenerator<Buffer> {
  yield* chunks;
  for await (const chunk of rest) yield chunk as Buffer;
}
