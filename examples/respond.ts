// Response and request-body helpers shared by the example servers, so that both write byte-identical answers for
// the same contract (the proxy's transparency tests compare bodies and headers across them).
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** The error body of the example apps: a flat shape, unlike the edge's `{ error: { code } }`, so a reader can tell
 * at a glance whether the proxy or the upstream answered. */
export interface AppErrorBody {
  readonly error: string;
  readonly message: string;
}

/** Writes a JSON response with an explicit Content-Length. HEAD gets the same headers without the body, and
 * 204/304 get neither body nor length (RFC 9110 §8.6, §15.3.5, §15.4.5). `encode` may compress the bytes. */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
  encode?: (bytes: Buffer) => { bytes: Buffer; encoding: string | null },
): void {
  if (status === 204 || status === 304) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const { bytes, encoding } = encode === undefined ? { bytes: json, encoding: null } : encode(json);
  const coding = encoding === null ? {} : { 'content-encoding': encoding };
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': bytes.length, ...headers, ...coding });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body: AppErrorBody = { error, message };
  sendJson(req, res, status, body, headers);
}

export function sendMethodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: readonly string[]): void {
  sendError(req, res, 405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: allow.join(', ') });
}

/** Splits the request target without normalising it: `new URL()` would resolve dot segments and re-encode, and the
 * examples must see exactly what the proxy forwarded. */
export function splitTarget(rawUrl: string): { path: string; query: URLSearchParams; rawQuery: string } {
  const mark = rawUrl.indexOf('?');
  const path = mark < 0 ? rawUrl : rawUrl.slice(0, mark);
  const rawQuery = mark < 0 ? '' : rawUrl.slice(mark + 1);
  return { path, query: new URLSearchParams(rawQuery), rawQuery };
}

/** Waits until a slow reader has taken what was written; also settles when the client goes away, so an abandoned
 * stream does not leave its producer waiting forever. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolveDrain) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolveDrain();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export class BodyError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BodyError';
    this.status = status;
    this.code = code;
  }
}

/** Reads a small request body whole (JSON and form posts only; uploads stream instead), refusing more than `limit`. */
export async function readSmallBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new BodyError(413, 'body_too_large', `body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(413, 'body_too_large', `body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON request body; a wrong media type answers 415 and malformed JSON 400, as a typical API would. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new BodyError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  const raw = await readSmallBody(req);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new BodyError(400, 'invalid_json', 'request body is not valid JSON', { cause: err });
  }
}

/** Answers a handler failure: a BodyError as its status, anything else as 500, or cuts the connection when the
 * headers are already out (the only honest signal left mid-stream). */
export function answerFailure(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  if (err instanceof BodyError) {
    // The rest of an over-long body is not read, so the connection cannot carry another request.
    const close = err.status === 413 ? { connection: 'close' } : {};
    sendError(req, res, err.status, err.code, err.message, close);
    return;
  }
  console.error('examples: request failed', err);
  sendError(req, res, 500, 'internal_error', 'the server failed to answer');
}
