import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildClientHeaders,
  buildUpstreamHeaders,
  connectionTokens,
  forwardedNode,
  isHopByHop,
  quoteIfNeeded,
  readCookie,
  removeCookie,
  rewriteLocation,
  saneRequestId,
  type UpstreamHeaderContext,
} from '../../src/http/forward-headers.ts';

const ctx: UpstreamHeaderContext = {
  host: null,
  peer: '203.0.113.5',
  peerTrusted: false,
  proto: 'http',
  requestId: 'req-1',
  overrideHeader: 'x-edge-route',
  overrideCookie: 'edge_route',
  upgrade: null,
};

/** The upstream headers as [name, value] pairs, for readable assertions. */
function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function get(flat: readonly string[], name: string): string[] {
  return pairs(flat)
    .filter(([n]) => n.toLowerCase() === name.toLowerCase())
    .map(([, v]) => v);
}

describe('buildUpstreamHeaders', () => {
  test('keeps end-to-end headers in order, spelling and repeats', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'edge.example', 'Accept', '*/*', 'X-Custom', 'a', 'x-custom', 'b', 'Content-Type', 'text/plain'],
      ctx,
    );
    assert.deepEqual(pairs(out).slice(0, 5), [
      ['Host', 'edge.example'],
      ['Accept', '*/*'],
      ['X-Custom', 'a'],
      ['x-custom', 'b'],
      ['Content-Type', 'text/plain'],
    ]);
  });

  test('strips every hop-by-hop header and every header Connection names', () => {
    const out = buildUpstreamHeaders(
      [
        'Host',
        'h',
        'Connection',
        'keep-alive, X-Secret, x-other',
        'Keep-Alive',
        'timeout=5',
        'TE',
        'trailers',
        'Trailer',
        'X-Checksum',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'websocket',
        'Proxy-Authorization',
        'Basic abc',
        'Proxy-Connection',
        'keep-alive',
        'Proxy-Foo',
        'bar',
        'X-Secret',
        's',
        'X-Other',
        'o',
        'X-Kept',
        'k',
      ],
      ctx,
    );
    const names = pairs(out).map(([n]) => n.toLowerCase());
    for (const gone of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
      'proxy-foo',
      'x-secret',
      'x-other',
    ]) {
      assert.ok(!names.includes(gone), `${gone} must not be forwarded`);
    }
    assert.deepEqual(get(out, 'x-kept'), ['k']);
  });

  test('a Connection token naming Host does not leave the upstream without one', () => {
    const out = buildUpstreamHeaders(['Host', 'h.example', 'Connection', 'host'], ctx);
    assert.deepEqual(get(out, 'host'), ['h.example']);
  });

  test('drops Expect (answered by the edge) and the client X-Request-Id (replaced)', () => {
    const out = buildUpstreamHeaders(['Host', 'h', 'Expect', '100-continue', 'X-Request-Id', 'client'], ctx);
    assert.deepEqual(get(out, 'expect'), []);
    assert.deepEqual(get(out, 'x-request-id'), ['req-1']);
  });

  test("a client cannot send the edge's shadow marker to an upstream", () => {
    const out = buildUpstreamHeaders(['Host', 'h', 'X-Edge-Shadow', '1', 'x-edge-shadow', '1', 'Accept', '*/*'], ctx);
    assert.deepEqual(get(out, 'x-edge-shadow'), []);
    assert.deepEqual(get(out, 'accept'), ['*/*']);
  });

  test('host policy: preserve keeps the client Host, upstream/fixed replace it', () => {
    assert.deepEqual(get(buildUpstreamHeaders(['Host', 'client.example'], ctx), 'host'), ['client.example']);
    assert.deepEqual(get(buildUpstreamHeaders(['Host', 'client.example'], { ...ctx, host: '10.0.0.5:3001' }), 'host'), [
      '10.0.0.5:3001',
    ]);
    assert.deepEqual(get(buildUpstreamHeaders([], { ...ctx, host: 'fixed.example' }), 'host'), ['fixed.example']);
    assert.deepEqual(get(buildUpstreamHeaders([], ctx), 'host'), [], 'no Host to preserve: none invented');
  });

  test('untrusted peer: client-sent X-Forwarded-* and Forwarded are discarded and replaced', () => {
    const out = buildUpstreamHeaders(
      [
        'Host',
        'edge.example:8080',
        'X-Forwarded-For',
        '6.6.6.6',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'evil.example',
        'X-Forwarded-Port',
        '443',
        'Forwarded',
        'for=6.6.6.6',
      ],
      ctx,
    );
    assert.deepEqual(get(out, 'x-forwarded-for'), ['203.0.113.5']);
    assert.deepEqual(get(out, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(get(out, 'x-forwarded-host'), ['edge.example:8080']);
    assert.deepEqual(get(out, 'x-forwarded-port'), []);
    assert.deepEqual(get(out, 'forwarded'), ['for=203.0.113.5;proto=http;host="edge.example:8080"']);
  });

  test('trusted peer: the chain is extended, earlier proto/host kept', () => {
    const out = buildUpstreamHeaders(
      [
        'Host',
        'edge.internal',
        'X-Forwarded-For',
        '198.51.100.1',
        'x-forwarded-for',
        '10.0.0.9',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'shop.example',
        'X-Forwarded-Port',
        '443',
        'Forwarded',
        'for=198.51.100.1;proto=https;host=shop.example',
      ],
      { ...ctx, peer: '10.0.0.2', peerTrusted: true },
    );
    assert.deepEqual(get(out, 'x-forwarded-for'), ['198.51.100.1, 10.0.0.9, 10.0.0.2']);
    assert.deepEqual(get(out, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(get(out, 'x-forwarded-host'), ['shop.example']);
    assert.deepEqual(get(out, 'x-forwarded-port'), ['443']);
    assert.deepEqual(get(out, 'forwarded'), [
      'for=198.51.100.1;proto=https;host=shop.example, for=10.0.0.2;proto=http;host=edge.internal',
    ]);
  });

  test('IPv6 peers are bracketed and quoted in Forwarded (RFC 7239 §6)', () => {
    const out = buildUpstreamHeaders(['Host', 'h'], { ...ctx, peer: '2001:db8::7' });
    assert.deepEqual(get(out, 'forwarded'), ['for="[2001:db8::7]";proto=http;host=h']);
    assert.deepEqual(get(out, 'x-forwarded-for'), ['2001:db8::7']);
  });

  test('the override header is never forwarded; only the override cookie leaves the Cookie header', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'h', 'X-Edge-Route', 'service.1.sig', 'Cookie', 'a=1; edge_route=service.1.sig; b=2'],
      ctx,
    );
    assert.deepEqual(get(out, 'x-edge-route'), []);
    assert.deepEqual(get(out, 'cookie'), ['a=1; b=2']);
    const onlyOverride = buildUpstreamHeaders(['Cookie', 'edge_route=x'], ctx);
    assert.deepEqual(get(onlyOverride, 'cookie'), [], 'an emptied Cookie header is dropped');
  });

  test('Content-Length repeats that path safety let through reach the upstream as one value', () => {
    assert.deepEqual(get(buildUpstreamHeaders(['Content-Length', '42, 42'], ctx), 'content-length'), ['42']);
    assert.deepEqual(get(buildUpstreamHeaders(['Content-Length', '5'], ctx), 'content-length'), ['5']);
  });

  test('upgrade requests get Connection: Upgrade and the Upgrade value back', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'],
      { ...ctx, upgrade: 'websocket' },
    );
    assert.deepEqual(get(out, 'connection'), ['Upgrade']);
    assert.deepEqual(get(out, 'upgrade'), ['websocket']);
    assert.deepEqual(get(out, 'sec-websocket-key'), ['k']);
  });
});

