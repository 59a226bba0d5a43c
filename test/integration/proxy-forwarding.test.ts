import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { RequestFacts } from '../../src/core/types.ts';
import { makeTable, prefixRouting, requestLines, startEdge, type TestEdge } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { type EchoBody, rawHeaderValues, startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

function echo(body: Buffer): EchoBody {
  return JSON.parse(body.toString('utf8')) as EchoBody;
}

describe('transparent forwarding', () => {
  let monolith: TestUpstream;
  let agents: TestUpstream;
  let edge: TestEdge;

  before(async () => {
    monolith = await startUpstream('monolith');
    agents = await startUpstream('agents');
    edge = await startEdge({
      upstreams: { monolith: monolith.url, agents: agents.url },
      legacy: 'monolith',
      routes: [
        { id: 'agents-read', prefix: '/api/agents', service: 'agents' },
        { id: 'billing', prefix: '/api/billing', service: 'agents', mode: 'legacy' },
      ],
    });
  });

  after(async () => {
    await edge.close();
    await monolith.close();
    await agents.close();
  });

  for (const method of [
    'GET',
    'POST',
    'PUT',
    'PATCH',
    'DELETE',
    'OPTIONS',
    'TRACE',
    'PROPFIND',
    'MKCOL',
    'LOCK',
    'PURGE',
    'QUERY',
  ]) {
    test(`${method} reaches the upstream as ${method}`, async () => {
      const res = await send(edge.port, { method, path: `/m/${method}` });
      assert.equal(res.status, 200);
      const got = echo(res.body);
      assert.equal(got.method, method);
      assert.equal(got.url, `/m/${method}`);
    });
  }

  for (const target of [
    '/x?a&b=1+2&c=%2F',
    '/x?',
    '/x?a=%zz&b=%E2%82%AC&c=%2f%2F&d=a+b%20c&&e',
    '/api/echo/a%20b/%41',
    '/api/echo/x?y=%zz',
    '/api/echo/%7Euser/%C3%A9t%C3%A9',
    '/api//double//slashes/',
    '/a/...b/.well-known/x..y',
    "/brackets[1]/pipe|/quote'/star*/at@/colon:/dollar$",
  ]) {
    test(`request target ${target} reaches the upstream byte for byte`, async () => {
      const res = await send(edge.port, { path: target });
      assert.equal(res.status, 200);
      assert.equal(echo(res.body).url, target);
    });
  }

  test('a matched route goes to its service, everything else to legacy, untouched', async () => {
    const a = echo((await send(edge.port, { path: '/api/agents/42?x=1' })).body);
    assert.equal(a.upstream, 'agents');
    assert.equal(a.url, '/api/agents/42?x=1');
    const b = echo((await send(edge.port, { path: '/api/billing/1' })).body);
    assert.equal(b.upstream, 'monolith', 'mode legacy');
    const c = echo((await send(edge.port, { path: '/elsewhere' })).body);
    assert.equal(c.upstream, 'monolith', 'unmatched');
  });

  test('request bodies arrive whole: fixed length, chunked, binary, and empty', async () => {
    const binary = Buffer.alloc(256 * 1024);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

    const fixed = echo((await send(edge.port, { method: 'POST', path: '/up', body: binary })).body);
    assert.equal(fixed.bodyBytes, binary.length);
    assert.equal(fixed.bodySha256, sha(binary));

    const chunks = [Buffer.from('first,'), Buffer.from('second,'), Buffer.from('third')];
    const chunked = echo(
      (
        await send(edge.port, {
          method: 'PUT',
          path: '/up',
          // Spaced out, so the edge starts forwarding before the body has ended (a body already complete when
          // undici sees it is sent with its now-known Content-Length, which is just as correct).
          body: Readable.from(
            (async function* () {
              for (const c of chunks) {
                yield c;
                await new Promise((r) => setTimeout(r, 20));
              }
            })(),
          ),
          headers: { 'content-type': 'x/y', 'transfer-encoding': 'chunked' },
        })
      ).body,
    );
    assert.equal(chunked.bodyBytes, 18);
    assert.equal(chunked.bodySha256, sha(Buffer.concat(chunks)));
    assert.deepEqual(rawHeaderValues(chunked.rawHeaders, 'transfer-encoding'), ['chunked']);

    const empty = echo(
      (await send(edge.port, { method: 'POST', path: '/up', headers: { 'content-length': '0' } })).body,
    );
    assert.equal(empty.bodyBytes, 0);
  });

  test('a GET with a body forwards the body (no framing is dropped)', async () => {
    const got = echo(
      (await send(edge.port, { method: 'GET', path: '/get-body', body: 'payload', headers: { 'content-length': '7' } }))
        .body,
    );
    assert.equal(got.bodyBytes, 7);
  });

  test('an unparseable Content-Type is forwarded, not refused with 415', async () => {
    const res = await send(edge.port, {
      method: 'POST',
      path: '/ct',
      body: '{}',
      headers: { 'content-type': 'not a media type;;;' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(rawHeaderValues(echo(res.body).rawHeaders, 'content-type'), ['not a media type;;;']);
  });

  test('Expect: 100-continue: the client gets 100 Continue and the body reaches the upstream', async () => {
    const result = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request({
        host: '127.0.0.1',
        port: edge.port,
        method: 'POST',
        path: '/continue',
        headers: { expect: '100-continue', 'content-length': '11' },
        agent: false,
      });
      req.on('continue', () => {
        continued = true;
        req.end('hello world');
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }));
      });
    });
    assert.equal(result.continued, true);
    assert.equal(result.status, 200);
    const got = JSON.parse(result.body) as EchoBody;
    assert.equal(got.bodyBytes, 11);
    assert.deepEqual(rawHeaderValues(got.rawHeaders, 'expect'), [], 'the edge answered the expectation itself');
  });

  test('x-request-id: a sane one is kept, passed upstream and returned; otherwise one is generated', async () => {
    const kept = await send(edge.port, { path: '/rid', headers: { 'x-request-id': 'abc-123.xyz' } });
    assert.equal(kept.headers['x-request-id'], 'abc-123.xyz');
    assert.deepEqual(rawHeaderValues(echo(kept.body).rawHeaders, 'x-request-id'), ['abc-123.xyz']);

    const generated = await send(edge.port, { path: '/rid' });
    const id = generated.headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(rawHeaderValues(echo(generated.body).rawHeaders, 'x-request-id'), [id]);

    const insane = await send(edge.port, { path: '/rid', headers: { 'x-request-id': 'bad id with spaces' } });
    assert.notEqual(insane.headers['x-request-id'], 'bad id with spaces');
    assert.match(String(insane.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('one log line per request with the decision, status and duration', async () => {
    const before = requestLines(edge.logs).length;
    const res = await send(edge.port, { method: 'POST', path: '/api/agents/7?secret=1', body: 'x' });
    const id = res.headers['x-request-id'];
    await waitFor('the request line', () => requestLines(edge.logs).length === before + 1, 2000);
    const lines = requestLines(edge.logs).filter((l) => l['reqId'] === id);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line['level'], 'info');
    assert.equal(line['method'], 'POST');
    assert.equal(line['path'], '/api/agents/7', 'the query is not logged');
    assert.equal(line['route'], 'agents-read');
    assert.equal(line['target'], 'service');
    assert.equal(line['upstream'], 'agents');
    assert.equal(line['reason'], 'mode_service');
    assert.equal(line['status'], 200);
    assert.equal(typeof line['durationMs'], 'number');
    assert.ok((line['bytesOut'] as number) > 0);
  });

  test('request metrics, decisions and outcomes are recorded per request', async () => {
    const outcomesBefore = edge.outcomes.length;
    await send(edge.port, { method: 'GET', path: '/api/agents/metrics-check' });
    await send(edge.port, { method: 'GET', path: '/not-routed' });
    await waitFor('the outcome', () => edge.outcomes.length === outcomesBefore + 1, 2000);
    const outcome = edge.outcomes.at(-1)!;
    assert.equal(outcome.routeId, 'agents-read');
    assert.equal(outcome.target, 'service');
    assert.equal(outcome.status, 200);
    assert.equal(outcome.transportError, false);
    assert.ok(outcome.latencyMs > 0);

    const text = await edge.metrics.registry.metrics();
    assert.match(
      text,
      /rf_edge_requests_total\{route="agents-read",target="service",method="GET",status_class="2xx"\} \d+/,
    );
    assert.match(text, /rf_edge_requests_total\{route="-",target="legacy",method="GET",status_class="2xx"\} \d+/);
    assert.match(
      text,
      /rf_edge_request_duration_seconds_count\{route="agents-read",target="service",method="GET",status_class="2xx"\} \d+/,
    );
    assert.match(text, /rf_edge_decisions_total\{route="agents-read",target="service",reason="mode_service"\} \d+/);
    assert.match(text, /rf_edge_decisions_total\{route="-",target="legacy",reason="unmatched"\} \d+/);
  });
});

describe('routing inputs and the route table', () => {
  test('the decision sees the normalised path, the method, the headers and the resolved client IP; once per request', async () => {
    const upstream = await startUpstream('monolith');
    const seen: RequestFacts[] = [];
    const edge = await startEdge({
      upstreams: { monolith: upstream.url },
      legacy: 'monolith',
      trustedProxies: ['127.0.0.0/8'],
    });
    const table = makeTable({
      upstreams: { monolith: upstream.url },
      legacy: 'monolith',
      trustedProxies: ['127.0.0.0/8'],
    });
    const inner = prefixRouting(table, []);
    edge.setRouting({
      table,
      decide: (facts, o) => {
        seen.push(facts);
        return inner.decide(facts, o);
      },
    });
    try {
      await send(edge.port, {
        method: 'DELETE',
        path: '/api/%61gents/%c3%a9?q=%2F',
        headers: { 'x-forwarded-for': '198.51.100.23', 'x-user-id': 'u1' },
      });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'DELETE');
      assert.equal(seen[0]!.path, '/api/agents/%C3%A9');
      assert.equal(seen[0]!.clientIp, '198.51.100.23');
      assert.equal(seen[0]!.headers['x-user-id'], 'u1');
      assert.equal(upstream.received.at(-1)!.url, '/api/%61gents/%c3%a9?q=%2F', 'forwarded raw, matched normalised');
    } finally {
      await edge.close();
      await upstream.close();
    }
  });

  test('a new routing object (hot reload) applies to the next request; open connections stay', async () => {
    const one = await startUpstream('one');
    const two = await startUpstream('two');
    const edge = await startEdge({ upstreams: { one: one.url, two: two.url }, legacy: 'one' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal(echo((await send(edge.port, { path: '/r', agent })).body).upstream, 'one');
      edge.setRouting(prefixRouting(makeTable({ upstreams: { one: one.url, two: two.url }, legacy: 'two' }), []));
      const after = await send(edge.port, { path: '/r', agent });
      assert.equal(echo(after.body).upstream, 'two');
      assert.equal(edge.logs.filter((l) => l['event'] === 'request').length, 2);
    } finally {
      agent.destroy();
      await edge.close();
      await one.close();
      await two.close();
    }
  });

  test("an upstream's pool never opens more than its `connections`", async () => {
    let concurrent = 0;
    let peak = 0;
    const ports = new Set<number>();
    const up = await startUpstream('up', (req, res) => {
      concurrent++;
      peak = Math.max(peak, concurrent);
      ports.add(req.socket.remotePort ?? 0);
      setTimeout(() => {
        concurrent--;
        res.end('ok');
      }, 30);
    });
    const edge = await startEdge({ upstreams: { up: { url: up.url, connections: 2 } }, legacy: 'up' });
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(edge.port, { path: `/c/${i}` })));
      assert.deepEqual(
        results.map((r) => r.status),
        Array.from({ length: 10 }, () => 200),
      );
      assert.equal(peak, 2, 'requests queue for the two pooled connections');
      assert.equal(ports.size, 2, 'and reuse them');
    } finally {
      await edge.close();
      await up.close();
    }
  });

  test('a changed pool setting (connections) builds new pools; requests keep flowing', async () => {
    const up = await startUpstream('up');
    const edge = await startEdge({ upstreams: { up: up.url }, legacy: 'up' });
    try {
      assert.equal((await send(edge.port, { path: '/a' })).status, 200);
      edge.setRouting(
        prefixRouting(makeTable({ upstreams: { up: { url: up.url, connections: 2 } }, legacy: 'up' }), []),
      );
      assert.equal((await send(edge.port, { path: '/b' })).status, 200);
      await waitFor(
        'upstream.pools_replaced logged',
        () => edge.logs.some((l) => l['event'] === 'upstream.pools_replaced'),
        2000,
      );
    } finally {
      await edge.close();
      await up.close();
    }
  });
});

