// The edge listener: every request, whatever its method and path, is admitted (URL length, path safety, framing),
// decided ONCE (route, target, reason — stored on the request for the proxy, the log line, the metrics and the
// judge's outcome alike) and forwarded with undici's dispatcher API over per-upstream pools, streaming both ways.
// The pieces, each in its own file:
//   table-plan.ts       the compiled route table and its one owner (swapped on reload)
//   admission.ts        checks, client IP, override, the decision, the shadow copy, the forward target
//   forward.ts          one upstream exchange (undici dispatch handler), callable again for another target
//   response-writer.ts  the upstream's answer (or the edge's error) written to the client
//   request-record.ts   the request's log line, metrics and judge outcome
//   drain.ts            connections, in-flight requests, tunnels, graceful shutdown
//
// Fastify owns the server's listen, close and client-error handling, not the requests: Node's server calls the edge's
// handler directly (no routing, no body parsing, no reply object; fastify's lifecycle cost ~5 % of the CPU per
// request). So the path is never decoded, normalised or length-limited by a router (the edge matches on
// path-safety's normalised path itself, in `decide`), a body of any method streams to undici as it arrives, and the
// answer is written on Node's ServerResponse from undici's raw header list, so status line, header names, order and
// repeats reach the client as the upstream sent them.
// maxHeaderSize is fixed when the server starts (Node reads it once): a hot reload of `limits.maxHeaderBytes` applies
// at the next restart; `limits.maxUrlLength` applies at once.

import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { createMemoryDiffStore } from '../adapters/diff/diff-store.ts';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import { EdgeError } from '../core/errors.ts';
import type { Outcome, Target } from '../core/types.ts';
import { AdapterRuntime, type AdapterSource } from './adapted-exchange.ts';
import { Admission } from './admission.ts';
import { ConnectionTracker } from './drain.ts';
import { FallbackDesk, readBody } from './fallback.ts';
import { forward } from './forward.ts';
import { saneRequestId } from './forward-headers.ts';
import { RequestRecorder } from './request-record.ts';
import { EdgeRequestState, type TaggedSocket } from './request-state.ts';
import { ClientRelay } from './response-writer.ts';
import { ShadowDiffRecorder } from './shadow-diff.ts';
import { ShadowTraffic } from './shadow-traffic.ts';
import { type EdgeRouting, TablePlanOwner } from './table-plan.ts';
import { proxyUpgrade, writeErrorHead } from './upgrade-proxy.ts';
import { UpstreamPools } from './upstream-pools.ts';

export type { EdgeRouting } from './table-plan.ts';

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
  /** Compares shadow answers and counts them (default: a process-local diff store). */
  readonly shadowDiff?: ShadowDiffRecorder | undefined;
  /** The loaded legacy-adapter translators (read per request: a reload swaps them). None when absent. */
  readonly adapters?: (() => AdapterSource) | undefined;
}

export interface EdgeServer {
  readonly app: FastifyInstance;
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Stops accepting, drains in-flight requests (bounded by shutdownTimeoutMs), closes every socket and pool. */
  close(): Promise<void>;
  /** HTTP requests being answered plus open WebSocket tunnels. */
  inFlight(): number;
}

/** The relay of the request a response belongs to, so one shared 'close' listener serves every response. */
const RELAY = Symbol('rf-edge.relay');
type TaggedResponse = ServerResponse & { [RELAY]?: ClientRelay };

