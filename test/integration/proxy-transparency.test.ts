// "Existing clients unchanged": a battery of varied requests sent straight to a monolith-like upstream and through
// the edge over raw TCP, the two responses compared byte for byte — status code and reason phrase, every header line
// (name spelling, value, order, repeats) except the hop-by-hop ones, `Date` and the edge's own `X-Request-Id`, and
// the body bytes after undoing the transfer framing (chunked vs length is per hop).
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startEdge, type TestEdge } from '../support/edge.ts';
import { type ParsedResponse, parseRawResponse, rawExchange } from '../support/http-client.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
]);

const LARGE = Buffer.alloc(1024 * 1024);
for (let i = 0; i < LARGE.length; i++) LARGE[i] = (i * 131 + 17) % 256;
const GZIPPED = gzipSync(Buffer.from('compressed payload '.repeat(200)));

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** A monolith with the quirks real ones have. Every answer depends only on the request, never on the hop. */
async function monolithHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const path = url.split('?')[0];
  switch (path) {
    case '/':
      res.writeHead(200, [
        'Content-Type',
        'text/html; charset=utf-8',
        'Cache-Control',
        'no-store',
        'X-Frame-Options',
        'DENY',
        'Content-Length',
        '27',
      ]);
      res.end('<html><body>hi</body></html>'.slice(0, 27));
      return;
    case '/json': {
      const text = JSON.stringify({ agents: [{ id: 1, name: 'A' }], total: 1 });
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', Buffer.byteLength(text));
      res.end(text);
      return;
    }
    case '/cookies':
      res.writeHead(200, [
        'Set-Cookie',
        'session_id=abc123; Path=/; HttpOnly; SameSite=Lax',
        'set-cookie',
        'theme=dark; Max-Age=3600',
        'SET-COOKIE',
        'tracking=; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
        'Content-Length',
        '2',
      ]);
      res.end('ok');
      return;
    case '/redirect':
      res.writeHead(302, { Location: '/login?next=%2Fdashboard', 'Content-Length': '0' });
      res.end();
      return;
    case '/redirect-absolute':
      res.writeHead(301, 'Moved Permanently', { Location: 'https://raptorflow.example/new-home' });
      res.end('moved');
      return;
    case '/redirect-see-other':
      res.writeHead(303, { Location: '../elsewhere' });
      res.end();
      return;
    case '/no-content':
      res.writeHead(204, { 'X-Deleted': 'yes' });
      res.end();
      return;
    case '/not-modified':
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { ETag: '"v1"', 'Cache-Control': 'max-age=60', 'Content-Length': '5' });
        res.end();
      } else {
        res.writeHead(200, { ETag: '"v1"', 'Content-Length': '5' });
        res.end('fresh');
      }
      return;
    case '/missing':
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"no such thing"}');
      return;
    case '/error':
      res.writeHead(500, 'Internal Server Error', { 'Content-Type': 'text/plain', 'Retry-After': '5' });
      res.end('something broke');
      return;
    case '/custom-status':
      res.writeHead(299, 'Custom Reason Phrase', { 'X-Why': 'because' });
      res.end('custom');
      return;
    case '/teapot':
      res.writeHead(418, "I'm a teapot");
      res.end('short and stout');
      return;
    case '/unauthorized':
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="raptorflow", error="invalid_token"' });
      res.end();
      return;
    case '/chunked':
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first chunk\n');
      setTimeout(() => {
        res.write('second chunk\n');
        setTimeout(() => res.end('last chunk\n'), 10);
      }, 10);
      return;
    case '/unicode': {
      const text = 'héllo wörld — 世界 🚀\n';
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    case '/latin1-header':
      res.setHeader('X-Latin1', Buffer.from('caf\xe9 na\xefve', 'latin1').toString('latin1'));
      res.end('latin1');
      return;
    case '/big-header':
      res.setHeader('X-Big', 'v'.repeat(8000));
      res.end('big header');
      return;
    case '/many-headers':
      for (let i = 0; i < 60; i++) res.setHeader(`X-Header-${i}`, `value-${i}`);
      res.end('many');
      return;
    case '/mixed-case':
      res.writeHead(200, ['X-CaSe-MiXeD', 'Yes', 'content-TYPE', 'text/plain', 'X-DUP', '1', 'x-dup', '2']);
      res.end('cases');
      return;
    case '/empty':
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
      return;
    case '/large':
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': LARGE.length });
      res.end(LARGE);
      return;
    case '/large-chunked':
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      for (let i = 0; i < LARGE.length; i += 100_000) res.write(LARGE.subarray(i, i + 100_000));
      res.end();
      return;
    case '/gzip':
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' });
      res.end(GZIPPED);
      return;
    case '/cache':
      res.writeHead(200, {
        'Cache-Control': 'public, max-age=300',
        ETag: 'W/"abc"',
        'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
        Vary: 'Accept, Accept-Language',
        Expires: 'Thu, 01 Dec 2099 16:00:00 GMT',
      });
      res.end('cacheable');
      return;
    case '/events':
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write('event: agent\ndata: {"id":1}\n\n');
      res.write('id: 2\ndata: second\n\n');
      res.end(': bye\n\n');
      return;
    case '/no-date':
      res.sendDate = false;
      res.end('no date');
      return;
    case '/echo': {
      const body = await readBody(req);
      res.writeHead(200, {
        'Content-Type': req.headers['content-type'] ?? 'application/octet-stream',
        'X-Method': req.method ?? '',
        'X-Body-Length': String(body.length),
      });
      res.end(body);
      return;
    }
    case '/created': {
      await readBody(req);
      res.writeHead(201, 'Created', { Location: '/api/agents/99', 'Content-Type': 'application/json' });
      res.end('{"id":99}');
      return;
    }
    case '/items':
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { Allow: 'GET, POST, OPTIONS', 'Access-Control-Allow-Origin': '*' });
        res.end();
        return;
      }
      res.writeHead(200, { 'X-Method': req.method ?? '' });
      res.end(`items via ${req.method}`);
      return;
    case '/cookie-echo':
      res.end(`cookie: ${req.headers.cookie ?? ''}`);
      return;
    default:
      // The raw request target (path and query exactly as received) and the method, as the body.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`${req.method} ${url}`);
  }
}

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly target: string;
  readonly headers?: readonly string[];
  readonly body?: string | Buffer;
  /** Send the body chunked instead of with a length. */
  readonly chunked?: boolean;
}