describe('upstream settings: basePath, Host policy, Location', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream('up', (req, res) => {
      if (req.url?.endsWith('/redirect')) {
        res.writeHead(302, { location: `http://127.0.0.1:${upstream.port}/base/landing?x=%2F` });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, host: req.headers.host }));
    });
  });
  after(() => upstream.close());

  async function through(spec: Parameters<typeof startEdge>[0], path: string, headers: Record<string, string> = {}) {
    const edge = await startEdge(spec);
    try {
      return await send(edge.port, { path, headers });
    } finally {
      await edge.close();
    }
  }

  test('basePath is prepended to the raw target', async () => {
    const res = await through({ upstreams: { up: `${upstream.url}/base` }, legacy: 'up' }, '/p/%41?q=1+1');
    assert.equal(JSON.parse(res.body.toString()).url, '/base/p/%41?q=1+1');
  });

  test('host: preserve keeps the client Host', async () => {
    const res = await through({ upstreams: { up: upstream.url }, legacy: 'up' }, '/h', { host: 'shop.example:8443' });
    assert.equal(JSON.parse(res.body.toString()).host, 'shop.example:8443');
  });

  test("host: upstream sends the upstream's host:port", async () => {
    const res = await through(
      { upstreams: { up: { url: upstream.url, host: { kind: 'upstream' } } }, legacy: 'up' },
      '/h',
      { host: 'shop.example' },
    );
    assert.equal(JSON.parse(res.body.toString()).host, `127.0.0.1:${upstream.port}`);
  });

  test('host: fixed sends the configured value', async () => {
    const res = await through(
      { upstreams: { up: { url: upstream.url, host: { kind: 'fixed', value: 'internal.svc' } } }, legacy: 'up' },
      '/h',
      { host: 'shop.example' },
    );
    assert.equal(JSON.parse(res.body.toString()).host, 'internal.svc');
  });

  test('Location passes unchanged by default', async () => {
    const res = await through({ upstreams: { up: `${upstream.url}/base` }, legacy: 'up' }, '/redirect', {
      host: 'shop.example',
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, `http://127.0.0.1:${upstream.port}/base/landing?x=%2F`);
  });

  test('rewriteLocation: an absolute Location at the upstream becomes the client-facing origin', async () => {
    const res = await through(
      { upstreams: { up: { url: `${upstream.url}/base`, rewriteLocation: true } }, legacy: 'up' },
      '/redirect',
      { host: 'shop.example' },
    );
    assert.equal(res.headers.location, 'http://shop.example/landing?x=%2F');
  });

  test('rewriteLocation behind a trusted TLS-terminating proxy uses the origin it reports', async () => {
    const res = await through(
      {
        upstreams: { up: { url: `${upstream.url}/base`, rewriteLocation: true } },
        legacy: 'up',
        trustedProxies: ['127.0.0.0/8'],
      },
      '/redirect',
      { host: 'edge.internal', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' },
    );
    assert.equal(res.headers.location, 'https://shop.example/landing?x=%2F');
  });
});