export async function createEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const { log, metrics } = options;
  const pools = new UpstreamPools(log);
  const shadows = new ShadowTraffic({
    log,
    metrics,
    recordOutcome: options.recordOutcome,
    maxInFlight: options.shadowMaxInFlight,
    diff: options.shadowDiff ?? new ShadowDiffRecorder({ store: createMemoryDiffStore(), metrics, log }),
  });
  const tables = new TablePlanOwner(options.routing, log, [pools, shadows]);
  const noAdapters: AdapterSource = { get: () => undefined };
  const adapters = new AdapterRuntime({ log, metrics, adapters: options.adapters ?? (() => noAdapters) });
  const admission = new Admission({
    metrics,
    tables,
    shadows,
    verifyOverride: options.verifyOverride ?? null,
    adaptShadow: (table, routeId, method, url, headers) => adapters.shadowRequest(table, routeId, method, url, headers),
  });
  const recorder = new RequestRecorder({ log, metrics, recordOutcome: options.recordOutcome });
  const desk = new FallbackDesk({ log, metrics, recordOutcome: options.recordOutcome });
  const tracker = new ConnectionTracker(log, options.shutdownTimeoutMs ?? 10_000);
  const isDraining = () => tracker.draining;

  const initial = tables.current();
  // Fastify's own request handler is not used: its lifecycle (routing, hooks, the reply object) cost ~5 % of the
  // edge's CPU per request under load, for a reply that is hijacked at once anyway. Fastify still owns the server's
  // listen, close (idle connections closed at once) and clientError handling.
  const serverFactory = () => {
    const server = http.createServer(
      {
        maxHeaderSize: initial.routing.table.limits.maxHeaderBytes,
        // Uploads and downloads through a proxy can be long; the upstream's timeouts bound the waiting instead.
        requestTimeout: 0,
        noDelay: true,
      },
      handle,
    );
    server.keepAliveTimeout = 72_000;
    server.on('connection', (socket: TaggedSocket) => tracker.connection(socket));
    server.on('upgrade', onUpgrade);
    return server;
  };

  const app = Fastify({
    // No fastify logger at all: the edge writes its own single line per request (a child logger per request costs).
    logger: false,
    serverFactory,
    // Requests arriving on open connections while draining are still served (with `Connection: close`, which the
    // relay adds): a 503 there would fail a request the edge accepted.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    clientErrorHandler: onClientError,
  });

  function handle(raw: IncomingMessage, response: ServerResponse): void {
    const res = response as TaggedResponse;
    const socket = raw.socket as TaggedSocket;
    const state = new EdgeRequestState(
      performance.now(),
      saneRequestId(raw.headers['x-request-id']) ?? randomUUID(),
      raw.method ?? 'GET',
      socket,
    );
    const relay = new ClientRelay(state, raw, res, isDraining);
    res[RELAY] = relay;
    // `on`, not `once`: 'close' comes once per response, and once() allocates a wrapper per call.
    res.on('close', onResponseClose);
    tracker.requestStarted(socket);
    try {
      const admitted = admission.admit(raw, state, null);
      if (admitted instanceof EdgeError) {
        relay.fail(admitted);
        return;
      }
      // Legacy adapter hook: a route naming `adapter` whose request goes to the service is translated both ways.
      // Such a request has no fallback: the monolith would need the client's own (untranslated) body and headers,
      // which the adapter has consumed.
      const adapter = adapters.adapterFor(tables.current().routing.table, state.decision);
      if (adapter !== null) {
        adapters.start(pools, state, raw, relay, admitted, adapter);
        return;
      }
      const routeId = state.decision?.routeId;
      const budgeted = routeId === null || routeId === undefined ? undefined : tables.current().fallbacks.get(routeId);
      if (routeId && budgeted) desk.noteRequest(routeId, budgeted);
      const fallback = admitted.fallback;
      if (fallback === null || fallback.body !== 'buffered') {
        if (fallback !== null) relay.retry = { plan: fallback, desk, dispatcher: pools, body: null };
        state.sentAt = performance.now();
        relay.call = forward(pools, state.method, admitted.target, admitted.body, relay);
        return;
      }
      // A body the monolith may need again: read it first (bounded by the route's maxBodyBytes).
      readBody(raw, fallback.policy.maxBodyBytes).then(
        (body) => {
          if (res.destroyed) return;
          relay.retry = { plan: fallback, desk, dispatcher: pools, body };
          state.sentAt = performance.now();
          relay.call = forward(pools, state.method, admitted.target, body, relay);
        },
        (err: unknown) => {
          // The client went away mid-upload (its response closes and is recorded as aborted), or sent garbage.
          if (!res.destroyed) relay.fail(new EdgeError('RF_BAD_REQUEST', 'request body unreadable', { cause: err }));
        },
      );
    } catch (err) {
      log.error({ event: 'request.failed', reqId: state.id, err }, 'the edge failed to handle a request');
      relay.fail(new EdgeError('RF_INTERNAL', undefined, { cause: err }));
    }
  }

  function onResponseClose(this: TaggedResponse): void {
    const relay = this[RELAY];
    if (relay === undefined) return;
    const end = relay.closed();
    recorder.finish(relay.state, end.status, end.failed, end.clientAborted);
    tracker.responseEnded(relay.state.socket);
  }

  function onClientError(err: Error & { code?: string }, socket: Duplex): void {
    // A parse error while a response is under way (a bad chunk in a streamed upload) cannot get a response of its
    // own: the connection goes, and the request's own line reports it.
    if (err.code === 'ECONNRESET' || !socket.writable || tracker.busy(socket as TaggedSocket)) {
      socket.destroy();
      return;
    }
    const state = new EdgeRequestState(performance.now(), randomUUID(), '-', socket as Socket);
    let edgeErr: EdgeError;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      edgeErr = admission.refuse(
        state,
        'headers_too_large',
        'headers_too_large',
        new EdgeError('RF_HEADERS_TOO_LARGE'),
      );
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
      return;
    } else {
      edgeErr = admission.refuse(
        state,
        'bad_request',
        err.code ?? 'parse_error',
        new EdgeError('RF_BAD_REQUEST', err.message),
      );
    }
    writeErrorHead(socket, edgeErr, state.id);
    recorder.finish(state, edgeErr.status, false, false);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const state = new EdgeRequestState(
      performance.now(),
      saneRequestId(req.headers['x-request-id']) ?? randomUUID(),
      req.method ?? 'GET',
      socket as TaggedSocket,
    );
    if (tracker.draining) {
      writeErrorHead(socket, new EdgeError('RF_SHUTTING_DOWN'), state.id);
      recorder.finish(state, 503, false, false);
      return;
    }
    const upgrade = req.headers.upgrade ?? 'websocket';
    let admitted: ReturnType<Admission['admit']>;
    try {
      admitted = admission.admit(req, state, upgrade);
    } catch (err) {
      // No fastify error handler on this path: a throwing `decide` must not take the process down.
      log.error({ event: 'request.failed', reqId: state.id, err }, 'the edge failed to handle an upgrade');
      admitted = new EdgeError('RF_INTERNAL', undefined, { cause: err });
    }
    let target = admitted instanceof EdgeError ? admitted : admitted.target;
    // Legacy adapter hook: an adapted route's upgrade goes to the service's path (the tunnel itself is not translated).
    const adapter =
      admitted instanceof EdgeError ? null : adapters.adapterFor(tables.current().routing.table, state.decision);
    if (adapter !== null && !(target instanceof EdgeError))
      target = adapters.upgradeTarget(state, req, target, adapter);
    if (target instanceof EdgeError) {
      writeErrorHead(socket, target, state.id);
      recorder.finish(state, target.status, false, false);
      return;
    }
    tracker.upgradeStarted();
    proxyUpgrade(socket, head, target, state.method, state.id, state.locationRewrite(), {
      onResponse(status) {
        recorder.finish(state, status, false, false);
      },
      onError(err, kind) {
        state.upstreamError = { kind, err: err.cause ?? err };
        recorder.finish(state, err.status, true, false);
      },
      onTunnel() {
        tracker.tunnelOpened(socket);
      },
      onFailed() {
        recorder.finish(state, 0, false, true); // no-op when onResponse/onError already reported it
        tracker.requestEnded();
      },
    });
  }

  let closing: Promise<void> | null = null;
  return {
    app,
    async listen(port: number, host: string) {
      await app.listen({ port, host });
      const address = app.server.address();
      return { port: typeof address === 'object' && address !== null ? address.port : port };
    },
    close() {
      closing ??= tracker.drain(
        () => app.close(),
        () => Promise.all([pools.close(1000), shadows.close()]),
      );
      return closing;
    },
    inFlight: () => tracker.inFlight(),
  };
}
