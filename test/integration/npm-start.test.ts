// `npm start` smoke test: what it runs (`node bin/rf-edge start --with-examples`) in a child process, on free ports,
// with the repository's routes.yaml pointed at those ports. It says where everything is, requests through it reach
// the example monolith, and SIGTERM stops it with exit code 0 and every port released.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import { repoRoot, spawnRfEdge } from '../support/rf-edge-process.ts';

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

test('npm start runs the examples and the edge, prints where they are, and stops cleanly on SIGTERM', async (t) => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['start'], 'node bin/rf-edge start --with-examples', 'this test runs what npm start runs');

  const [port, adminPort, monolithPort, agentsPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'rf-edge-npm-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repoRoutes = await readFile(join(repoRoot, 'routes.yaml'), 'utf8');
  assert.ok(repoRoutes.includes('http://127.0.0.1:3001') && repoRoutes.includes('http://127.0.0.1:3002'));
  const routesFile = join(dir, 'routes.yaml');
  await writeFile(
    routesFile,
    repoRoutes
      .replaceAll('http://127.0.0.1:3001', `http://127.0.0.1:${monolithPort}`)
      .replaceAll('http://127.0.0.1:3002', `http://127.0.0.1:${agentsPort}`),
  );

  const edge = spawnRfEdge(['start', '--with-examples'], {
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    MONOLITH_PORT: String(monolithPort),
    AGENTS_PORT: String(agentsPort),
    ROUTES_FILE: routesFile,
    // The table is copied out of the repository; its adapters are the repository's.
    ADAPTERS_DIR: join(repoRoot, 'legacy-adapter'),
    DATA_DIR: join(dir, 'data'),
  });
  let stopped: Awaited<ReturnType<typeof edge.stop>> | undefined;
  t.after(async () => {
    stopped ??= await edge.stop();
  });

  const started = await edge.waitForEvent('edge.started');
  assert.equal(started['port'], port);
  assert.equal(started['adminPort'], adminPort);

  const printed = edge.stderr();
  for (const [what, where] of [
    ['example monolith', `http://127.0.0.1:${monolithPort}`],
    ['example agents service', `http://127.0.0.1:${agentsPort}`],
    ['rf-edge proxy', `http://127.0.0.1:${port}`],
    ['rf-edge admin', `http://127.0.0.1:${adminPort}`],
  ]) {
    assert.match(printed, new RegExp(`^${what} +${where}(\\s|$)`, 'm'), `prints ${what}:\n${printed}`);
  }
  for (const route of ['agents-read', 'agents-list', 'agents-write']) {
    assert.match(printed, new RegExp(`^ +${route} `, 'm'), `lists route ${route}`);
  }
  assert.match(printed, /\(everything else\) +→ monolith/);
  assert.doesNotMatch(printed, /Warning|FSTDEP/, 'no warnings at start');

  const page = await fetch(`http://127.0.0.1:${port}/api/analytics/summary`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('x-served-by'), 'monolith');
  assert.ok(page.headers.get('x-request-id'), 'the edge added a request id');
  await page.arrayBuffer();
  const agents = await fetch(`http://127.0.0.1:${port}/api/agents/agt_0001`, { headers: { 'x-user-id': 'user-7' } });
  assert.equal(agents.status, 200);
  assert.match(agents.headers.get('x-served-by') ?? '', /^(monolith|agents-service)$/);
  assert.equal(((await agents.json()) as { id: string }).id, 'agt_0001');
  const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();

  stopped = await edge.stop(8_000);
  t.diagnostic(`exited ${stopped.ms} ms after SIGTERM`);
  assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null });
  assert.ok(edge.events('edge.stopped').length === 1, 'logged its stop');
  for (const p of [port, adminPort, monolithPort, agentsPort]) {
    assert.equal(await refusesConnections(p), true, `port ${p} released`);
  }
});
