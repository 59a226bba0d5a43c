import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import type { LoadPlan } from '../../bench/load-plan.ts';
import { measure } from '../../bench/measure.ts';
import type { Target } from '../../bench/targets/target.ts';

interface Seen {
  count: number;
  paths: Set<string>;
  users: Set<string>;
}

function origin(server: Server): string {
  const address = server.address();
  assert.ok(typeof address === 'object' && address);
  return `http://127.0.0.1:${address.port}`;
}

function target(url: string): Target {
  // The server runs in this test process, so this process's CPU is the "proxy" CPU being measured.
  return {
    name: 'test-server',
    description: 'a node:http server in the test process',
    origin: url,
    pid: process.pid,
    evidence: async () => ({}),
    stop: async () => {},
  };
}

const plan = (overrides: Partial<Omit<LoadPlan, 'origin'>> = {}): Omit<LoadPlan, 'origin'> => ({
  paths: ['/ok/a', '/ok/b'],
  users: 3,
  connections: 4,
  warmupMs: 200,
  durationMs: 600,
  rate: null,
  ...overrides,
});

describe('bench load generator', () => {
  const seen: Seen = { count: 0, paths: new Set(), users: new Set() };
  let server: Server;

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.count++;
      seen.paths.add(req.url ?? '');
      seen.users.add(String(req.headers['x-user-id']));
      res.writeHead(req.url?.startsWith('/fail') ? 503 : 200, { 'content-length': 2 });
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('closed loop: counts the measured window’s answers and the CPU the target spent on them', async () => {
    const before = seen.count;
    const m = await measure(target(origin(server)), plan(), process.pid, true);
    assert.equal(m.load.mode, 'max');
    assert.equal(m.load.errors, 0);
    assert.equal(m.load.non2xx, 0);
    assert.ok(m.load.requests > 0);
    // Warm-up requests reached the server too but are not in the result.
    assert.ok(seen.count - before > m.load.requests);
    assert.equal(m.load.latency.count, m.load.requests);
    assert.ok(m.load.latency.p50Ms > 0 && m.load.latency.p50Ms <= m.load.latency.p99Ms);
    assert.deepEqual([...seen.paths].sort(), ['/ok/a', '/ok/b']);
    assert.deepEqual([...seen.users].sort(), ['bench-user-0', 'bench-user-1', 'bench-user-2']);
    assert.ok(m.proxyCpuUsPerRequest !== null && m.proxyCpuUsPerRequest > 0);
    assert.ok(m.load.generatorCpuShare > 0);
  });

  test('open loop: never sends more than the offered rate allows', async () => {
    const rate = 300;
    const m = await measure(target(origin(server)), plan({ rate, connections: 8 }), process.pid, true);
    assert.equal(m.load.mode, 'fixed-rate');
    assert.equal(m.load.targetRate, rate);
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.requests > 0);
    assert.ok(m.load.requests <= Math.ceil((rate * m.load.durationMs) / 1000) + 1, `${m.load.requests} requests`);
  });

  test('answers outside 2xx are counted apart from successes', async () => {
    const m = await measure(target(origin(server)), plan({ paths: ['/ok', '/fail'] }), process.pid, false);
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.non2xx > 0 && m.load.non2xx < m.load.requests);
    assert.equal(m.proxyCpuUsPerRequest, null);
  });

  test('transport failures are counted and the first one is named', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const m = await measure(target(closed), plan({ durationMs: 300, warmupMs: 100 }), process.pid, false);
    assert.equal(m.load.requests, 0);
    assert.ok(m.load.errors > 0);
    assert.match(m.load.firstError ?? '', /ECONNREFUSED/);
  });
});
