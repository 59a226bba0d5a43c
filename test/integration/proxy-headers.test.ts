// Header handling as the upstream and the client see it: hop-by-hop fields stripped both ways, X-Forwarded-* and
// Forwarded written by the edge, client-sent values believed only from trusted proxies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEdge, type TestEdge } from '../support/edge.ts';
import { rawExchange, rawStatus, send } from '../support/http-client.ts';
import { type EchoBody, rawHeaderValues, startUpstream, type TestUpstream } from '../support/upstream.ts';

function upstreamSaw(body: Buffer, name: string): string[] {
  return rawHeaderValues((JSON.parse(body.toString()) as EchoBody).rawHeaders, name);
}

describe('hop-by-hop headers are stripped in both directions', () => {
  let upstream: TestUpstream;
  let edge: TestEdge;
  before(async () => {
    upstream = await startUpstream('up', (req, res) => {
      if (req.url === '/hop-response') {
        res.writeHead(
          200,
          [
            ['Content-Type', 'text/plain'],
            ['Connection', 'X-Hop-Only, keep-alive'],
            ['X-Hop-Only', 'secret'],
            ['Keep-Alive', 'timeout=5, max=100'],
            ['Proxy-Authenticate', 'Basic realm="x"'],
            ['Proxy-Whatever', '1'],
            ['Trailer', 'X-Checksum'],
            ['Upgrade', 'h2c'],
            ['X-End-To-End', 'kept'],
          ].flat(),
        );
        res.end('body');
        return;
      }
      const echo = (rawHeaders: string[]) => {
        const text = JSON.stringify({ rawHeaders });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      req.resume();
      req.on('end', () => echo(req.rawHeaders));
    });
    edge = await startEdge({ upstreams: { up: upstream.url }, legacy: 'up' });
  });
  after(async () => {
    await edge.close();
    await upstream.close();
  });

  test('request: Connection and what it names, Keep-Alive, TE, Trailer, Upgrade, Proxy-* never reach the upstream', async () => {
    // Raw TCP: node:http would refuse to send some of these (a Trailer without chunked framing).
    const text = await rawExchange(
      edge.port,
      [
        'GET /hop-request HTTP/1.1',
        'Host: shop.example',
        'Connection: close, X-Client-Hop',
        'X-Client-Hop: should-vanish',
        'Keep-Alive: timeout=30',
        'TE: trailers',
        'Trailer: X-Sum',
        'Upgrade: something/1.0',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'Proxy-Connection: keep-alive',
        'Proxy-Custom: x',
        'X-End-To-End: stays',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(rawStatus(text), 200);
    const res = { body: Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1') };
    for (const name of [
      'x-client-hop',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
      'proxy-custom',
    ]) {
      assert.deepEqual(upstreamSaw(res.body, name), [], `${name} reached the upstream`);
    }
    assert.deepEqual(upstreamSaw(res.body, 'x-end-to-end'), ['stays']);
  });

  test('response: Connection and what it names, Keep-Alive, Trailer, Upgrade, Proxy-* never reach the client', async () => {
    const res = await send(edge.port, { path: '/hop-response' });
    const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const name of ['x-hop-only', 'keep-alive', 'proxy-authenticate', 'proxy-whatever', 'trailer', 'upgrade']) {
      assert.ok(!names.includes(name), `${name} reached the client`);
    }
    // The only Connection the client sees is the edge's own for its own hop.
    assert.deepEqual(rawHeaderValues(res.rawHeaders, 'connection'), ['close']);
    assert.deepEqual(rawHeaderValues(res.rawHeaders, 'x-end-to-end'), ['kept']);
    assert.equal(res.body.toString(), 'body');
  });
});

describe('X-Forwarded-* and Forwarded', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream('up');
  });
  after(() => upstream.close());

  const spoofed = {
    host: 'shop.example',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-port': '443',
    forwarded: 'for=6.6.6.6;proto=https',
  };

  test('from an untrusted peer, client-sent values are discarded and replaced with what the edge saw', async () => {
    const edge = await startEdge({ upstreams: { up: upstream.url }, legacy: 'up', trustedProxies: ['10.0.0.0/8'] });
    try {
      const res = await send(edge.port, { path: '/f', headers: spoofed });
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-host'), ['shop.example']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-port'), []);
      assert.deepEqual(upstreamSaw(res.body, 'forwarded'), ['for=127.0.0.1;proto=http;host=shop.example']);
    } finally {
      await edge.close();
    }
  });

  test('from a trusted peer, the chain is extended and earlier proto/host kept', async () => {
    const edge = await startEdge({ upstreams: { up: upstream.url }, legacy: 'up', trustedProxies: ['127.0.0.1/8'] });
    try {
      const res = await send(edge.port, { path: '/f', headers: spoofed });
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-for'), ['6.6.6.6, 127.0.0.1']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-proto'), ['https']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-host'), ['evil.example']);
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-port'), ['443']);
      assert.deepEqual(upstreamSaw(res.body, 'forwarded'), [
        'for=6.6.6.6;proto=https, for=127.0.0.1;proto=http;host=shop.example',
      ]);
    } finally {
      await edge.close();
    }
  });

  test('an IPv6 client is written bracketed and quoted in Forwarded', async () => {
    const edge = await startEdge({ upstreams: { up: upstream.url }, legacy: 'up' }, { host: '::1' });
    try {
      const res = await send(edge.port, { host: '::1', path: '/f', headers: { host: 'shop.example:8080' } });
      assert.deepEqual(upstreamSaw(res.body, 'x-forwarded-for'), ['::1']);
      assert.deepEqual(upstreamSaw(res.body, 'forwarded'), ['for="[::1]";proto=http;host="shop.example:8080"']);
    } finally {
      await edge.close();
    }
  });
});