describe('buildClientHeaders', () => {
  const base = { requestId: 'req-9', location: null, close: false };

  test('keeps the upstream headers in order and spelling, repeats apart; strips hop-by-hop and Connection-named', () => {
    const out = buildClientHeaders(
      [
        'Content-Type',
        'text/html',
        'Connection',
        'keep-alive, X-Hop',
        'Set-Cookie',
        'a=1',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Proxy-Authenticate',
        'Basic',
        'Trailer',
        'X-Sum',
        'Upgrade',
        'h2c',
        'x-hop',
        '1',
        'set-cookie',
        'b=2',
        'X-Custom',
        'v',
      ],
      base,
    );
    assert.deepEqual(pairs(out), [
      ['Content-Type', 'text/html'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['X-Custom', 'v'],
      ['X-Request-Id', 'req-9'],
    ]);
  });

  test("the edge's request id replaces an upstream echo; close adds Connection: close", () => {
    const out = buildClientHeaders(['X-Request-ID', 'upstream-own'], { ...base, close: true });
    assert.deepEqual(pairs(out), [
      ['X-Request-Id', 'req-9'],
      ['Connection', 'close'],
    ]);
  });

  test('Location passes unchanged unless a rewrite is configured', () => {
    const headers = ['Location', 'http://10.0.0.5:3001/next'];
    assert.deepEqual(get(buildClientHeaders(headers, base), 'location'), ['http://10.0.0.5:3001/next']);
    const rw = { upstreamOrigin: 'http://10.0.0.5:3001', basePath: '', clientOrigin: 'http://edge.example' };
    assert.deepEqual(get(buildClientHeaders(headers, { ...base, location: rw }), 'location'), [
      'http://edge.example/next',
    ]);
  });
});

describe('rewriteLocation', () => {
  const rw = { upstreamOrigin: 'http://10.0.0.5:3001', basePath: '/base', clientOrigin: 'https://shop.example' };
  const cases: Array<[string, string]> = [
    ['http://10.0.0.5:3001/base/login?next=%2F', 'https://shop.example/login?next=%2F'],
    ['http://10.0.0.5:3001/base', 'https://shop.example/'],
    ['HTTP://10.0.0.5:3001/base/x', 'https://shop.example/x'],
    ['http://10.0.0.5:3001/other', 'http://10.0.0.5:3001/other'], // outside basePath: not ours to map
    ['http://10.0.0.5:30011/base/x', 'http://10.0.0.5:30011/base/x'], // a different port
    ['https://elsewhere.example/x', 'https://elsewhere.example/x'],
    ['/relative/path', '/relative/path'],
  ];
  for (const [input, expected] of cases) {
    test(`${input} → ${expected}`, () => assert.equal(rewriteLocation(input, rw), expected));
  }
});

describe('small helpers', () => {
  test('isHopByHop / connectionTokens', () => {
    assert.equal(isHopByHop('proxy-anything'), true);
    assert.equal(isHopByHop('te'), true);
    assert.equal(isHopByHop('content-type'), false);
    assert.deepEqual([...connectionTokens(['Close, X-A', ' x-b ,'])], ['close', 'x-a', 'x-b']);
  });

  test('Forwarded values: tokens bare, others quoted and escaped', () => {
    assert.equal(quoteIfNeeded('example.com'), 'example.com');
    assert.equal(quoteIfNeeded('example.com:8080'), '"example.com:8080"');
    assert.equal(quoteIfNeeded('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(forwardedNode('192.0.2.1'), '192.0.2.1');
    assert.equal(forwardedNode('::1'), '"[::1]"');
  });

  test('cookies', () => {
    assert.equal(removeCookie('a=1; edge_route=x; b=2', 'edge_route'), 'a=1; b=2');
    assert.equal(removeCookie('my_edge_route=1', 'edge_route'), 'my_edge_route=1');
    assert.equal(readCookie('a=1; edge_route=tok.1.s', 'edge_route'), 'tok.1.s');
    assert.equal(readCookie('xedge_route=1', 'edge_route'), null);
    assert.equal(readCookie(undefined, 'edge_route'), null);
  });

  test('saneRequestId', () => {
    assert.equal(saneRequestId('abc-123_DEF.4:5'), 'abc-123_DEF.4:5');
    assert.equal(saneRequestId('has space'), null);
    assert.equal(saneRequestId('x'.repeat(201)), null);
    assert.equal(saneRequestId(''), null);
    assert.equal(saneRequestId(['a', 'b']), null);
    assert.equal(saneRequestId(undefined), null);
    assert.equal(saneRequestId('<script>'), null);
  });
});
