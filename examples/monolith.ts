// The example "Raptorflow" monolith the edge strangles: agents, analytics, auth, notifications, files. Written on
// node:http alone, so it shares nothing with the proxy's stack and its bytes are whatever node writes. It keeps the
// quirks real monoliths have (several Set-Cookie headers with commas in Expires, an absolute redirect, a slow
// chunked export, SSE, WebSocket, Expect: 100-continue, a gzip body with Vary), since those are what break proxies.
//
// Run alone: `node --import tsx examples/monolith.ts` (PORT, default 3001; HOST, default 127.0.0.1).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { type RawData, WebSocketServer } from 'ws';
import { AgentStore, SEED_AGENTS } from './agents-data.ts';
import { handleAgentsRequest } from './agents-endpoints.ts';
import { createBlobStream } from './blob-stream.ts';
import { applyFault, type FaultInjector, type FaultSettings, handleFaultsAdmin, toFaultInjector } from './faults.ts';
import {
  answerFailure,
  BodyError,
  drained,
  readSmallBody,
  sendError,
  sendJson,
  sendMethodNotAllowed,
  splitTarget,
} from './respond.ts';
import { closeServer, isMain, listen, onServerClose, portFromEnv, stopOnSignals } from './server-lifecycle.ts';

export const MONOLITH_SERVED_BY = 'monolith';

export interface MonolithOptions {
  /** Clock for timestamps and cookie expiry; tests comparing two servers byte for byte pass a fixed one. */
  readonly now?: () => number;
  /** Test-only fault injection (also driven over HTTP by `/__faults`). */
  readonly faults?: FaultInjector | Partial<FaultSettings>;
  /** Pause between CSV export chunks (default 30 ms). */
  readonly exportChunkDelayMs?: number;
  /** Pause between server-sent events (default 100 ms). */
  readonly sseIntervalMs?: number;
  /** Source of session and CSRF tokens (default: crypto.randomBytes); a test comparing two servers' bytes fixes it. */
  readonly randomBytes?: (size: number) => Buffer;
  /** Largest upload accepted (default 8 GiB); a larger declared Content-Length is refused before the body is sent. */
  readonly maxUploadBytes?: number;
}

/** The demo login: any non-empty username with this password. */
export const DEMO_PASSWORD = 'raptor';

const SESSION_TTL_MS = 24 * 3_600_000;
const UPLOAD_PATH = '/api/files/upload';
const WS_PATH = '/api/notifications/ws';
const BLOB_MAX_BYTES = 2 ** 40;
const ECHO_TEXT_LIMIT = 64 * 1024;
const PERIOD_DAYS = new Map([
  ['1d', 1],
  ['7d', 7],
  ['30d', 30],
]);

