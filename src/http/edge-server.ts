// The edge listener: every request, whatever its method and path, is checked (URL length, path safety, framing),
// decided ONCE (route, target, reason — stored on the request for the proxy, the log line, the metrics and the
// judge's outcome alike) and forwarded with @fastify/reply-from over per-upstream undici pools, streaming both ways.
//
// Fastify is used for its request lifecycle and reply-from, not for routing or body parsing:
// - rewriteUrl sends every request to one route, so find-my-way never decodes, normalises or length-limits the
//   path (the edge matches on path-safety's normalised path itself, in `decide`);
// - every method is registered as body-less, so fastify never parses (or 415s) a body: the client's stream goes to
//   undici as it arrives;
// - the upstream's answer is written on the hijacked reply from undici's raw header list, so status line, header
//   names, order and repeats reach the client as the upstream sent them, and its body is piped back as it arrives.
// maxHeaderSize is fixed when the server starts (Node reads it once): a hot reload of `limits.maxHeaderBytes` applies
// at the next restart; `limits.maxUrlLength` applies at once.

import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import replyFrom, { type FastifyReplyFromHooks } from '@fastify/reply-from';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { RouteTable, UpstreamConfig } from '../config/types.ts';
import { compileTrustedProxies, normalizeIp, resolveClientIp, type TrustedProxies } from '../core/client-ip.ts';
import { EdgeError } from '../core/errors.ts';
import { checkHeaders, checkRequestTarget } from '../core/path-safety.ts';
import type { Decision, Outcome, RequestFacts, Target } from '../core/types.ts';
import {
  buildClientHeaders,
  buildUpstreamHeaders,
  type LocationRewrite,
  readCookie,
  saneRequestId,
} from './forward-headers.ts';
import { compileShadowRoutes, type ShadowCopy, type ShadowRoute, ShadowTraffic } from './shadow-traffic.ts';
import { proxyUpgrade, writeErrorHead } from './upgrade-proxy.ts';
import {
  classifyUpstreamError,
  FORWARD_PLAN,
  ForwardPlan,
  type UpstreamErrorKind,
  UpstreamPools,
} from './upstream-pools.ts';

/** What the edge needs per request, built once per loaded route table by the app wiring. */
export interface EdgeRouting {
  readonly table: RouteTable;
  decide(facts: RequestFacts, override: Target | null): Decision;
}

export interface EdgeServerOptions {
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** The current routing; swapped atomically on hot reload (the edge notices the new object on the next request). */
  readonly routing: () => EdgeRouting;
  /** Feeds the judge's window; must be cheap and never throw. */
  readonly recordOutcome: (outcome: Outcome) => void;
  /** Signed QA override; absent when no secret is configured (override header/cookie then only get stripped). */
  readonly verifyOverride?: ((token: string) => Target | null) | undefined;
  /** How long close() lets in-flight requests finish before cutting them off. Default 10 s. */
  readonly shutdownTimeoutMs?: number | undefined;
  /** Shadow copies in flight at once (beyond: not copied, counted `skipped`). Default 64. */
  readonly shadowMaxInFlight?: number | undefined;
}

export interface EdgeServer {
  readonly app: FastifyInstance;
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Stops accepting, drains in-flight requests (bounded by shutdownTimeoutMs), closes every socket and pool. */
  close(): Promise<void>;
  /** HTTP requests being answered plus open WebSocket tunnels. */
  inFlight(): number;
}

/** Per upstream, everything the hot path needs, computed once per route table. */
interface UpstreamPlan {
  readonly config: UpstreamConfig;
  /** What reply-from is given as source: constant, so its URL cache always hits (the real path rides in the plan). */
  readonly source: string;
  /** Host header for the upstream; null = the client's (policy `preserve`). */
  readonly host: string | null;
  /** Set when `rewriteLocation` is on. */
  readonly location: Omit<LocationRewrite, 'clientOrigin'> | null;
}

/** A route table compiled for the hot path. */
interface TablePlan {
  readonly routing: EdgeRouting;
  readonly trusted: TrustedProxies;
  readonly upstreams: ReadonlyMap<string, UpstreamPlan>;
  readonly overrideHeader: string;
  readonly overrideCookie: string;
  readonly maxUrlLength: number;
  /** By route id: where and what a shadow decision copies. */
  readonly shadowRoutes: ReadonlyMap<string, ShadowRoute>;
}

