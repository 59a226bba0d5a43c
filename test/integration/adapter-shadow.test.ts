// Shadow on an adapted route compares v1 with adapted v2: the copy asks the v2 service in its own contract and its
// answer is translated before it is compared with the monolith's, so a faithful adapter shows `match`, where the
// same route without the adapter shows the two contracts differing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAgentsService } from '../../examples/agents-service.ts';
import { createMonolith } from '../../examples/monolith.ts';
import { closeServer } from '../../examples/server-lifecycle.ts';
import { startExamplesEdge } from '../support/agents-session.ts';
import type { EdgeApp } from '../support/edge-app.ts';
import { metricValue } from '../support/prometheus-scrape.ts';
import { rawRequest } from '../support/raw-request.ts';
import { waitFor } from '../support/wait.ts';

const FIXED_NOW = () => Date.parse('2025-06-01T12:00:00.000Z');
const monolith = createMonolith({ now: FIXED_NOW });
const service = createAgentsService({ now: FIXED_NOW });
let edge: EdgeApp;
let monolithUrl: string;
let serviceUrl: string;

before(async () => {
  ({ edge, monolithUrl, serviceUrl } = await startExamplesEdge(
    monolith,
    service,
    `routes:
  - { id: adapted, path: /api/agents/*, methods: [GET, HEAD], service: agents, flag: raptorflow.agents-read, mode: shadow, adapter: agents-v1 }
  - { id: unadapted, path: /api/agents, methods: [GET, HEAD], service: agents, flag: raptorflow.agents-read, mode: shadow }
  - id: adapted-writes
    path: /api/agents
    methods: [POST]
    service: agents
    flag: raptorflow.agents-read
    mode: shadow
    adapter: agents-v1
    shadow: { methods: [POST], maxBodyBytes: 4096 }
`,
    { serviceDryRun: true },
  ));
});
after(async () => {
  await edge?.close();
  await Promise.all([closeServer(monolith), closeServer(service)]);
});

async function shadowResults(route: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${edge.adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const result of ['match', 'mismatch', 'error', 'skipped']) {
    out[result] = metricValue(text, 'rf_edge_shadow_requests_total', { route, result }) ?? 0;
  }
  return out;
}

test('the client is served by the monolith; the adapted copy matches it, the unadapted one does not', async () => {
  for (const path of ['/api/agents/agt_0001', '/api/agents/agt_0002', '/api/agents/agt_9999', '/api/agents']) {
    const res = await rawRequest(edge.url, path);
    assert.equal(res.headers['x-served-by'], 'monolith', path);
  }
  await waitFor('three adapted and one unadapted comparison', async () => {
    const [a, u] = await Promise.all([shadowResults('adapted'), shadowResults('unadapted')]);
    return a['match']! + a['mismatch']! + a['error']! >= 3 && u['match']! + u['mismatch']! + u['error']! >= 1;
  });
  assert.deepEqual(await shadowResults('adapted'), { match: 3, mismatch: 0, error: 0, skipped: 0 });
  assert.deepEqual(await shadowResults('unadapted'), { match: 0, mismatch: 1, error: 0, skipped: 0 });
});

test('a copied write has its body translated too: the v2 service answers the agent the monolith created, as a dry run', async () => {
  const res = await rawRequest(edge.url, '/api/agents', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Copied', status: 'paused', tools: ['x'] }),
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers['x-served-by'], 'monolith');
  await waitFor('the compared write', async () => {
    const r = await shadowResults('adapted-writes');
    return r['match']! + r['mismatch']! + r['error']! >= 1;
  });
  assert.deepEqual(await shadowResults('adapted-writes'), { match: 1, mismatch: 0, error: 0, skipped: 0 });
  // The copy ran as a dry run: the monolith keeps the agent, the service (asked directly) does not.
  const id = (JSON.parse(res.body.toString()) as { id: string }).id;
  assert.equal((await fetch(`${monolithUrl}/api/agents/${id}`)).status, 200);
  assert.equal((await fetch(`${serviceUrl}/v2/agents/${id}`)).status, 404);
});