export function createMonolith(options: MonolithOptions = {}): Server {
  const now = options.now ?? Date.now;
  const random = options.randomBytes ?? randomBytes;
  const faults = toFaultInjector(options.faults);
  const store = new AgentStore({ now });
  const sessions = new Map<string, { username: string }>();
  const sseIntervalMs = options.sseIntervalMs ?? 100;
  const maxUploadBytes = options.maxUploadBytes ?? 8 * 1024 ** 3;
  const agents = {
    store,
    ...(options.exportChunkDelayMs === undefined ? {} : { exportChunkDelayMs: options.exportChunkDelayMs }),
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-served-by', MONOLITH_SERVED_BY);
    const { path, query } = splitTarget(req.url ?? '/');
    // Health and the fault knob stay outside fault injection: a failing app must still be observable and fixable.
    if (path === '/healthz') return sendJson(req, res, 200, { status: 'ok', service: MONOLITH_SERVED_BY });
    if (path === '/__faults') return handleFaultsAdmin(faults, req, res);
    if (await applyFault(faults, req, res)) return;
    if (await handleAgentsRequest(agents, req, res)) return;
    if (path === '/api/echo' || path.startsWith('/api/echo/')) return echo(req, res);
    switch (path) {
      case '/':
        return sendHtml(req, res, 200, INDEX_HTML);
      case '/login':
        return sendHtml(req, res, 200, LOGIN_HTML);
      case '/api/auth/login':
        return login(req, res);
      case '/api/auth/logout':
        return logout(req, res);
      case '/api/auth/me':
        return me(req, res);
      case '/api/analytics/summary':
        return analytics(req, res, query);
      case '/api/notifications/stream':
        return notifications(req, res, query);
      case UPLOAD_PATH:
        return upload(req, res);
      case '/api/files/blob':
        return blob(req, res, query);
      default:
        sendError(req, res, 404, 'not_found', `nothing at ${req.method} ${path}`);
    }
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendMethodNotAllowed(req, res, ['POST']);
    const { username, password } = await readCredentials(req);
    if (username === '' || password !== DEMO_PASSWORD) {
      return sendError(req, res, 401, 'invalid_credentials', 'unknown username or wrong password');
    }
    const sessionId = random(16).toString('hex');
    const csrf = random(12).toString('base64url');
    sessions.set(sessionId, { username });
    // toUTCString() gives "Wed, 21 Oct 2026 07:28:00 GMT": the comma is why Set-Cookie can never be folded into
    // one comma-joined header, and why a proxy must forward each of these lines as it is.
    const expires = new Date(now() + SESSION_TTL_MS).toUTCString();
    res.setHeader('set-cookie', [
      `session_id=${sessionId}; Path=/; Expires=${expires}; HttpOnly; SameSite=Lax`,
      `csrf_token=${csrf}; Path=/; Expires=${expires}; SameSite=Strict`,
      `last_login=${encodeURIComponent(new Date(now()).toISOString())}; Path=/; Max-Age=31536000`,
    ]);
    sendJson(req, res, 200, { user: { username }, csrfToken: csrf });
  }

  function logout(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendMethodNotAllowed(req, res, ['GET', 'HEAD']);
      return;
    }
    const sessionId = cookiesOf(req).get('session_id');
    if (sessionId !== undefined) sessions.delete(sessionId);
    const gone = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0';
    // An absolute Location built from Host, as many legacy apps do: it shows whether the edge kept the client's Host.
    const location = `http://${req.headers.host ?? 'localhost'}/login`;
    res.setHeader('set-cookie', [
      `session_id=; Path=/; ${gone}; HttpOnly; SameSite=Lax`,
      `csrf_token=; Path=/; ${gone}`,
    ]);
    sendHtml(req, res, 302, `<!doctype html><title>Signed out</title><a href="${location}">Sign in again</a>\n`, {
      location,
    });
  }

  function me(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendMethodNotAllowed(req, res, ['GET', 'HEAD']);
      return;
    }
    const session = sessions.get(cookiesOf(req).get('session_id') ?? '');
    if (session === undefined) {
      sendError(req, res, 401, 'not_authenticated', 'sign in first', {
        'www-authenticate': 'Session realm="raptorflow"',
        'cache-control': 'no-store',
      });
      return;
    }
    sendJson(req, res, 200, { user: { username: session.username } }, { 'cache-control': 'no-store' });
  }

  function analytics(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendMethodNotAllowed(req, res, ['GET', 'HEAD']);
      return;
    }
    const period = query.get('period') ?? '7d';
    const days = PERIOD_DAYS.get(period);
    if (days === undefined) {
      sendError(req, res, 400, 'invalid_query', 'period must be 1d, 7d or 30d');
      return;
    }
    const all = store.list();
    const summary = {
      period,
      agents: { total: all.length, active: all.filter((agent) => agent.status === 'active').length },
      runs: { total: 412 * days, failed: 9 * days, p95DurationMs: 8421 },
      tokens: 1_250_000 * days,
    };
    const plain = Buffer.from(JSON.stringify(summary), 'utf8');
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    const body = gzip ? gzipSync(plain) : plain;
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'private, max-age=60',
      vary: 'Accept-Encoding, Cookie',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async function notifications(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (req.method !== 'GET') return sendMethodNotAllowed(req, res, ['GET']);
    const limit = query.has('limit') ? Number(query.get('limit')) : Number.POSITIVE_INFINITY;
    if (!(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 0))) {
      return sendError(req, res, 400, 'invalid_query', 'limit must be a non-negative integer');
    }
    const lastId = Number(req.headers['last-event-id'] ?? '0');
    let id = Number.isInteger(lastId) && lastId >= 0 ? lastId : 0;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // Tells buffering reverse proxies (nginx) to pass events through as they come.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    for (let sent = 0; sent < limit && !res.destroyed; sent += 1) {
      if (sent > 0) await sleep(sseIntervalMs);
      id += 1;
      const agent = SEED_AGENTS[id % SEED_AGENTS.length] ?? SEED_AGENTS[0];
      const data = { id, type: 'run.finished', agentId: agent?.id, message: `Run ${id} of ${agent?.name} finished` };
      if (!res.write(`id: ${id}\nevent: notification\ndata: ${JSON.stringify(data)}\n\n`)) await drained(res);
    }
    res.end();
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendMethodNotAllowed(req, res, ['POST']);
    if (declaredLength(req) > maxUploadBytes) {
      throw new BodyError(413, 'body_too_large', `uploads are limited to ${maxUploadBytes} bytes`);
    }
    // Hashed as it arrives: a body of any size costs one chunk of memory.
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxUploadBytes)
        throw new BodyError(413, 'body_too_large', `uploads are limited to ${maxUploadBytes} bytes`);
      hash.update(chunk);
    }
    sendJson(req, res, 200, {
      bytes,
      sha256: hash.digest('hex'),
      contentType: req.headers['content-type'] ?? null,
    });
  }

  async function blob(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendMethodNotAllowed(req, res, ['GET', 'HEAD']);
    const size = query.has('size') ? Number(query.get('size')) : 1024 * 1024;
    if (!Number.isInteger(size) || size < 0 || size > BLOB_MAX_BYTES) {
      return sendError(req, res, 400, 'invalid_query', `size must be an integer from 0 to ${BLOB_MAX_BYTES}`);
    }
    // `?chunked=1` leaves the length out, so the same bytes also travel with Transfer-Encoding: chunked.
    const chunked = query.get('chunked') === '1';
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      ...(chunked ? {} : { 'content-length': size }),
    });
    if (req.method === 'HEAD') return void res.end();
    try {
      await pipeline(createBlobStream(size), res);
    } catch {
      // The client went away mid-download; nothing is left to answer.
    }
  }

  async function echo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (bytes < ECHO_TEXT_LIMIT) head.push(chunk);
      bytes += chunk.length;
      hash.update(chunk);
    }
    const delay = Number(req.headers['x-echo-delay-ms'] ?? '0');
    if (Number.isInteger(delay) && delay > 0 && delay <= 60_000) await sleep(delay);
    const status = Number(req.headers['x-echo-status'] ?? '200');
    sendJson(req, res, Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, {
      method: req.method,
      // The request target exactly as it arrived: the edge's tests check it byte for byte.
      url: req.url,
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? null,
      body: {
        bytes,
        sha256: hash.digest('hex'),
        text: bytes <= ECHO_TEXT_LIMIT ? Buffer.concat(head).toString('utf8') : null,
      },
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    route(req, res).catch((err: unknown) => answerFailure(req, res, err));
  }

  const server = createServer(handle);

  // Expect: 100-continue (RFC 9110 §10.1.1): refuse an upload that is too large before the client sends it, and
  // invite every other body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const { path } = splitTarget(req.url ?? '/');
    if (path === UPLOAD_PATH && req.method === 'POST' && declaredLength(req) > maxUploadBytes) {
      res.setHeader('x-served-by', MONOLITH_SERVED_BY);
      sendError(req, res, 413, 'body_too_large', `uploads are limited to ${maxUploadBytes} bytes`, {
        connection: 'close',
      });
      return;
    }
    res.writeContinue();
    handle(req, res);
  });

  const wss = new WebSocketServer({ noServer: true });
  wss.on('headers', (headers) => headers.push(`x-served-by: ${MONOLITH_SERVED_BY}`));
  wss.on('connection', (socket) => {
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const payload = Buffer.concat([Buffer.from(`${MONOLITH_SERVED_BY}:`), toBuffer(data)]);
      socket.send(isBinary ? payload : payload.toString('utf8'), { binary: isBinary });
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (splitTarget(req.url ?? '/').path !== WS_PATH) {
      socket.end(
        `HTTP/1.1 404 Not Found\r\nx-served-by: ${MONOLITH_SERVED_BY}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  onServerClose(server, () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });

  return server;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function declaredLength(req: IncomingMessage): number {
  const value = Number(req.headers['content-length'] ?? '0');
  return Number.isFinite(value) ? value : 0;
}

function cookiesOf(req: IncomingMessage): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, pair.slice(eq + 1).trim());
  }
  return cookies;
}

/** `gzip` listed without `q=0` (RFC 9110 §12.5.3); `*` counts too. */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((entry) => {
    const [coding = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') return false;
    const q = params.find((param) => param.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

async function readCredentials(req: IncomingMessage): Promise<{ username: string; password: string }> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const raw = (await readSmallBody(req, 64 * 1024)).toString('utf8');
  // The legacy login form posts urlencoded; newer clients post JSON. Both keep working.
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(raw);
    return { username: form.get('username') ?? '', password: form.get('password') ?? '' };
  }
  if (type !== 'application/json') {
    throw new BodyError(415, 'unsupported_media_type', 'send application/json or a urlencoded form');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new BodyError(400, 'invalid_json', 'request body is not valid JSON', { cause: err });
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const username = typeof record['username'] === 'string' ? record['username'] : '';
  const password = typeof record['password'] === 'string' ? record['password'] : '';
  return { username, password };
}

function sendHtml(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(html, 'utf8');
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const INDEX_HTML = `<!doctype html>
<title>Raptorflow</title>
<h1>Raptorflow (monolith)</h1>
<ul>
<li><a href="/api/agents">/api/agents</a></li>
<li><a href="/api/analytics/summary">/api/analytics/summary</a></li>
<li><a href="/api/notifications/stream?limit=5">/api/notifications/stream</a></li>
<li><a href="/login">/login</a></li>
</ul>
`;

const LOGIN_HTML = `<!doctype html>
<title>Sign in · Raptorflow</title>
<form method="post" action="/api/auth/login">
<label>Username <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<button>Sign in</button>
</form>
`;

if (isMain(import.meta.url)) {
  const server = createMonolith();
  const url = await listen(server, portFromEnv('PORT', 3001), process.env['HOST'] || '127.0.0.1');
  console.log(`monolith listening on ${url}`);
  stopOnSignals(() => closeServer(server));
}
