// Shadow traffic through a real edge: the client is served by legacy exactly as without shadowing, the service gets
// a copy, and the comparison lands in rf_edge_shadow_requests_total, the mismatch log and the service's outcomes.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEdge, type TestEdge } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { parsePrometheusText } from '../support/prometheus-scrape.ts';
import { rawHeaderValues, startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

async function shadowCount(edge: TestEdge, route: string, result: string): Promise<number> {
  const scrape = parsePrometheusText(await edge.metrics.registry.metrics());
  return scrape.value('rf_edge_shadow_requests_total', { route, result }) ?? 0;
}

/** The monolith's answer: the same bytes for the same path, with a clock and an id that change every time. */
function monolithHandler(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const body = `{"path":${JSON.stringify(req.url)},"items":[1,2,3]}`;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('X-Served-By', 'monolith');
    res.setHeader('Set-Cookie', ['sid=legacy-session; Path=/', 'theme=dark']);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** Headers as a map without those that differ per request by design (the id, the clock, the shadow marker). */
function stableHeaders(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'x-request-id' || name === 'date' || name === 'x-edge-shadow') continue;
    out.push([raw[i]!, raw[i + 1]!]);
  }
  return out;
}

async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('shadow traffic: the client is served by legacy, the service gets a copy that is compared', () => {
  let monolith: TestUpstream;
  let service: TestUpstream;
  /** Service answers held back by the test (path → release). */
  const held = new Map<string, () => void>();
  let edge: TestEdge;
  let deadPort: number;

  before(async () => {
    monolith = await startUpstream('monolith', monolithHandler);
    service = await startUpstream('service', (req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/s/differs')) {
        req.resume();
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end('<h1>oops</h1>');
        return;
      }
      if (url.startsWith('/s/held') || url.startsWith('/slow/')) {
        held.set(url, () => monolithHandler(req, res));
        return;
      }
      // Same bytes as the monolith, but its own clock, id, server name and cookie values.
      req.resume();
      req.on('end', () => {
        const body = `{"path":${JSON.stringify(req.url)},"items":[1,2,3]}`;
        res.writeHead(200, {
          'content-type': 'application/json;charset=UTF-8',
          'x-served-by': 'agents-service',
          'set-cookie': ['theme=light', 'sid=service-session'],
          'content-length': Buffer.byteLength(body),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
    });
    deadPort = await closedPort();
    edge = await startEdge({
      upstreams: {
        monolith: monolith.url,
        agents: { url: service.url, headersTimeoutMs: 300 },
        patient: { url: service.url, headersTimeoutMs: 30_000 },
        dead: { url: `http://127.0.0.1:${deadPort}`, connectTimeoutMs: 500 },
      },
      legacy: 'monolith',
      routes: [
        { id: 'shadowed', prefix: '/s', service: 'agents', mode: 'shadow' },
        { id: 'plain', prefix: '/p', service: 'agents', mode: 'legacy' },
        { id: 'down', prefix: '/down', service: 'dead', mode: 'shadow' },
        { id: 'slow', prefix: '/slow', service: 'patient', mode: 'shadow' },
      ],
    });
  });

  after(async () => {
    for (const release of held.values()) release();
    await edge.close();
    await monolith.close();
    await service.close();
  });

  test('the client gets the legacy answer unchanged; the service gets the same request marked as a shadow', async () => {
    const target = '/s/items/42?q=a%20b&sort=-name&next=%2Fx%3Fy';
    const shadowedBefore = service.received.length;
    const shadowed = await send(edge.port, {
      path: target,
      headers: { Accept: 'application/json', 'X-User-Id': 'u-7', Cookie: 'a=1; b=2' },
    });
    // The same request on a route that is not shadowed: what the client would get without shadowing.
    const unshadowed = await send(edge.port, {
      path: target.replace('/s/', '/p/'),
      headers: { Accept: 'application/json', 'X-User-Id': 'u-7', Cookie: 'a=1; b=2' },
    });
    assert.equal(shadowed.status, 200, shadowed.body.toString());
    assert.equal(shadowed.body.toString(), `{"path":${JSON.stringify(target)},"items":[1,2,3]}`);
    assert.deepEqual(stableHeaders(shadowed.rawHeaders), stableHeaders(unshadowed.rawHeaders));
    assert.equal(rawHeaderValues(shadowed.rawHeaders, 'x-served-by')[0], 'monolith');

    await waitFor('the copy at the service', () => service.received.length > shadowedBefore);
    const atLegacy = monolith.received.find((r) => r.url === target);
    const copy = service.received[shadowedBefore]!;
    assert.ok(atLegacy, 'legacy served the request');
    assert.equal(copy.method, 'GET');
    assert.equal(copy.url, target, 'path and query byte for byte');
    assert.deepEqual(rawHeaderValues(copy.rawHeaders, 'x-edge-shadow'), ['1']);
    const legacyId = rawHeaderValues(atLegacy.rawHeaders, 'x-request-id')[0]!;
    assert.deepEqual(rawHeaderValues(copy.rawHeaders, 'x-request-id'), [`${legacyId}-shadow`]);
    assert.deepEqual(stableHeaders(copy.rawHeaders), stableHeaders(atLegacy.rawHeaders));
    assert.deepEqual(rawHeaderValues(atLegacy.rawHeaders, 'x-edge-shadow'), [], 'legacy is not told about shadows');
  });

  test('an equal answer counts as match, and is an outcome of the service target', async () => {
    const before = await shadowCount(edge, 'shadowed', 'match');
    const outcomesBefore = edge.outcomes.length;
    const res = await send(edge.port, { path: '/s/match-me' });
    assert.equal(res.status, 200);
    await waitFor(
      'match counted on shadowed',
      async () => (await shadowCount(edge, 'shadowed', 'match')) === before + 1,
    );
    const mine = edge.outcomes.slice(outcomesBefore);
    const legacy = mine.find((o) => o.target === 'legacy');
    const svc = mine.find((o) => o.target === 'service');
    assert.deepEqual(
      { routeId: legacy?.routeId, status: legacy?.status, transportError: legacy?.transportError },
      { routeId: 'shadowed', status: 200, transportError: false },
    );
    assert.deepEqual(
      { routeId: svc?.routeId, status: svc?.status, transportError: svc?.transportError },
      { routeId: 'shadowed', status: 200, transportError: false },
    );
  });

  test('HEAD is shadowed and compared without bodies', async () => {
    const before = await shadowCount(edge, 'shadowed', 'match');
    const res = await send(edge.port, { method: 'HEAD', path: '/s/head' });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0);
    await waitFor(
      'match counted on shadowed',
      async () => (await shadowCount(edge, 'shadowed', 'match')) === before + 1,
    );
    assert.ok(service.received.some((r) => r.method === 'HEAD' && r.url === '/s/head'));
  });

  test('a different answer counts as mismatch and is logged once per route per second, saying what differed', async () => {
    const before = await shadowCount(edge, 'shadowed', 'mismatch');
    const logsBefore = edge.logs.length;
    for (let i = 0; i < 3; i++) {
      const res = await send(edge.port, { path: `/s/differs/${i}` });
      assert.equal(res.status, 200, 'the client still gets the legacy answer');
    }
    await waitFor(
      'mismatch counted on shadowed',
      async () => (await shadowCount(edge, 'shadowed', 'mismatch')) === before + 3,
    );
    const lines = edge.logs.slice(logsBefore).filter((l) => l['event'] === 'shadow.mismatch');
    assert.equal(lines.length, 1, 'three mismatches within a second give one line');
    const line = lines[0]!;
    assert.equal(line['level'], 'info');
    assert.equal(line['route'], 'shadowed');
    assert.equal(
      line['differences'],
      'status value 200 != 500; header.content-type value "application/json;charset=utf-8" != "text/html"; ' +
        'header.set-cookie missing "names: sid, theme" != (absent); body type "JSON" != "not JSON"',
    );
  });

  test('a service that is down counts as error and a transport failure of the service; the client never notices', async () => {
    const before = await shadowCount(edge, 'down', 'error');
    const outcomesBefore = edge.outcomes.length;
    const res = await send(edge.port, { path: '/down/x' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '{"path":"/down/x","items":[1,2,3]}');
    await waitFor('error counted on down', async () => (await shadowCount(edge, 'down', 'error')) === before + 1);
    const svc = edge.outcomes.slice(outcomesBefore).find((o) => o.target === 'service');
    assert.deepEqual(
      { routeId: svc?.routeId, status: svc?.status, transportError: svc?.transportError },
      { routeId: 'down', status: 0, transportError: true },
    );
  });

  test('a slow service does not hold the client: the answer arrives while the copy is still waiting', async () => {
    const res = await send(edge.port, { path: '/slow/1' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '{"path":"/slow/1","items":[1,2,3]}');
    // The service holds the copy unanswered (until the test lets it go, well within its 30 s timeout): the client's
    // response did not wait for it, and nothing is compared yet.
    await waitFor('the copy at the service', () => held.has('/slow/1'));
    const counted = async () => (await shadowCount(edge, 'slow', 'match')) + (await shadowCount(edge, 'slow', 'error'));
    assert.equal(await counted(), 0);
    held.get('/slow/1')!();
    held.delete('/slow/1');
    await waitFor('match counted on slow', async () => (await shadowCount(edge, 'slow', 'match')) === 1);
  });

  test('a service slower than its headers timeout counts as error', async () => {
    const before = await shadowCount(edge, 'shadowed', 'error');
    const res = await send(edge.port, { path: '/s/held/1' });
    assert.equal(res.status, 200);
    await waitFor('the copy at the service', () => held.has('/s/held/1'));
    // Its headers timeout (300 ms) cuts the copy: an error of the service.
    await waitFor(
      'error counted on shadowed',
      async () => (await shadowCount(edge, 'shadowed', 'error')) === before + 1,
    );
  });
});

describe('shadow traffic is bounded', () => {
  let monolith: TestUpstream;
  let silent: TestUpstream;
  let edge: TestEdge;
  const pending: ServerResponse[] = [];

  before(async () => {
    monolith = await startUpstream('monolith', monolithHandler);
    // Never answers: every copy stays in flight until the edge closes.
    silent = await startUpstream('silent', (_req, res) => {
      pending.push(res);
    });
    edge = await startEdge(
      {
        upstreams: { monolith: monolith.url, silent: { url: silent.url, headersTimeoutMs: 30_000 } },
        legacy: 'monolith',
        routes: [{ id: 'stuck', prefix: '/stuck', service: 'silent', mode: 'shadow' }],
      },
      { shadowMaxInFlight: 4 },
    );
  });

  after(async () => {
    await edge.close();
    await monolith.close();
    await silent.close();
  });

  test('beyond the in-flight limit copies are skipped, and the edge keeps serving', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await send(edge.port, { path: `/stuck/${i}` })).status);
    const parallel = await Promise.all(Array.from({ length: 10 }, (_, i) => send(edge.port, { path: `/stuck/p${i}` })));
    statuses.push(...parallel.map((r) => r.status));
    assert.deepEqual(statuses, new Array(20).fill(200));
    await waitFor('four copies at the service', () => silent.received.length === 4);
    assert.equal(await shadowCount(edge, 'stuck', 'skipped'), 16);
    // The service got exactly the four copies that fit; the rest never left the edge.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(silent.received.length, 4);
    const healthy = await send(edge.port, { path: '/elsewhere' });
    assert.equal(healthy.status, 200);
  });
});
