// Fallback to the monolith on the real forwarding path, against real upstreams on port 0: a service that cannot be
// reached has its requests answered by the monolith (any method: it never saw them); one that was sent a request
// and failed without an answer, or answered a listed status, has only idempotent requests sent again; a POST that
// reached the service is never sent twice; a body over the limit is not replayed, and the log says why. Every
// fallback counts against the service for the judge and in rf_edge_fallbacks_total.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { DEFAULT_FALLBACK, type FallbackPolicy } from '../../src/core/fallback-policy.ts';
import type { Decision, Target } from '../../src/core/types.ts';
import type { EdgeRouting } from '../../src/http/table-plan.ts';
import { makeTable, requestLines, startEdge, type TestEdge } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { metricValue } from '../support/prometheus-scrape.ts';
import { type EchoBody, startUpstream, type TestUpstream } from '../support/upstream.ts';

const ROUTE = 'agents';

/** A port nothing listens on: an upstream started and closed again. */
async function deadUrl(): Promise<string> {
  const u = await startUpstream('dead');
  await u.close();
  return u.url;
}

async function edgeFor(serviceUrl: string, monolith: TestUpstream, fallback: FallbackPolicy = DEFAULT_FALLBACK) {
  return startEdge({
    upstreams: { monolith: monolith.url, agents: serviceUrl },
    legacy: 'monolith',
    routes: [{ id: ROUTE, prefix: '/api/agents', service: 'agents', fallback }],
  });
}

function answeredBy(body: Buffer): string {
  return (JSON.parse(body.toString()) as EchoBody).upstream;
}

async function fallbacks(edge: TestEdge, reason: string): Promise<number> {
  return metricValue(await edge.metrics.registry.metrics(), 'rf_edge_fallbacks_total', { route: ROUTE, reason }) ?? 0;
}

describe('fallback to the monolith', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test('a service that cannot be reached: GET and POST (with its body) are answered by the monolith', async () => {
    const monolith = await startUpstream('monolith');
    closers.push(() => monolith.close());
    const edge = await edgeFor(await deadUrl(), monolith);
    closers.push(() => edge.close());

    const get = await send(edge.port, { path: '/api/agents/1' });
    assert.equal(get.status, 200);
    assert.equal(answeredBy(get.body), 'monolith');
    const post = await send(edge.port, {
      method: 'POST',
      path: '/api/agents',
      headers: { 'content-type': 'text/plain', 'content-length': '5' },
      body: 'hello',
    });
    assert.equal(post.status, 200);
    const echoed = JSON.parse(post.body.toString()) as EchoBody;
    assert.deepEqual([echoed.upstream, echoed.method, echoed.bodyBytes], ['monolith', 'POST', 5]);

    assert.equal(await fallbacks(edge, 'not_sent'), 2);
    // The judge sees the service fail twice, and the monolith answer twice.
    assert.deepEqual(
      edge.outcomes.map((o) => [o.target, o.status, o.transportError]),
      [
        ['service', 0, true],
        ['legacy', 200, false],
        ['service', 0, true],
        ['legacy', 200, false],
      ],
    );
    assert.deepEqual(
      requestLines(edge.logs).map((l) => [l['status'], l['upstream'], l['fallback']]),
      [
        [200, 'monolith', 'not_sent'],
        [200, 'monolith', 'not_sent'],
      ],
    );
  });

  test('a 503 or a reset from the service: GET goes to the monolith, a POST that reached the service never does', async () => {
    const monolith = await startUpstream('monolith');
    closers.push(() => monolith.close());
    const service = await startUpstream('service', (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.endsWith('/reset')) {
          res.socket?.destroy();
          return;
        }
        res.writeHead(503, { 'content-length': '0' });
        res.end();
      });
    });
    closers.push(() => service.close());
    const edge = await edgeFor(service.url, monolith);
    closers.push(() => edge.close());

    const get = await send(edge.port, { path: '/api/agents/1' });
    assert.equal(get.status, 200);
    assert.equal(answeredBy(get.body), 'monolith');
    const resetGet = await send(edge.port, { path: '/api/agents/reset' });
    assert.equal(resetGet.status, 200);
    assert.equal(answeredBy(resetGet.body), 'monolith');

    const post = await send(edge.port, {
      method: 'POST',
      path: '/api/agents/1',
      headers: { 'content-length': '2' },
      body: 'hi',
    });
    assert.equal(post.status, 503, 'the service answered: the client gets its answer');
    const resetPost = await send(edge.port, {
      method: 'POST',
      path: '/api/agents/reset',
      headers: { 'content-length': '2' },
      body: 'hi',
    });
    assert.equal(resetPost.status, 502);
    assert.deepEqual(
      monolith.received.map((r) => r.method),
      ['GET', 'GET'],
      'no POST that reached the service was sent to the monolith',
    );
    assert.deepEqual(
      service.received.map((r) => `${r.method} ${r.url}`),
      ['GET /api/agents/1', 'GET /api/agents/reset', 'POST /api/agents/1', 'POST /api/agents/reset'],
    );
    assert.equal(await fallbacks(edge, 'status'), 1);
    assert.equal(await fallbacks(edge, 'no_response'), 1);
    const skipped = edge.logs.filter((l) => l['event'] === 'fallback.skipped').map((l) => l['why']);
    assert.deepEqual(skipped, ['not_idempotent', 'not_idempotent']);
    // Every service failure is the judge's evidence, fallback or not.
    assert.equal(edge.outcomes.filter((o) => o.target === 'service').length, 4);
  });

  test('a POST with Idempotency-Key goes again where the route allows it; a body over the limit never does', async () => {
    const monolith = await startUpstream('monolith');
    closers.push(() => monolith.close());
    const service = await startUpstream('service', (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-length': '0' });
        res.end();
      });
    });
    closers.push(() => service.close());
    const edge = await edgeFor(service.url, monolith, { ...DEFAULT_FALLBACK, maxBodyBytes: 10, idempotencyKey: true });
    closers.push(() => edge.close());

    const keyed = await send(edge.port, {
      method: 'POST',
      path: '/api/agents',
      headers: { 'content-length': '2', 'idempotency-key': 'order-42' },
      body: 'hi',
    });
    assert.equal(keyed.status, 200);
    assert.equal(answeredBy(keyed.body), 'monolith');

    const big = await send(edge.port, {
      method: 'PUT',
      path: '/api/agents/1',
      headers: { 'content-length': '11' },
      body: 'x'.repeat(11),
    });
    assert.equal(big.status, 503, "the service's own answer stands");
    const skipped = edge.logs.find((l) => l['event'] === 'fallback.skipped');
    assert.equal(skipped?.['why'], 'body_too_large');
    assert.match(String(skipped?.['msg']), /no fallback to the monolith: body too large/);
    assert.deepEqual(
      monolith.received.map((r) => r.method),
      ['POST'],
    );
  });
});