/** The request's own record, on `request.edge`: the one decision, and what the log line and outcome are made of. */
export class EdgeRequestState {
  readonly start: number;
  readonly id: string;
  readonly method: string;
  readonly socket: TaggedSocket;
  /** Raw path without the query (the query may hold secrets: it is not logged). */
  path = '-';
  decision: Decision | null = null;
  upstream: UpstreamPlan | null = null;
  forward: ForwardPlan | null = null;
  /** Client-facing `proto://host`, for Location rewriting. */
  clientOrigin = '';
  /** The upstream response body while it streams (its `errored` tells an upstream failure from a client abort). */
  body: Readable | null = null;
  /** Set when the upstream failed (before or during the response). */
  upstreamError: { readonly kind: UpstreamErrorKind; readonly err: unknown } | null = null;
  /** Why the edge refused the request itself (path-safety reason, uri_too_long…). */
  rejected: string | null = null;
  /** The copy sent to the service when the decision says shadow (and the request qualifies). */
  shadow: ShadowCopy | null = null;
  bytesAtStart: number;
  done = false;
  /** performance.now() when the request went to the upstream, and when its response headers came back. */
  sentAt: number | null = null;
  headersAt: number | null = null;

  constructor(start: number, id: string, method: string, socket: TaggedSocket) {
    this.start = start;
    this.id = id;
    this.method = method;
    this.socket = socket;
    this.bytesAtStart = socket.bytesWritten;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    edge: EdgeRequestState | null;
  }
}

/** Methods Node's parser accepts. CONNECT is a forward-proxy verb: Node hands it to a 'connect' listener, not here. */
const METHODS = http.METHODS.filter((m) => m !== 'CONNECT');

// Per-object slots, so that shared functions (no closure per request) find what they need.
const STATE = Symbol('rf-edge.request-state');
const PEER = Symbol('rf-edge.peer');
const BUSY = Symbol('rf-edge.busy');
const RESPONSE = Symbol('rf-edge.response');

type TaggedResponse = ServerResponse & { [STATE]?: EdgeRequestState };
type TaggedBody = Readable & { [RESPONSE]?: ServerResponse };
type TaggedSocket = Socket & { [PEER]?: PeerInfo; [BUSY]?: number };

/** The client closed its side: its request body broke off, or its connection is gone. */
function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || (!req.complete && (req.destroyed || req.socket.destroyed));
}

/**
 * `proto://host` as the client addressed the edge: what a trusted proxy in front reports (it may have terminated
 * TLS), else this hop's own view. '' when the client sent no Host: Location is then left alone.
 */
function clientOrigin(headers: http.IncomingHttpHeaders, peerTrusted: boolean): string {
  const forwardedProto = peerTrusted ? headers['x-forwarded-proto'] : undefined;
  const forwardedHost = peerTrusted ? headers['x-forwarded-host'] : undefined;
  const proto = typeof forwardedProto === 'string' ? forwardedProto.split(',')[0]!.trim() : 'http';
  const host = typeof forwardedHost === 'string' ? forwardedHost.split(',')[0]!.trim() : headers.host;
  return host === undefined || host === '' ? '' : `${proto}://${host}`;
}

function onUpstreamBodyError(this: TaggedBody): void {
  this[RESPONSE]?.destroy();
}

/** The TCP peer of a connection, judged once per connection and route table (keep-alive makes that most requests). */
interface PeerInfo {
  readonly plan: TablePlan;
  readonly ip: string;
  readonly trusted: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function ignore(): void {}

const NO_HEADERS: http.IncomingHttpHeaders = Object.freeze({}) as http.IncomingHttpHeaders;

export async function createEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const { log, metrics, recordOutcome } = options;
  const verifyOverride = options.verifyOverride ?? null;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const pools = new UpstreamPools(log);
  const requestMetrics = new RequestMetricCache(metrics);
  const decisionCounters = new Map<string, { inc(): void }>();
  const shadows = new ShadowTraffic({ log, metrics, recordOutcome, maxInFlight: options.shadowMaxInFlight });