describe('signed override', () => {
  test('the override header and cookie decide (when verified) and never reach the upstream', async () => {
    const monolith = await startUpstream('monolith');
    const agents = await startUpstream('agents');
    const tokens: string[] = [];
    const edge = await startEdge(
      {
        upstreams: { monolith: monolith.url, agents: agents.url },
        legacy: 'monolith',
        routes: [{ id: 'a', prefix: '/api/agents', service: 'agents', mode: 'legacy' }],
      },
      {
        verifyOverride: (token) => {
          tokens.push(token);
          return token === 'good' ? 'service' : null;
        },
      },
    );
    try {
      const byHeader = echo(
        (await send(edge.port, { path: '/api/agents/1', headers: { 'x-edge-route': 'good' } })).body,
      );
      assert.equal(byHeader.upstream, 'agents');
      assert.deepEqual(rawHeaderValues(byHeader.rawHeaders, 'x-edge-route'), []);

      const byCookie = echo(
        (await send(edge.port, { path: '/api/agents/1', headers: { cookie: 'sid=9; edge_route=good; theme=dark' } }))
          .body,
      );
      assert.equal(byCookie.upstream, 'agents');
      assert.deepEqual(rawHeaderValues(byCookie.rawHeaders, 'cookie'), ['sid=9; theme=dark']);

      const forged = echo(
        (await send(edge.port, { path: '/api/agents/1', headers: { 'x-edge-route': 'forged' } })).body,
      );
      assert.equal(forged.upstream, 'monolith', 'an unverified override is ignored');
      assert.deepEqual(rawHeaderValues(forged.rawHeaders, 'x-edge-route'), [], 'and still not forwarded');
      assert.deepEqual(tokens, ['good', 'good', 'forged']);
    } finally {
      await edge.close();
      await monolith.close();
      await agents.close();
    }
  });
});