describe('a service killed mid-canary', () => {
  test('loses no idempotent request: every GET is answered, by the service or the monolith', async () => {
    const monolith = await startUpstream('monolith');
    const service = await startUpstream('service');
    const edge = await edgeFor(service.url, monolith);
    // A 10 % canary: every tenth user on the service.
    const table = makeTable({
      upstreams: { monolith: monolith.url, agents: service.url },
      legacy: 'monolith',
      routes: [{ id: ROUTE, prefix: '/api/agents', service: 'agents', fallback: DEFAULT_FALLBACK }],
    });
    const canary: EdgeRouting = {
      table,
      decide(facts): Decision {
        const user = Number(facts.headers['x-user-id']);
        const target: Target = user % 10 === 0 ? 'service' : 'legacy';
        return {
          routeId: ROUTE,
          target,
          upstream: target === 'service' ? 'agents' : 'monolith',
          reason: target === 'service' ? 'bucket_in' : 'bucket_out',
          bucket: null,
          weight: 10,
          shadow: false,
        };
      },
    };
    edge.setRouting(canary);
    try {
      const statuses: number[] = [];
      const servedBy = new Map<string, number>();
      let user = 0;
      const worker = async (stopAt: number) => {
        while (user < stopAt) {
          const id = user++;
          const res = await send(edge.port, { path: `/api/agents/${id}`, headers: { 'x-user-id': String(id) } });
          statuses.push(res.status);
          if (res.status === 200) {
            const by = answeredBy(res.body);
            servedBy.set(by, (servedBy.get(by) ?? 0) + 1);
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, () => worker(300)));
      await service.close(); // killed: open connections cut, the port refuses from now on
      await Promise.all(Array.from({ length: 8 }, () => worker(600)));
      assert.equal(statuses.length, 600);
      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
        'no request lost',
      );
      assert.ok((servedBy.get('service') ?? 0) >= 25, JSON.stringify([...servedBy]));
      const fellBack = (await fallbacks(edge, 'not_sent')) + (await fallbacks(edge, 'no_response'));
      assert.ok(fellBack >= 25, `${fellBack} fallbacks`);
      // The judge sees each of them as a service failure.
      assert.equal(edge.outcomes.filter((o) => o.target === 'service' && o.transportError).length, fellBack);
    } finally {
      await edge.close();
      await monolith.close();
    }
  });
});
