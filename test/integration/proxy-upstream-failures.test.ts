import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import { makeTable, requestLines, startEdge, type TestEdge } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { type Blackhole, startBlackhole, startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

function errorBody(body: Buffer): { code: string; message: string } {
  return (JSON.parse(body.toString()) as { error: { code: string; message: string } }).error;
}

/** GET that reports how the response ended: complete, or the connection cut under it. */
function fetchOutcome(port: number, path: string): Promise<{ status: number; bytes: number; cut: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, cut: false }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, bytes, cut: true }));
    });
    req.on('error', reject);
  });
}

describe('upstream failures answer 502/504 with a JSON body, never a crash', () => {
  let flaky: TestUpstream;
  let blackhole: Blackhole;
  let edge: TestEdge;
  let deadPort: number;

  before(async () => {
    flaky = await startUpstream('flaky', (req, res) => {
      switch (req.url?.replace(/^\/f\//, '/')) {
        case '/slow-headers':
          setTimeout(() => res.end('late'), 2_000).unref();
          return;
        case '/reset':
          req.socket.destroy();
          return;
        case '/die-mid-body':
          res.writeHead(200, { 'content-length': '1000000' });
          res.write(Buffer.alloc(10_000, 1));
          setTimeout(() => req.socket.destroy(), 50);
          return;
        case '/stall-mid-body':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.write(Buffer.alloc(1000, 1));
          return; // never ends: the body timeout has to fire
        case '/unavailable':
          res.writeHead(503, { 'retry-after': '0', 'content-type': 'text/plain' });
          res.end('service unavailable');
          return;
        default:
          res.end('ok');
      }
    });
    blackhole = await startBlackhole();
    deadPort = await freePort(); // nothing listens there
    edge = await startEdge({
      upstreams: {
        flaky: { url: flaky.url, headersTimeoutMs: 200, bodyTimeoutMs: 300 },
        dead: `http://127.0.0.1:${deadPort}`,
        hole: { url: blackhole.url, connectTimeoutMs: 200 },
      },
      legacy: 'flaky',
      routes: [
        { id: 'dead', prefix: '/dead', service: 'dead' },
        { id: 'hole', prefix: '/hole', service: 'hole' },
        { id: 'flaky', prefix: '/f', service: 'flaky' },
      ],
    });
  });

  after(async () => {
    await edge.close();
    await flaky.close();
    await blackhole.close();
  });

  test('connection refused → 502 RF_UPSTREAM_CONNECT, metric kind connect, transport-error outcome', async () => {
    const res = await send(edge.port, { path: '/dead/x' });
    assert.equal(res.status, 502);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(errorBody(res.body).code, 'RF_UPSTREAM_CONNECT');
    assert.ok(res.headers['x-request-id']);
    await waitFor('the outcome for the dead route', () => edge.outcomes.some((o) => o.routeId === 'dead'), 2000);
    const outcome = edge.outcomes.find((o) => o.routeId === 'dead')!;
    assert.equal(outcome.status, 0);
    assert.equal(outcome.transportError, true);
    const text = await edge.metrics.registry.metrics();
    assert.match(text, /rf_edge_upstream_errors_total\{upstream="dead",kind="connect"\} 1/);
    // No upstream status exists: the 502 is the edge's, so the class is `error`, not `5xx`.
    assert.match(text, /rf_edge_requests_total\{route="dead",target="service",method="GET",status_class="error"\} 1/);
    const line = requestLines(edge.logs).find((l) => l['reqId'] === res.headers['x-request-id'])!;
    assert.equal(line['level'], 'warn');
    assert.equal(line['status'], 502);
    assert.equal(line['upstreamError'], 'connect');
  });

  test('connect timeout → 504 RF_UPSTREAM_TIMEOUT', async () => {
    const res = await send(edge.port, { path: '/hole/x' });
    assert.equal(res.status, 504);
    assert.equal(errorBody(res.body).code, 'RF_UPSTREAM_TIMEOUT');
    assert.match(
      await edge.metrics.registry.metrics(),
      /rf_edge_upstream_errors_total\{upstream="hole",kind="timeout"\} 1/,
    );
  });

  test('headers timeout → 504 RF_UPSTREAM_TIMEOUT', async () => {
    const res = await send(edge.port, { path: '/slow-headers' });
    assert.equal(res.status, 504);
    assert.equal(errorBody(res.body).code, 'RF_UPSTREAM_TIMEOUT');
  });

  test('upstream resets the connection before answering → 502 RF_UPSTREAM_RESET', async () => {
    const res = await send(edge.port, { path: '/reset' });
    assert.equal(res.status, 502);
    assert.equal(errorBody(res.body).code, 'RF_UPSTREAM_RESET');
    assert.match(
      await edge.metrics.registry.metrics(),
      /rf_edge_upstream_errors_total\{upstream="flaky",kind="reset"\} \d+/,
    );
  });

  test('upstream dies mid-body → the client connection is cut (no fake success), outcome is a transport error', async () => {
    const before = edge.outcomes.length;
    const result = await fetchOutcome(edge.port, '/f/die-mid-body');
    assert.equal(result.status, 200, 'the head was already sent');
    assert.equal(result.cut, true);
    assert.ok(result.bytes < 1_000_000);
    await waitFor('the outcome', () => edge.outcomes.length > before, 2000);
    const outcome = edge.outcomes.at(-1)!;
    assert.equal(outcome.routeId, 'flaky');
    assert.equal(outcome.transportError, true);
    assert.match(
      await edge.metrics.registry.metrics(),
      /rf_edge_requests_total\{route="flaky",target="service",method="GET",status_class="error"\} 1/,
    );
  });

  test('body timeout mid-stream → the client connection is cut, metric kind timeout', async () => {
    const result = await fetchOutcome(edge.port, '/f/stall-mid-body');
    assert.equal(result.status, 200);
    assert.equal(result.cut, true);
    assert.equal(result.bytes, 1000);
    await waitFor(
      'the stalled request line',
      () => requestLines(edge.logs).some((l) => l['path'] === '/f/stall-mid-body'),
      2000,
    );
    const line = requestLines(edge.logs).find((l) => l['path'] === '/f/stall-mid-body')!;
    assert.equal(line['upstreamError'], 'timeout');
    const text = await edge.metrics.registry.metrics();
    assert.match(text, /rf_edge_upstream_errors_total\{upstream="flaky",kind="timeout"\} \d+/);
  });

  test('a 503 is passed through once: no silent retry by reply-from', async () => {
    const hitsBefore = flaky.received.filter((r) => r.url === '/unavailable').length;
    const res = await send(edge.port, { path: '/unavailable' });
    assert.equal(res.status, 503);
    assert.equal(res.body.toString(), 'service unavailable');
    assert.equal(res.headers['retry-after'], '0');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(flaky.received.filter((r) => r.url === '/unavailable').length, hitsBefore + 1);
  });

  test('after all of that the edge still serves', async () => {
    const res = await send(edge.port, { path: '/fine' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
  });
});

test('a decision naming an unknown upstream answers 502 RF_UPSTREAM_ERROR', async () => {
  const up = await startUpstream('up');
  const edge = await startEdge({ upstreams: { up: up.url }, legacy: 'up' });
  const table = makeTable({ upstreams: { up: up.url }, legacy: 'up' });
  edge.setRouting({
    table,
    decide: () => ({
      routeId: 'r',
      target: 'service',
      upstream: 'nowhere',
      reason: 'mode_service',
      bucket: null,
      weight: null,
      shadow: false,
    }),
  });
  try {
    const res = await send(edge.port, { path: '/x' });
    assert.equal(res.status, 502);
    assert.equal(errorBody(res.body).code, 'RF_UPSTREAM_ERROR');
    assert.equal(up.received.length, 0);
  } finally {
    await edge.close();
    await up.close();
  }
});

describe('a client that goes away is not an upstream failure', () => {
  test('aborting mid-upload records no upstream error and no outcome', async () => {
    const received: number[] = [];
    const up = await startUpstream('up', (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('close', () => received.push(n));
      req.on('end', () => res.end('done'));
    });
    const edge = await startEdge({
      upstreams: { up: up.url },
      legacy: 'up',
      routes: [{ id: 'uploads', prefix: '/upload', service: 'up' }],
    });
    try {
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: '127.0.0.1',
          port: edge.port,
          method: 'POST',
          path: '/upload/x',
          headers: { 'content-length': '1000000' },
          agent: false,
        });
        req.on('error', () => resolve());
        req.write(Buffer.alloc(10_000));
        setTimeout(() => req.destroy(), 100);
      });
      await waitFor('the request line', () => requestLines(edge.logs).length === 1, 2000);
      const line = requestLines(edge.logs)[0]!;
      assert.equal(line['aborted'], true);
      assert.equal(line['upstreamError'], undefined);
      assert.equal(edge.outcomes.length, 0);
      assert.doesNotMatch(await edge.metrics.registry.metrics(), /rf_edge_upstream_errors_total\{/);
      await waitFor('the upstream to receive the request', () => received.length === 1, 2000);
      assert.ok(received[0]! >= 10_000, 'the part sent did stream to the upstream before the abort');
    } finally {
      await edge.close();
      await up.close();
    }
  });

  test('leaving before a slow upstream answers: the late answer is dropped, the edge keeps serving', async () => {
    const up = await startUpstream('up', (req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('late answer'), 200);
      else res.end('fine');
    });
    const edge = await startEdge({ upstreams: { up: up.url }, legacy: 'up' });
    try {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: edge.port, path: '/slow', agent: false });
        req.on('error', () => resolve());
        setTimeout(() => req.destroy(), 50);
      });
      await new Promise((r) => setTimeout(r, 300));
      const line = requestLines(edge.logs).find((l) => l['path'] === '/slow')!;
      assert.equal(line['aborted'], true);
      const res = await send(edge.port, { path: '/after' });
      assert.equal(res.body.toString(), 'fine');
    } finally {
      await edge.close();
      await up.close();
    }
  });
});
