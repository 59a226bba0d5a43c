// With REDIS_URL, shadow comparisons are shared: two edges on one Redis count into the same tally, so either one's
// GET /api/routes/:id/diff (and the gate the leader judges) sees every replica's comparisons and samples.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { deleteRedisKeys, redisUrl, uniqueRedisPrefix } from '../support/databases.ts';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { send } from '../support/http-client.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

function answer(name: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const odd = (req.url ?? '').includes('/odd/');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, owner: odd && name === 'service' ? 'someone else' : 'ann' }));
  };
}

describe('shadow comparisons shared through Redis', () => {
  const prefix = uniqueRedisPrefix('diff');
  const upstreams: TestUpstream[] = [];
  const edges: EdgeApp[] = [];
  after(async () => {
    for (const e of edges) await e.close();
    for (const u of upstreams) await u.close();
    await deleteRedisKeys(prefix);
  });

  test('two replicas count into one tally and one sample list', async () => {
    const monolith = await startUpstream('monolith', answer('monolith'));
    const service = await startUpstream('service', answer('service'));
    upstreams.push(monolith, service);
    const yaml = `version: 1
upstreams:
  monolith: { url: ${monolith.url} }
  items: { url: ${service.url} }
legacy: monolith
routes:
  - id: items
    path: /api/items/*
    service: items
    flag: raptorflow.agents-read
    mode: shadow
    shadow: { samples: 5, noise: { sampleRate: 0 } }
`;
    const env = { REDIS_URL: redisUrl(), REDIS_KEY_PREFIX: prefix };
    const a = await startEdgeApp(yaml, { env });
    edges.push(a);
    const b = await startEdgeApp(yaml, { env });
    edges.push(b);

    for (let i = 0; i < 40; i++) {
      const edge = i % 2 === 0 ? a : b;
      const res = await send(edge.edge.port, { path: i % 10 === 0 ? `/api/items/odd/${i}` : `/api/items/${i}` });
      assert.equal(res.status, 200);
    }
    const view = async (app: EdgeApp) => {
      const res = await fetch(`${app.adminUrl}/api/routes/items/diff`);
      return (await res.json()) as { compared: number; mismatches: number; mismatchFields: Array<{ field: string }> };
    };
    await waitFor('both replicas see all 40 comparisons', async () => {
      const [va, vb] = await Promise.all([view(a), view(b)]);
      return va.compared === 40 && vb.compared === 40;
    });
    const seen = await view(b);
    assert.equal(seen.mismatches, 4);
    assert.deepEqual(
      seen.mismatchFields.map((f) => f.field),
      ['body.owner'],
    );
    const res = await fetch(`${a.adminUrl}/api/routes/items/diff/samples`);
    const { samples } = (await res.json()) as { samples: Array<{ path: string }> };
    assert.deepEqual(samples.map((s) => s.path).sort(), [
      '/api/items/odd/0',
      '/api/items/odd/10',
      '/api/items/odd/20',
      '/api/items/odd/30',
    ]);
  });
});
