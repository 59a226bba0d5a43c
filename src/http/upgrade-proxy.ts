// WebSocket (and any other HTTP/1.1 Upgrade) through the edge: the edge server decides the target exactly as for a
// plain request and builds the same forwarded headers; this module opens the upstream connection with node:http,
// relays the upstream's answer and, on 101 Switching Protocols, joins the two sockets byte for byte.
//
// undici cannot be used here: it only hands back a socket for a 101 and fails on any other answer, while an upstream
// refusing an upgrade (401, 404, 426…) must reach the client as it was sent.

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EdgeError } from '../core/errors.ts';
import type { ForwardTarget } from './forward.ts';
import { buildClientHeaders, type LocationRewrite } from './forward-headers.ts';
import { classifyUpstreamError, type UpstreamErrorKind } from './upstream-pools.ts';

export interface UpgradeHooks {
  /** The upstream answered: 101 (switched) or the status it refused the upgrade with (relayed as is). */
  onResponse(status: number): void;
  /** No answer from the upstream: the client got a 502/504 head. */
  onError(err: EdgeError, kind: UpstreamErrorKind): void;
  /** 101 relayed and the sockets joined. */
  onTunnel(): void;
  /** The handshake ended without a tunnel (refusal relayed, or failure). */
  onFailed(): void;
}

/**
 * Forwards an upgrade request whose plan the edge built. `hooks` hear the answer once (onResponse or onError),
 * then how the handshake ended once (onTunnel or onFailed); a client that leaves first gets onFailed alone.
 */
export function proxyUpgrade(
  client: Duplex,
  head: Buffer,
  plan: ForwardTarget,
  method: string,
  requestId: string,
  location: LocationRewrite | null,
  hooks: UpgradeHooks,
): void {
  const upstream = plan.upstream;
  const origin = new URL(upstream.origin);
  const secure = origin.protocol === 'https:';
  let settled = false;
  const request = (secure ? https : http).request({
    protocol: origin.protocol,
    hostname: origin.hostname.replace(/^\[|\]$/g, ''),
    port: origin.port === '' ? (secure ? 443 : 80) : Number(origin.port),
    method,
    path: plan.path,
    headers: plan.headers,
    setHost: false,
    agent: false,
  });

  let timer: NodeJS.Timeout | undefined = setTimeout(
    () => fail(new EdgeError('RF_UPSTREAM_TIMEOUT', 'upstream did not connect in time'), 'timeout'),
    upstream.connectTimeoutMs,
  );
  request.once('socket', (socket: Socket) => {
    socket.once('connect', () => {
      clearTimeout(timer);
      timer =
        upstream.headersTimeoutMs > 0
          ? setTimeout(
              () =>
                fail(new EdgeError('RF_UPSTREAM_TIMEOUT', 'upstream did not answer the upgrade in time'), 'timeout'),
              upstream.headersTimeoutMs,
            )
          : undefined;
    });
  });

  const onClientGone = () => {
    if (!settled) {
      settled = true;
      clearTimeout(timer);
      request.destroy();
      hooks.onFailed();
    }
  };
  client.once('close', onClientGone);
  client.on('error', () => client.destroy());

  request.once('error', (err) => {
    const { kind, code } = classifyUpstreamError(err);
    fail(new EdgeError(code, undefined, { cause: err }), kind);
  });

  request.once('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
    if (settled) {
      upstreamSocket.destroy();
      return;
    }
    settled = true;
    clearTimeout(timer);
    client.removeListener('close', onClientGone);
    const upgrade = res.headers.upgrade ?? 'websocket';
    const headers = buildClientHeaders(res.rawHeaders, { requestId, location, close: false });
    headers.push('Connection', 'Upgrade', 'Upgrade', upgrade);
    client.write(responseHead(res.statusCode ?? 101, res.statusMessage ?? 'Switching Protocols', headers));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    (client as Socket).setNoDelay?.(true);
    upstreamSocket.setNoDelay(true);
    (client as Socket).setTimeout?.(0);
    upstreamSocket.setTimeout(0);
    const closeBoth = () => {
      client.destroy();
      upstreamSocket.destroy();
    };
    upstreamSocket.on('error', closeBoth);
    client.on('error', closeBoth);
    upstreamSocket.once('close', closeBoth);
    client.once('close', closeBoth);
    upstreamSocket.pipe(client);
    client.pipe(upstreamSocket);
    hooks.onResponse(res.statusCode ?? 101);
    hooks.onTunnel();
  });

  request.once('response', (res: IncomingMessage) => {
    if (settled) {
      res.destroy();
      return;
    }
    settled = true;
    clearTimeout(timer);
    client.removeListener('close', onClientGone);
    // The upstream said no to the upgrade: relay its answer, then close (the body is delimited by the close when it
    // came chunked, since the chunking was undone by the parser).
    const headers = buildClientHeaders(res.rawHeaders, { requestId, location, close: true });
    client.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', headers));
    res.pipe(client);
    res.once('error', () => client.destroy());
    hooks.onResponse(res.statusCode ?? 502);
    hooks.onFailed();
  });

  request.end();

  function fail(err: EdgeError, kind: UpstreamErrorKind): void {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    client.removeListener('close', onClientGone);
    request.destroy();
    writeErrorHead(client, err, requestId);
    hooks.onError(err, kind);
    hooks.onFailed();
  }
}

function responseHead(status: number, message: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** A complete JSON error response written straight to a socket (no ServerResponse exists for upgrades and parse errors). */
export function writeErrorHead(socket: Duplex, err: EdgeError, requestId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  socket.end(
    responseHead(err.status, http.STATUS_CODES[err.status] ?? '', [
      'Content-Type',
      'application/json; charset=utf-8',
      'Content-Length',
      String(Buffer.byteLength(body)),
      'Connection',
      'close',
      'X-Request-Id',
      requestId,
    ]) + body,
  );
  // A client that never reads must not keep the socket: end() flushed what it could, the rest is not owed.
  setTimeout(() => socket.destroy(), 1000).unref();
}
