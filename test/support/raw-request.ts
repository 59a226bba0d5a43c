// An HTTP client on node:http that shows the wire as it is: raw header lines in order and case (several Set-Cookie
// included), the exact request target, and the body as bytes. fetch() would merge, decode and normalise all three.
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export interface RawResponse {
  readonly status: number;
  /** Header lines as received: [name, value, name, value, …]. */
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Whether the server sent `100 Continue` before the final response. */
  readonly continued: boolean;
}

export interface RawRequestOptions {
  readonly method?: string;
  /** An object, or raw [name, value, …] lines to send duplicates and exact case. */
  readonly headers?: OutgoingHttpHeaders | readonly string[];
  readonly body?: Buffer | string | Readable;
  /** Send `Expect: 100-continue` and hold the body until the server invites it (RFC 9110 §10.1.1). */
  readonly expectContinue?: boolean;
}

/** Sends one request on a fresh connection and collects the whole response. `path` is sent exactly as given. */
export function rawRequest(baseUrl: string, path: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const headers: OutgoingHttpHeaders | string[] = Array.isArray(options.headers)
    ? [...(options.headers as readonly string[])]
    : { ...(options.headers as OutgoingHttpHeaders | undefined) };
  if (options.expectContinue === true) {
    if (Array.isArray(headers)) headers.push('Expect', '100-continue');
    else headers['expect'] = '100-continue';
  }
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = httpRequest({
      host: hostname.replace(/^\[|\]$/g, ''),
      port,
      method: options.method ?? 'GET',
      path,
      headers,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: Buffer.concat(chunks),
          continued,
        }),
      );
    });
    const send = (): void => {
      const body = options.body;
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    };
    if (options.expectContinue === true) {
      req.on('continue', () => {
        continued = true;
        send();
      });
      // Headers must leave now: the server answers 100 (or refuses) before any body exists.
      req.flushHeaders();
    } else {
      send();
    }
  });
}

/** Values of every header line named `name` (case-insensitive), in order. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name.toLowerCase()) values.push(rawHeaders[i + 1] ?? '');
  }
  return values;
}

/** Header lines as `name: value` with lower-cased names, minus the ones named in `omit`, in wire order. */
export function headerLines(rawHeaders: readonly string[], omit: readonly string[] = []): string[] {
  const skip = new Set(omit.map((name) => name.toLowerCase()));
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    if (!skip.has(name)) lines.push(`${name}: ${rawHeaders[i + 1] ?? ''}`);
  }
  return lines;
}
