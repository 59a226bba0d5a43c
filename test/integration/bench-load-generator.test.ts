import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import type { LoadPlan } from '../../bench/load-plan.ts';
import { type LoadGenerator, startLoadGenerator } from '../../bench/measure.ts';
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
  warmupMs: 150,
  durationMs: 450,
  rate: null,
  ...overrides,
});

describe('bench load generator', () => {
  const seen: Seen = { count: 0, paths: new Set(), users: new Set() };
  let server: Server;
  let generator: LoadGenerator;

  before(async () => {
    generator = startLoadGenerator();
    server = createServer((req: IncomingMessage, res) => {
      seen.count++;
      seen.paths.add(req.url ?? '');
      seen.users.add(String(req.headers['x-user-id']));
      const answer = () => {
        res.writeHead(req.url?.startsWith('/fail') ? 503 : 200, { 'content-length': 2 });
        res.end('ok');
      };
      if (req.url?.startsWith('/busy')) {
        // 1 ms of CPU per request, so the CPU the bench reads per request has a known floor.
        const until = performance.now() + 1;
        while (performance.now() < until) {}
      }
      if (req.url?.startsWith('/slow')) setTimeout(answer, 50);
      else if (!req.url?.startsWith('/hang')) answer();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await generator.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('closed loop: counts the measured window’s answers and the CPU the target spent on them', async () => {
    const before = seen.count;
    const m = await generator.measure(target(origin(server)), plan({ paths: ['/busy/a', '/busy/b'] }), {
      upstreamPid: process.pid,
      readCpu: true,
    });
    assert.equal(m.load.mode, 'max');
    assert.equal(m.load.errors, 0);
    assert.equal(m.load.non2xx, 0);
    assert.ok(m.load.requests > 0);
    assert.ok(seen.count - before >= m.load.requests);
    // Answers in the window vs requests sent in it: they differ only by what was in flight at its two edges.
    assert.ok(Math.abs(m.load.latency.count - m.load.requests) <= 4);
    assert.ok(m.load.latency.p50Ms > 0 && m.load.latency.p50Ms <= m.load.latency.p99Ms);
    assert.deepEqual([...seen.paths].sort(), ['/busy/a', '/busy/b']);
    assert.deepEqual([...seen.users].sort(), ['bench-user-0', 'bench-user-1', 'bench-user-2']);
    // At least most of the 1 ms each request burns (the counters tick every 10 ms, and edge requests straddle).
    assert.ok(m.proxyCpuUsPerRequest !== null && m.proxyCpuUsPerRequest >= 500, `${m.proxyCpuUsPerRequest} µs`);
    assert.ok(m.load.generatorCpuShare > 0);
  });

  test('open loop: never sends more than the offered rate allows', async () => {
    const rate = 300;
    const m = await generator.measure(target(origin(server)), plan({ rate, connections: 8 }), {
      upstreamPid: process.pid,
      readCpu: true,
    });
    assert.equal(m.load.mode, 'fixed-rate');
    assert.equal(m.load.targetRate, rate);
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.requests > 0);
    const sent = m.load.latency.count;
    assert.ok(sent <= Math.ceil((rate * m.load.durationMs) / 1000) + 2, `${sent} requests sent`);
  });

  test('open loop beyond what the target can answer: the achieved rate drops and the backlog shows as latency', async () => {
    // Two connections to a server that takes 50 ms per answer can complete at most 40 requests/s.
    const rate = 200;
    const m = await generator.measure(
      target(origin(server)),
      plan({ rate, connections: 2, paths: ['/slow'], warmupMs: 100, durationMs: 400 }),
      { upstreamPid: process.pid, readCpu: false },
    );
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.requests <= 2 * (m.load.durationMs / 50) + 2, `${m.load.requests} answers in the window`);
    assert.ok(m.load.rps < rate / 2, `achieved ${m.load.rps}/s`);
    assert.ok(m.load.latency.p99Ms >= 200, `p99 ${m.load.latency.p99Ms} ms`);
  });

  test('requests never answered: the generator stops waiting, and reports them as unfinished', async () => {
    const m = await generator.measure(
      target(origin(server)),
      plan({ rate: 50, connections: 2, paths: ['/hang'], warmupMs: 100, durationMs: 300 }),
      { upstreamPid: process.pid, readCpu: false },
    );
    assert.equal(m.load.requests, 0);
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.unfinished > 0);
    assert.equal(m.load.latency.count, m.load.unfinished);
    // They had waited at least the rest of the window plus the drain limit.
    assert.ok(m.load.latency.maxMs >= 2000, `max ${m.load.latency.maxMs} ms`);
  });

  test('answers outside 2xx are counted apart from successes', async () => {
    const m = await generator.measure(target(origin(server)), plan({ paths: ['/ok', '/fail'] }), {
      upstreamPid: process.pid,
      readCpu: false,
    });
    assert.equal(m.load.errors, 0);
    assert.ok(m.load.non2xx > 0 && m.load.non2xx < m.load.requests);
    assert.equal(m.proxyCpuUsPerRequest, null);
  });

  test('transport failures are counted and the first one is named', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const m = await generator.measure(target(closed), plan({ durationMs: 300, warmupMs: 100 }), {
      upstreamPid: process.pid,
      readCpu: false,
    });
    assert.equal(m.load.requests, 0);
    assert.ok(m.load.errors > 0);
    assert.match(m.load.firstError ?? '', /ECONNREFUSED/);
  });
});