function buildRequest(c: Case): Buffer {
  const method = c.method ?? 'GET';
  const lines = [`${method} ${c.target} HTTP/1.1`, 'Host: shop.example'];
  const headers = c.headers ?? [];
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  const body = c.body === undefined ? Buffer.alloc(0) : Buffer.from(c.body);
  if (c.chunked) lines.push('Transfer-Encoding: chunked');
  else if (c.body !== undefined) lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'latin1');
  if (!c.chunked) return Buffer.concat([head, body]);
  const half = Math.floor(body.length / 2);
  const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  return Buffer.concat([head, chunk(body.subarray(0, half)), chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')]);
}

const cases: Case[] = [
  { name: 'HTML page', target: '/' },
  { name: 'JSON API', target: '/json', headers: ['Accept', 'application/json'] },
  { name: 'three Set-Cookie headers in three spellings', target: '/cookies' },
  { name: 'relative redirect', target: '/redirect' },
  { name: 'absolute redirect left as is', target: '/redirect-absolute' },
  { name: '303 See Other with a dot-dot Location value', target: '/redirect-see-other' },
  { name: '204 No Content', method: 'DELETE', target: '/no-content' },
  {
    name: '304 Not Modified (with the representation length)',
    target: '/not-modified',
    headers: ['If-None-Match', '"v1"'],
  },
  { name: 'conditional miss: 200', target: '/not-modified', headers: ['If-None-Match', '"v0"'] },
  { name: '404 with a JSON body', target: '/missing' },
  { name: '500 with Retry-After', target: '/error' },
  { name: 'non-standard status and reason phrase', target: '/custom-status' },
  { name: "418 I'm a teapot", target: '/teapot' },
  { name: '401 with WWW-Authenticate', target: '/unauthorized' },
  { name: 'HEAD of a fixed-length page', method: 'HEAD', target: '/' },
  { name: 'HEAD of a chunked page', method: 'HEAD', target: '/chunked' },
  { name: 'chunked body written in pieces', target: '/chunked' },
  { name: 'UTF-8 body', target: '/unicode' },
  { name: 'header value with latin1 (obs-text) bytes', target: '/latin1-header' },
  { name: '8 KB response header', target: '/big-header' },
  { name: '60 response headers', target: '/many-headers' },
  { name: 'mixed-case names and a repeated header', target: '/mixed-case' },
  { name: 'empty 200', target: '/empty' },
  { name: '1 MiB fixed-length body', target: '/large' },
  { name: '1 MiB chunked body', target: '/large-chunked' },
  { name: 'gzip-encoded body passed through untouched', target: '/gzip', headers: ['Accept-Encoding', 'gzip'] },
  { name: 'cache validators', target: '/cache' },
  { name: 'server-sent events', target: '/events', headers: ['Accept', 'text/event-stream'] },
  { name: 'upstream without a Date header', target: '/no-date' },
  { name: 'raw query string', target: '/search?a&b=1+2&c=%2F&d=%zz&e=%E2%82%AC' },
  { name: 'encoded path segments', target: '/files/with%20space/%41%42/caf%C3%A9.txt' },
  {
    name: 'POST JSON',
    method: 'POST',
    target: '/echo',
    headers: ['Content-Type', 'application/json'],
    body: '{"name":"agent"}',
  },
  { name: 'PUT binary', method: 'PUT', target: '/echo', body: LARGE.subarray(0, 70_000) },
  {
    name: 'PATCH form',
    method: 'PATCH',
    target: '/echo',
    headers: ['Content-Type', 'application/x-www-form-urlencoded'],
    body: 'a=1&b=%20x',
  },
  { name: 'POST chunked request body', method: 'POST', target: '/echo', body: 'chunked request body', chunked: true },
  {
    name: 'POST with unicode body',
    method: 'POST',
    target: '/echo',
    headers: ['Content-Type', 'text/plain; charset=utf-8'],
    body: 'ünïcödé ✓',
  },
  { name: '201 Created with Location', method: 'POST', target: '/created', body: '{"name":"x"}' },
  { name: 'OPTIONS with Allow', method: 'OPTIONS', target: '/items' },
  { name: 'PROPFIND (WebDAV verb)', method: 'PROPFIND', target: '/dav/folder/' },
  { name: 'big request header (8 KB cookie)', target: '/cookie-echo', headers: ['Cookie', `big=${'c'.repeat(8000)}`] },
  { name: 'several request cookies', target: '/cookie-echo', headers: ['Cookie', 'a=1; b=2; session_id=xyz'] },
  { name: 'double slash path', target: '//double//slash' },
];

function comparable(res: ParsedResponse): { status: number; reason: string; headers: string[]; body: string } {
  return {
    status: res.status,
    reason: res.reason,
    headers: res.headers
      .filter(([name]) => {
        const lower = name.toLowerCase();
        return !HOP_BY_HOP.has(lower) && lower !== 'date' && lower !== 'x-request-id';
      })
      .map(([name, value]) => `${name}: ${value}`),
    body: res.body.toString('base64'),
  };
}

describe('transparency: direct vs through the edge, byte for byte', () => {
  let monolith: TestUpstream;
  let edge: TestEdge;

  before(async () => {
    monolith = await startUpstream('monolith', (req, res) => {
      monolithHandler(req, res).catch((err: unknown) => res.destroy(err as Error));
    });
    edge = await startEdge({ upstreams: { monolith: monolith.url }, legacy: 'monolith' });
  });

  after(async () => {
    await edge.close();
    await monolith.close();
  });

  test(`the battery holds at least 30 requests (${cases.length})`, () => {
    assert.ok(cases.length >= 30);
  });

  for (const c of cases) {
    test(c.name, async () => {
      const request = buildRequest(c);
      const method = c.method ?? 'GET';
      const direct = parseRawResponse(await rawExchange(monolith.port, request), method);
      const proxied = parseRawResponse(await rawExchange(edge.port, request), method);
      assert.deepEqual(comparable(proxied), comparable(direct));
      assert.ok(
        proxied.headers.some(([n]) => n.toLowerCase() === 'x-request-id'),
        'the edge adds its request id',
      );
    });
  }
});
