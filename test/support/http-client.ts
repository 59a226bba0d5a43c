// Clients that show a response as it was sent: node:http (raw header list, no fetch normalisation) and raw TCP
// (for requests node:http refuses to send: absolute-form targets, duplicate Host, conflicting framing).
import http from 'node:http';
import net from 'node:net';
import type { Readable } from 'node:stream';

export interface RawResponse {
  readonly status: number;
  readonly statusMessage: string;
  /** `[name, value, …]` as received. */
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface SendOptions {
  readonly method?: string;
  readonly path?: string;
  /** Flat `[name, value, …]` list (kept in order and case) or an object. */
  readonly headers?: readonly string[] | Record<string, string | string[]>;
  readonly body?: string | Buffer | Readable;
  readonly agent?: http.Agent | false;
  /** Address to connect to; default 127.0.0.1. */
  readonly host?: string;
}

export function send(port: number, options: SendOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: options.host ?? '127.0.0.1',
      port,
      method: options.method ?? 'GET',
      path: options.path ?? '/',
      headers: (options.headers ?? {}) as http.OutgoingHttpHeaders,
      agent: options.agent ?? false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: Buffer.concat(chunks),
        }),
      );
    });
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** Writes `text` on a fresh TCP connection and collects everything until the server closes it (or `waitMs`). */
export function rawExchange(port: number, text: string | Buffer, waitMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(text);
  });
}

/** Status code of the first response in raw HTTP text. */
export function rawStatus(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The body of a raw `Connection: close` JSON error response. */
export function rawJsonBody(text: string): unknown {
  const at = text.indexOf('\r\n\r\n');
  return JSON.parse(text.slice(at + 4));
}

export interface ParsedResponse {
  readonly status: number;
  readonly reason: string;
  /** Header lines as sent: name in its case, value, in order, repeats kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body after undoing the transfer framing (chunked or length), as bytes. */
  readonly body: Buffer;
}

/** Parses one HTTP/1.1 response from the raw (latin1) text a `Connection: close` exchange returned. */
export function parseRawResponse(text: string, method = 'GET'): ParsedResponse {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error(`no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const lines = text.slice(0, headEnd).split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
  if (!statusLine) throw new Error(`bad status line ${lines[0]}`);
  const status = Number(statusLine[1]);
  const headers = lines.slice(1).map((line): readonly [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const find = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  let rest = text.slice(headEnd + 4);
  let body: string;
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) {
    body = '';
  } else if (find('transfer-encoding')?.toLowerCase() === 'chunked') {
    body = '';
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.slice(0, eol), 16);
      if (!(size > 0)) break;
      body += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 2 + size + 2);
    }
  } else if (find('content-length') !== undefined) {
    body = rest.slice(0, Number(find('content-length')));
  } else {
    body = rest;
  }
  return { status, reason: statusLine[2] ?? '', headers, body: Buffer.from(body, 'latin1') };
}