  let lastRouting: EdgeRouting | null = null;
  let lastPlan: TablePlan | null = null;
  let lastTable: RouteTable | null = null;

  function currentPlan(): TablePlan {
    const routing = options.routing();
    if (routing === lastRouting && lastPlan !== null) return lastPlan;
    const plan = compileTablePlan(routing, log);
    if (routing.table !== lastTable) {
      pools.useTable(routing.table);
      shadows.useTable(routing.table);
    }
    lastRouting = routing;
    lastTable = routing.table;
    lastPlan = plan;
    return plan;
  }

  const initial = currentPlan();
  let draining = false;
  /** Requests being answered, including upgrade handshakes not yet switched. */
  let active = 0;
  const sockets = new Set<TaggedSocket>();
  const tunnels = new Set<Duplex>();
  const idleWaiters: Array<() => void> = [];
  function requestEnded(): void {
    active--;
    if (draining && active === 0) for (const wake of idleWaiters.splice(0)) wake();
  }

  const serverFactory = (handler: http.RequestListener) => {
    const server = http.createServer(
      {
        maxHeaderSize: initial.routing.table.limits.maxHeaderBytes,
        // Uploads and downloads through a proxy can be long; the upstream's timeouts bound the waiting instead.
        requestTimeout: 0,
        noDelay: true,
      },
      handler,
    );
    server.keepAliveTimeout = 72_000;
    server.on('connection', (socket: TaggedSocket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.on('upgrade', onUpgrade);
    return server;
  };

  const app = Fastify({
    // No fastify logger at all: the edge writes its own single line per request (a child logger per request costs).
    logger: false,
    serverFactory,
    exposeHeadRoutes: false,
    // Requests arriving on open connections while draining are still served (with `Connection: close`): a 503
    // there would fail a request the edge accepted.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    genReqId: (req) => saneRequestId(req.headers['x-request-id']) ?? randomUUID(),
    rewriteUrl: () => '/',
    clientErrorHandler: onClientError,
  });

  for (const method of METHODS) {
    if (method === 'GET' || method === 'HEAD' || method === 'TRACE') continue;
    app.addHttpMethod(method, { hasBody: false, overrideExisting: true });
  }
  app.decorateRequest('edge', null);
  await app.register(replyFrom, {
    // UpstreamPools' dispatcher only implements `request`, which is all reply-from calls on an undici instance.
    undici: pools.dispatcher as unknown as { request: import('undici').Dispatcher['request'] },
    disableRequestLogging: true,
    destroyAgent: false,
  });

  const fromOptions: FastifyReplyFromHooks = {
    // reply-from retries a GET answered 503 up to 10 times by default (and `maxRetriesOn503: 0` reads as 10): that
    // would hide a failing service from the judge. No retries, ever.
    retryDelay: () => null,
    rewriteRequestHeaders: (request) =>
      ({ [FORWARD_PLAN]: request.edge?.forward }) as unknown as http.IncomingHttpHeaders,
    // The response is written by onResponse from the raw headers; fastify's reply headers stay unused.
    rewriteHeaders: () => NO_HEADERS,
    onResponse: (request, reply, res) => {
      const state = request.edge;
      if (state) state.headersAt = performance.now();
      const plan = state?.forward;
      if (!state || !plan) {
        res.stream.destroy();
        reply.code(500).send();
        return;
      }
      // With `responseHeaders: 'raw'` (upstream-pools) reply-from's `headers` is undici's flat raw list.
      const answer = res as unknown as { statusCode: number; headers: string[]; stream: Readable };
      writeUpstreamResponse(state, plan, reply as FastifyReply, answer.statusCode, answer.headers, answer.stream);
    },
    onError: (reply, { error }) => {
      const state = reply.request.edge;
      const { kind, code } = classifyUpstreamError(error);
      const cause = (error as { cause?: unknown }).cause ?? error;
      const edgeErr = new EdgeError(code, undefined, { cause });
      if (!state) {
        reply.code(edgeErr.status).send(JSON.stringify(edgeErr.toJSON()));
        return;
      }
      // A client that went away mid-upload fails the upstream request too (its body stream broke): that is not
      // the upstream's failure, and must not count against it in the judge's window.
      if (clientGone(reply.request.raw as IncomingMessage, reply.raw as ServerResponse)) return;
      state.upstreamError = { kind, err: cause };
      sendError(reply as FastifyReply, state, edgeErr);
    },
  };

  app.route({ method: METHODS, url: '/', handler: handle });

  app.setErrorHandler((err, request, reply) => {
    const state = request.edge;
    const edgeErr = err instanceof EdgeError ? err : new EdgeError('RF_INTERNAL', undefined, { cause: err });
    log.error({ event: 'request.failed', reqId: state?.id, err }, 'the edge failed to handle a request');
    if (state) sendError(reply, state, edgeErr);
    else reply.code(edgeErr.status).header('content-type', JSON_TYPE).send(JSON.stringify(edgeErr.toJSON()));
  });

  /**
   * Writes the upstream's answer to the client as it came: status and reason phrase, the raw header list (names in
   * their case and order, minus hop-by-hop fields), and the body streamed with backpressure. fastify's reply is
   * bypassed (hijacked) for this, since it lower-cases header names and re-orders nothing it does not know.
   */
  function writeUpstreamResponse(
    state: EdgeRequestState,
    plan: ForwardPlan,
    reply: FastifyReply,
    status: number,
    rawHeaders: string[],
    body: Readable,
  ): void {
    state.body = body;
    if (reply.raw.destroyed) {
      // The client left while the upstream was still thinking: nobody to relay the answer to.
      body.on('error', ignore);
      body.destroy();
      return;
    }
    const location = state.upstream?.location;
    const headers = buildClientHeaders(rawHeaders, {
      requestId: state.id,
      location: location && state.clientOrigin !== '' ? { ...location, clientOrigin: state.clientOrigin } : null,
      // An unread request body leaves the connection unusable for the next request (RFC 9112 §9.3).
      close: draining || !reply.request.raw.complete,
    });
    reply.hijack();
    const res = reply.raw;
    try {
      res.writeHead(status, plan.statusText === '' ? undefined : plan.statusText, headers);
    } catch (err) {
      // Node refuses to send what it considers invalid (a header value with a control character): the upstream's
      // answer cannot be relayed as is, which is the upstream's failure.
      body.on('error', ignore);
      body.destroy();
      state.upstreamError = { kind: 'other', err };
      res.removeHeader('content-length');
      const edgeErr = new EdgeError('RF_UPSTREAM_ERROR', 'upstream response could not be relayed', { cause: err });
      const text = JSON.stringify(edgeErr.toJSON());
      res.writeHead(edgeErr.status, { 'content-type': JSON_TYPE, 'x-request-id': state.id });
      res.end(text);
      return;
    }
    const bodyless = status === 204 || status === 304 || state.method === 'HEAD';
    // Before the body flows, so the shadow comparison hashes all of it.
    if (state.shadow !== null) state.shadow.primaryHead(status, rawHeaders, bodyless ? null : body);
    if (bodyless) {
      // No body by definition (RFC 9110 §9.3.2, §15.3.5, §15.4.5). A 304 may still carry the Content-Length of the
      // representation, which undici reports as a length mismatch once the (empty) message ends: not our concern.
      body.on('error', ignore);
      body.resume();
      res.end();
      return;
    }
    // Not stream.pipeline: it costs an AbortController and a DOMException per call. pipe() keeps backpressure; an
    // upstream body failing cuts the client connection (a cut body must not pass for a complete one), and a client
    // going away destroys the upstream body (onResponseClose).
    (body as TaggedBody)[RESPONSE] = res;
    body.on('error', onUpstreamBodyError);
    body.pipe(res);
  }

  function handle(request: FastifyRequest, reply: FastifyReply): void {
    const raw = request.raw;
    const res = reply.raw as TaggedResponse;
    const socket = raw.socket as TaggedSocket;
    const state = new EdgeRequestState(performance.now(), request.id, raw.method ?? 'GET', socket);
    request.edge = state;
    res[STATE] = state;
    // `on`, not `once`: 'close' comes once per response, and once() allocates a wrapper per call.
    res.on('close', onResponseClose);
    active++;
    socket[BUSY] = (socket[BUSY] ?? 0) + 1;

    const failure = prepare(raw, state, null);
    if (failure !== null) {
      sendError(reply, state, failure);
      return;
    }
    state.sentAt = performance.now();
    reply.from(state.upstream!.source, fromOptions);
  }

  /**
   * Everything before forwarding, shared by plain requests and upgrades: limits, path safety, framing, client IP,
   * override, the decision, and the forward plan. Returns the error to answer with, or null when ready to forward.
   */
  function prepare(raw: IncomingMessage, state: EdgeRequestState, upgrade: string | null): EdgeError | null {
    const url = (raw as IncomingMessage & { originalUrl?: string }).originalUrl ?? raw.url ?? '/';
    const plan = currentPlan();
    if (url.length > plan.maxUrlLength) {
      const q = url.indexOf('?');
      state.path = (q === -1 ? url : url.slice(0, q)).slice(0, 64);
      return refuse(state, 'uri_too_long', 'uri_too_long', new EdgeError('RF_URI_TOO_LONG'));
    }
    const target = checkRequestTarget(url);
    if (!target.ok) {
      const q = url.indexOf('?');
      state.path = (q === -1 ? url : url.slice(0, q)).slice(0, 256);
      return refuse(state, 'bad_path', target.reason, new EdgeError('RF_BAD_PATH', target.detail));
    }
    state.path = target.path;
    const framing = checkHeaders(raw.rawHeaders);
    if (framing !== null) {
      return refuse(
        state,
        'smuggling',
        framing.reason,
        new EdgeError('RF_BAD_REQUEST', `request framing refused: ${framing.reason}`),
      );
    }

    const headers = raw.headers;
    const peer = peerOf(state.socket, plan);
    const xff = headers['x-forwarded-for'];
    const clientIp =
      peer.trusted && xff !== undefined
        ? resolveClientIp(peer.ip, typeof xff === 'string' ? xff : xff.join(', '), plan.trusted)
        : peer.ip;
    let override: Target | null = null;
    if (verifyOverride !== null) {
      const fromHeader = headers[plan.overrideHeader];
      const token = typeof fromHeader === 'string' ? fromHeader : readCookie(headers.cookie, plan.overrideCookie);
      if (token !== null && token !== '') override = verifyOverride(token);
    }

    const decision = plan.routing.decide(
      { method: state.method, path: target.normalizedPath, headers, clientIp },
      override,
    );
    state.decision = decision;
    countDecision(decision);
    const upstream = plan.upstreams.get(decision.upstream);
    if (upstream === undefined) {
      return new EdgeError('RF_UPSTREAM_ERROR', `no upstream named "${decision.upstream}"`);
    }
    state.upstream = upstream;
    if (upstream.location !== null) state.clientOrigin = clientOrigin(headers, peer.trusted);
    const hasBody =
      upgrade === null &&
      (headers['transfer-encoding'] !== undefined ||
        (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
    let body: Readable | null = hasBody ? raw : null;
    if (decision.shadow) body = startShadow(raw, state, decision, plan, peer, url, body, upgrade);
    state.forward = new ForwardPlan(
      upstream.config,
      upstream.config.basePath + url,
      buildUpstreamHeaders(raw.rawHeaders, {
        host: upstream.host,
        peer: peer.ip,
        peerTrusted: peer.trusted,
        proto: 'http',
        requestId: state.id,
        overrideHeader: plan.overrideHeader,
        overrideCookie: plan.overrideCookie,
        upgrade,
      }),
      body,
    );
    return null;
  }

  /**
   * Sends the shadow copy of a request served by legacy (when its route copies this method and body); returns the
   * body stream the primary must send (the client's, or a pass-through keeping a copy of it).
   */
  function startShadow(
    raw: IncomingMessage,
    state: EdgeRequestState,
    decision: Decision,
    plan: TablePlan,
    peer: PeerInfo,
    url: string,
    body: Readable | null,
    upgrade: string | null,
  ): Readable | null {
    const routeId = decision.routeId ?? '-';
    if (upgrade !== null) {
      // A tunnel has no single answer to compare.
      shadows.skip(routeId, state.method, 'upgrade');
      return body;
    }
    const length = raw.headers['content-length'];
    const copy = shadows.begin(
      plan.shadowRoutes.get(routeId),
      routeId,
      state.method,
      body !== null,
      length === undefined ? null : Number.parseInt(length, 10),
    );
    if (copy === null) return body;
    state.shadow = copy;
    const route = copy.route;
    const headers = buildUpstreamHeaders(raw.rawHeaders, {
      host: route.host,
      peer: peer.ip,
      peerTrusted: peer.trusted,
      proto: 'http',
      requestId: `${state.id}-shadow`,
      overrideHeader: plan.overrideHeader,
      overrideCookie: plan.overrideCookie,
      upgrade: null,
    });
    const sent = copy.send(
      { reqId: state.id, method: state.method, path: route.upstream.basePath + url, headers },
      body === null ? null : raw,
    );
    return sent ?? body;
  }

  function refuse(state: EdgeRequestState, label: string, reason: string, err: EdgeError): EdgeError {
    metrics.rejectedRequests.inc({ reason: label });
    state.rejected = reason;
    return err;
  }

  function countDecision(decision: Decision): void {
    const route = decision.routeId ?? '-';
    const key = `${route}\u0000${decision.target}\u0000${decision.reason}`;
    let counter = decisionCounters.get(key);
    if (counter === undefined) {
      counter = metrics.decisions.labels(route, decision.target, decision.reason);
      decisionCounters.set(key, counter);
    }
    counter.inc();
  }

  function peerOf(socket: TaggedSocket, plan: TablePlan): PeerInfo {
    const cached = socket[PEER];
    if (cached !== undefined && cached.plan === plan) return cached;
    const ip = normalizeIp(socket.remoteAddress ?? '');
    const info: PeerInfo = { plan, ip, trusted: plan.trusted.contains(ip) };
    socket[PEER] = info;
    return info;
  }

  function sendError(reply: FastifyReply, state: EdgeRequestState, err: EdgeError): void {
    reply.code(err.status).header('content-type', JSON_TYPE).header('x-request-id', state.id);
    if (draining) reply.header('connection', 'close');
    reply.send(JSON.stringify(err.toJSON()));
  }

  function onResponseClose(this: TaggedResponse): void {
    const state = this[STATE];
    if (state === undefined) return;
    const socket = state.socket;
    socket[BUSY] = (socket[BUSY] ?? 1) - 1;
    let status = this.statusCode;
    let failed = !this.writableFinished;
    if (failed) state.body?.destroy();
    if (failed && state.upstreamError === null) {
      // The response was cut: by the upstream dying mid-body (its stream errored) or by the client going away
      // (the body was destroyed just above, which undici records as an abort).
      const bodyErr = state.body?.errored;
      if (bodyErr && (bodyErr as { code?: string }).code !== 'UND_ERR_ABORTED') {
        state.upstreamError = { kind: classifyUpstreamError(bodyErr).kind, err: bodyErr };
      }
    }
    if (state.upstreamError !== null) failed = true;
    if (!this.headersSent) status = 0;
    finish(state, status, failed, !this.writableFinished && state.upstreamError === null);
    if (draining) reapIfIdle(socket);
    requestEnded();
  }

  /** One log line, the request metrics, and the judge's outcome, for every request (plain or upgrade). */
  function finish(state: EdgeRequestState, status: number, failed: boolean, clientAborted: boolean): void {
    if (state.done) return;
    state.done = true;
    const durationMs = performance.now() - state.start;
    const decision = state.decision;
    const route = decision?.routeId ?? '-';
    const target = decision?.target ?? '-';
    const statusClass = failed || status === 0 ? 'error' : `${Math.floor(status / 100)}xx`;
    const upstreamError = state.upstreamError;
    if (upstreamError !== null) {
      metrics.upstreamErrors.inc({ upstream: state.upstream?.config.name ?? '-', kind: upstreamError.kind });
    }
    requestMetrics.observe(route, target, state.method, statusClass, durationMs / 1000);
    // Exactly one line per request; an upstream failure rides on it (at warn, with the error) instead of a second one.
    (upstreamError === null ? log.info : log.warn).call(
      log,
      {
        event: 'request',
        reqId: state.id,
        method: state.method,
        path: state.path,
        route,
        target,
        upstream: state.upstream?.config.name ?? '-',
        reason: decision?.reason ?? state.rejected ?? '-',
        status,
        durationMs: Math.round(durationMs * 100) / 100,
        bytesOut: state.socket.bytesWritten - state.bytesAtStart,
        ...(clientAborted ? { aborted: true } : {}),
        ...(state.rejected !== null ? { rejected: state.rejected } : {}),
        ...(upstreamError !== null ? { upstreamError: upstreamError.kind, err: upstreamError.err } : {}),
      },
      upstreamError === null ? 'request' : 'request failed upstream',
    );
    if (state.shadow !== null) state.shadow.primaryDone(!failed && !clientAborted && status !== 0);
    if (decision !== null && decision.routeId !== null && state.rejected === null) {
      // A client that went away says nothing about the upstream: no outcome then.
      if (upstreamError !== null) {
        safeRecord({
          routeId: decision.routeId,
          target: decision.target,
          status: 0,
          latencyMs: durationMs,
          transportError: true,
          at: Date.now(),
        });
      } else if (!clientAborted) {
        // The judge compares the upstream's own time (sent → response headers), not the edge's queueing or the
        // body's streaming.
        const upstreamMs =
          state.sentAt !== null && state.headersAt !== null ? state.headersAt - state.sentAt : undefined;
        safeRecord({
          routeId: decision.routeId,
          target: decision.target,
          status,
          latencyMs: durationMs,
          ...(upstreamMs !== undefined ? { upstreamMs } : {}),
          transportError: false,
          at: Date.now(),
        });
      }
    }
  }

  function safeRecord(outcome: Outcome): void {
    try {
      recordOutcome(outcome);
    } catch (err) {
      log.error({ event: 'outcome.record_failed', err }, 'recordOutcome threw; the outcome is lost');
    }
  }

  function onClientError(err: Error & { code?: string }, socket: Duplex): void {
    // A parse error while a response is under way (a bad chunk in a streamed upload) cannot get a response of its
    // own: the connection goes, and the request's own line reports it.
    if (err.code === 'ECONNRESET' || !socket.writable || ((socket as TaggedSocket)[BUSY] ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const state = new EdgeRequestState(performance.now(), randomUUID(), '-', socket as Socket);
    let edgeErr: EdgeError;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      edgeErr = refuse(state, 'headers_too_large', 'headers_too_large', new EdgeError('RF_HEADERS_TOO_LARGE'));
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
      return;
    } else {
      edgeErr = refuse(state, 'bad_request', err.code ?? 'parse_error', new EdgeError('RF_BAD_REQUEST', err.message));
    }
    writeErrorHead(socket, edgeErr, state.id);
    finish(state, edgeErr.status, false, false);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tagged = socket as TaggedSocket;
    const state = new EdgeRequestState(
      performance.now(),
      saneRequestId(req.headers['x-request-id']) ?? randomUUID(),
      req.method ?? 'GET',
      tagged,
    );
    if (draining) {
      writeErrorHead(socket, new EdgeError('RF_SHUTTING_DOWN'), state.id);
      finish(state, 503, false, false);
      return;
    }
    const upgrade = req.headers.upgrade ?? 'websocket';
    let failure: EdgeError | null;
    try {
      failure = prepare(req, state, upgrade);
    } catch (err) {
      // No fastify error handler on this path: a throwing `decide` must not take the process down.
      log.error({ event: 'request.failed', reqId: state.id, err }, 'the edge failed to handle an upgrade');
      failure = new EdgeError('RF_INTERNAL', undefined, { cause: err });
    }
    if (failure !== null) {
      writeErrorHead(socket, failure, state.id);
      finish(state, failure.status, false, false);
      return;
    }
    active++;
    const location = state.upstream?.location;
    const rewrite = location && state.clientOrigin !== '' ? { ...location, clientOrigin: state.clientOrigin } : null;
    proxyUpgrade(socket, head, state.forward!, state.method, state.id, rewrite, {
      onResponse(status) {
        finish(state, status, false, false);
      },
      onError(err, kind) {
        state.upstreamError = { kind, err: err.cause ?? err };
        finish(state, err.status, true, false);
      },
      onTunnel() {
        // Switched: from now on a tunnel, not a request the drain waits for.
        tunnels.add(socket);
        socket.once('close', () => tunnels.delete(socket));
        requestEnded();
      },
      onFailed() {
        finish(state, 0, false, true); // no-op when onResponse/onError already reported it
        requestEnded();
      },
    });
  }

  /** While draining, a keep-alive connection whose last response is done is closed, once its bytes are flushed. */
  function reapIfIdle(socket: TaggedSocket): void {
    if (socket.destroyed || (socket[BUSY] ?? 0) > 0 || tunnels.has(socket)) return;
    if (socket.writableLength > 0) {
      socket.once('drain', () => reapIfIdle(socket));
      return;
    }
    socket.destroy();
  }

  let closing: Promise<void> | null = null;
  async function drain(): Promise<void> {
    draining = true;
    // fastify.close(): the listener stops accepting and idle keep-alive sockets are closed at once; it resolves
    // when the last connection is gone.
    const appClosed = app.close();
    for (const socket of sockets) reapIfIdle(socket);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), shutdownTimeoutMs);
    });
    const requestsDone =
      active === 0 ? Promise.resolve(true) : new Promise<true>((r) => idleWaiters.push(() => r(true)));
    const inTime = await Promise.race([requestsDone, deadline]);
    if (!inTime) {
      log.warn({ event: 'edge.drain_timeout', cutOff: active, shutdownTimeoutMs }, 'in-flight requests cut off');
      for (const socket of sockets) socket.destroy();
    }
    // WebSocket tunnels have no natural end: they stay while HTTP requests finish, then go (clients reconnect).
    for (const tunnel of tunnels) tunnel.destroy();
    const closedInTime = await Promise.race([appClosed.then(() => true), deadline]);
    clearTimeout(timer);
    if (!closedInTime) {
      for (const socket of sockets) socket.destroy();
      await appClosed;
    }
    await Promise.all([pools.close(1000), shadows.close()]);
    log.info({ event: 'edge.closed', drainedInTime: inTime }, 'edge listener closed');
  }

  return {
    app,
    async listen(port: number, host: string) {
      await app.listen({ port, host });
      const address = app.server.address();
      return { port: typeof address === 'object' && address !== null ? address.port : port };
    },
    close() {
      closing ??= drain();
      return closing;
    },
    inFlight: () => active + tunnels.size,
  };
}

function compileTablePlan(routing: EdgeRouting, log: Logger): TablePlan {
  const table = routing.table;
  let trusted: TrustedProxies;
  try {
    trusted = compileTrustedProxies(table.trustedProxies);
  } catch (err) {
    // The loader validates the list; should an entry still not parse, trusting nobody is the safe reading.
    log.error({ event: 'config.trusted_proxies_invalid', err }, 'trustedProxies unusable; trusting no proxy');
    trusted = compileTrustedProxies([]);
  }
  const upstreams = new Map<string, UpstreamPlan>();
  for (const [name, config] of table.upstreams) {
    const origin = new URL(config.origin);
    upstreams.set(name, {
      config,
      source: `${config.origin}/`,
      host: config.host.kind === 'preserve' ? null : config.host.kind === 'upstream' ? origin.host : config.host.value,
      location: config.rewriteLocation ? { upstreamOrigin: config.origin, basePath: config.basePath } : null,
    });
  }
  return {
    routing,
    trusted,
    upstreams,
    overrideHeader: table.override.header.toLowerCase(),
    overrideCookie: table.override.cookie,
    maxUrlLength: table.limits.maxUrlLength,
    shadowRoutes: compileShadowRoutes(table, (u) => upstreams.get(u.name)?.host ?? null),
  };
}

/** Children of the per-request metrics, looked up by a string key instead of prom-client's label hashing. */
class RequestMetricCache {
  readonly #metrics: EdgeMetrics;
  readonly #children = new Map<string, { count: { inc(): void }; duration: { observe(v: number): void } }>();

  constructor(metrics: EdgeMetrics) {
    this.#metrics = metrics;
  }

  observe(route: string, target: string, method: string, statusClass: string, seconds: number): void {
    const key = `${route}\u0000${target}\u0000${method}\u0000${statusClass}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = {
        count: this.#metrics.requests.labels(route, target, method, statusClass),
        duration: this.#metrics.requestDuration.labels(route, target, method, statusClass),
      };
      this.#children.set(key, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }
}
