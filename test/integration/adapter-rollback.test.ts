// "Failures are the service's": an adapter that cannot translate the service's answers makes every adapted request
// a 502 of the service, so the judge rolls the route back exactly as it would for a broken service, and the monolith
// serves again.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAgentsService } from '../../examples/agents-service.ts';
import { createMonolith } from '../../examples/monolith.ts';
import { closeServer } from '../../examples/server-lifecycle.ts';
import { REPO_ADAPTERS, startExamplesEdge } from '../support/agents-session.ts';
import type { EdgeApp } from '../support/edge-app.ts';
import { rawRequest } from '../support/raw-request.ts';
import { waitFor } from '../support/wait.ts';

const monolith = createMonolith();
const service = createAgentsService();
let edge: EdgeApp;
let adaptersDir: string;

before(async () => {
  // The repository's adapter with one value missing from the list's state map: ACTIVE agents cannot be translated.
  adaptersDir = await mkdtemp(join(tmpdir(), 'rf-edge-broken-adapter-'));
  const text = await readFile(join(REPO_ADAPTERS, 'agents-v1.yaml'), 'utf8');
  const broken = text.replace(
    'values: { ACTIVE: active, PAUSED: paused, ARCHIVED: archived } }',
    'values: { PAUSED: paused } }',
  );
  assert.notEqual(broken, text);
  await writeFile(join(adaptersDir, 'agents-v1.yaml'), broken);
  ({ edge } = await startExamplesEdge(
    monolith,
    service,
    `stickiness: [header:x-user-id]
rollout: { steps: [50], stepInterval: 1h, window: 10s, evaluateEvery: 250ms, minSamples: 10 }
routes:
  - { id: agents-list, path: /api/agents, methods: [GET, HEAD], service: agents, flag: raptorflow.agents-read, mode: canary, adapter: agents-v1 }
`,
    { adaptersDir, controllerTickMs: 100 },
  ));
});
after(async () => {
  await edge?.close();
  await Promise.all([closeServer(monolith), closeServer(service), rm(adaptersDir, { recursive: true, force: true })]);
});

test('a broken adapter rolls its route back like a broken service', async () => {
  const statuses = new Map<string, number>();
  for (let i = 0; i < 80; i++) {
    const res = await rawRequest(edge.url, '/api/agents', { headers: { 'x-user-id': `user-${i}` } });
    const key = `${res.headers['x-served-by'] ?? 'edge'} ${res.status}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  assert.ok(
    (statuses.get('agents-service 502') ?? 0) + (statuses.get('edge 502') ?? 0) >= 10,
    JSON.stringify([...statuses]),
  );
  assert.ok((statuses.get('monolith 200') ?? 0) >= 10, JSON.stringify([...statuses]));
  await waitFor(
    'the rollback',
    async () => {
      const view = (await (await fetch(`${edge.adminUrl}/api/routes/agents-list`)).json()) as { phase: string };
      return view.phase === 'rolled_back';
    },
    10_000,
    100,
  );
  const after = await rawRequest(edge.url, '/api/agents', { headers: { 'x-user-id': 'user-1' } });
  assert.equal(after.headers['x-served-by'], 'monolith');
  assert.equal(after.status, 200);
});
