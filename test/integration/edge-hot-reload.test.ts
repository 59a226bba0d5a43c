// Hot reload through the whole running edge (createEdge, as `rf-edge start` builds it): an edit to routes.yaml
// changes where requests go while traffic, a slow streamed response, a keep-alive connection and an SSE stream are
// in flight, none of which fails or drops; an invalid edit is rejected (log event with line:col, failure metric)
// while the previous table keeps serving; a later fix applies. Then the same through `rf-edge start` as a child
// process, reloaded by SIGHUP.
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EdgeApp, repoFlagsDir, startEdgeApp } from '../support/edge-app.ts';
import { metricSamples, metricValue } from '../support/prometheus-scrape.ts';
import { spawnRfEdge } from '../support/rf-edge-process.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

const SLOW_CHUNKS = 15;
const CHUNK_EVERY_MS = 100;

/** Says who answered in `x-served-by`; `/slow` streams for 1.5 s, `/sse` sends an event every 100 ms until closed. */
function taggedUpstream(name: string) {
  return startUpstream(name, (req, res) => {
    const path = req.url ?? '/';
    if (path.endsWith('/slow')) {
      res.writeHead(200, { 'x-served-by': name, 'content-type': 'text/plain' });
      let n = 0;
      const timer = setInterval(() => {
        n++;
        res.write(`${name} chunk ${n}\n`);
        if (n === SLOW_CHUNKS) {
          clearInterval(timer);
          res.end();
        }
      }, CHUNK_EVERY_MS);
      res.once('close', () => clearInterval(timer));
      return;
    }
    if (path.endsWith('/sse')) {
      res.writeHead(200, { 'x-served-by': name, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      const timer = setInterval(() => res.write(`id: ${++n}\ndata: ${name} ${n}\n\n`), CHUNK_EVERY_MS);
      res.once('close', () => clearInterval(timer));
      return;
    }
    req.resume();
    req.once('end', () => {
      const body = JSON.stringify({ servedBy: name, url: path });
      res.writeHead(200, { 'x-served-by': name, 'content-type': 'application/json' });
      res.end(body);
    });
  });
}

interface TableOptions {
  readonly mode: 'legacy' | 'service';
  readonly service?: string;
  readonly stepInterval?: string;
  /** A comment line, to make a content different without changing its meaning. */
  readonly note?: string;
}

function tableYaml(monolith: TestUpstream, service: TestUpstream, o: TableOptions): string {
  return [
    `# ${o.note ?? 'hot reload test'}`,
    'version: 1',
    'upstreams:',
    `  monolith: { url: ${monolith.url} }`,
    `  service: { url: ${service.url} }`,
    'legacy: monolith',
    'routes:',
    '  - id: things',
    '    path: /api/things/*',
    `    service: ${o.service ?? 'service'}`,
    `    mode: ${o.mode}`,
    ...(o.stepInterval === undefined ? [] : ['    rollout:', `      stepInterval: ${o.stepInterval}`]),
    '',
  ].join('\n');
}

/** 1-based line and column of `needle` in `text` (the first occurrence). */
function position(text: string, needle: string): { line: number; col: number } {
  const lines = text.split('\n');
  const index = lines.findIndex((l) => l.includes(needle));
  assert.ok(index >= 0, `${needle} is in the table`);
  return { line: index + 1, col: (lines[index] as string).indexOf(needle) + 1 };
}

interface Answer {
  readonly status: number;
  readonly servedBy: string;
  readonly body: string;
  readonly localPort: number;
  readonly reusedSocket: boolean;
  readonly startedAt: number;
  readonly endedAt: number;
}

function get(base: string, path: string, agent: http.Agent | false = false): Promise<Answer> {
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          servedBy: String(res.headers['x-served-by']),
          body: Buffer.concat(chunks).toString('utf8'),
          localPort: req.socket?.localPort ?? res.socket?.localPort ?? 0,
          reusedSocket: req.reusedSocket,
          startedAt,
          endedAt: performance.now(),
        }),
      );
    });
    req.on('error', reject);
  });
}

/** An SSE stream held open: the events so far (with arrival times) and whether it ended. */
function openEvents(base: string, path: string) {
  const events: Array<{ data: string; at: number }> = [];
  let ended = false;
  let response: IncomingMessage | undefined;
  const req = http.get(`${base}${path}`, { agent: false });
  const opened = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      response = res;
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let end = pending.indexOf('\n\n');
        while (end !== -1) {
          const data = /^data: (.*)$/m.exec(pending.slice(0, end))?.[1] ?? '';
          events.push({ data, at: performance.now() });
          pending = pending.slice(end + 2);
          end = pending.indexOf('\n\n');
        }
      });
      res.once('end', () => {
        ended = true;
      });
      res.once('close', () => {
        ended = true;
      });
      resolve(res);
    });
  });
  return {
    events,
    opened,
    ended: () => ended,
    servedBy: () => String(response?.headers['x-served-by']),
    close: () => req.destroy(),
  };
}

/** Several clients sending back-to-back requests on keep-alive connections until stopped. */
function steadyTraffic(base: string, clients: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const answers: Answer[] = [];
  const failures: string[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const path = `/api/things/item-${n++}`;
      try {
        const a = await get(base, path, agent);
        if (a.status !== 200) failures.push(`${path}: ${a.status} ${a.body}`);
        answers.push(a);
      } catch (err) {
        failures.push(`${path}: ${(err as Error).message}`);
      }
    }
  });
  return {
    answers,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

async function scrape(app: EdgeApp): Promise<string> {
  const res = await fetch(`${app.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

describe('hot reload of a running edge', () => {
  let monolith: TestUpstream;
  let service: TestUpstream;
  let app: EdgeApp;
  let servingHash = '';

  before(async () => {
    monolith = await taggedUpstream('monolith');
    service = await taggedUpstream('service');
    app = await startEdgeApp(tableYaml(monolith, service, { mode: 'legacy' }));
  });

  after(async () => {
    await app?.close();
    await monolith?.close();
    await service?.close();
  });

  test('an edit applies to new requests while in-flight requests, keep-alive connections and streams carry on', async (t) => {
    assert.equal((await get(app.url, '/api/things/before')).servedBy, 'monolith');
    const firstHash = app.edge.table().hash;

    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const firstOnSocket = await get(app.url, '/api/things/keep-alive-1', keepAlive);
    const sse = openEvents(app.url, '/api/things/sse');
    await sse.opened;
    const slow = get(app.url, '/api/things/slow');
    const traffic = steadyTraffic(app.url, 4);
    await sleep(200);

    const edited = tableYaml(monolith, service, { mode: 'service' });
    const editedAt = performance.now();
    await app.writeRoutes(edited);
    await waitFor(
      'a request answered by the service',
      () => traffic.answers.some((a) => a.servedBy === 'service'),
      5_000,
    );
    const switchedAt = Math.min(...traffic.answers.filter((a) => a.servedBy === 'service').map((a) => a.endedAt));
    t.diagnostic(
      `first request served by the new table ${Math.round(switchedAt - editedAt)} ms after the edit was saved`,
    );
    await sleep(300);

    const secondOnSocket = await get(app.url, '/api/things/keep-alive-2', keepAlive);
    const slowAnswer = await slow;
    await traffic.stop();
    const eventsAfterSwitch = sse.events.filter((e) => e.at > switchedAt).length;
    const sseEnded = sse.ended();
    sse.close();
    keepAlive.destroy();

    assert.deepEqual(traffic.failures, [], 'no request failed across the reload');
    assert.ok(traffic.answers.length > 20, `steady traffic ran (${traffic.answers.length} requests)`);
    const lateMonolith = traffic.answers.filter((a) => a.startedAt > switchedAt && a.servedBy !== 'service');
    assert.deepEqual(lateMonolith, [], 'every request sent after the switch follows the new table');
    assert.ok(
      traffic.answers.some((a) => a.endedAt < editedAt && a.servedBy === 'monolith'),
      'requests before the edit went to the monolith',
    );

    assert.equal(slowAnswer.status, 200);
    assert.equal(
      slowAnswer.servedBy,
      'monolith',
      'the slow response started before the edit comes from where it began',
    );
    assert.equal(slowAnswer.body.split('\n').filter(Boolean).length, SLOW_CHUNKS, 'every chunk arrived');
    assert.ok(slowAnswer.endedAt > switchedAt, 'the slow response was still streaming when the table changed');

    assert.equal(sse.servedBy(), 'monolith');
    assert.equal(sseEnded, false, 'the SSE stream stayed open across the reload');
    assert.ok(eventsAfterSwitch >= 3, `SSE events kept arriving after the switch (${eventsAfterSwitch})`);

    assert.equal(firstOnSocket.servedBy, 'monolith');
    assert.equal(secondOnSocket.servedBy, 'service', 'the open connection follows the new table');
    assert.equal(secondOnSocket.reusedSocket, true, 'the keep-alive connection was not closed by the reload');
    assert.equal(secondOnSocket.localPort, firstOnSocket.localPort, 'same connection before and after');

    servingHash = app.edge.table().hash;
    assert.notEqual(servingHash, firstHash);
    const reloaded = app.logs.events('config.reloaded');
    assert.equal(reloaded.length, 1);
    assert.equal(reloaded[0]?.['from'], firstHash);
    assert.equal(reloaded[0]?.['to'], servingHash);
    const metrics = await scrape(app);
    assert.equal(metricValue(metrics, 'rf_edge_config_reloads_total', { result: 'success' }), 1);
    assert.equal(metricValue(metrics, 'rf_edge_config_info', { hash: servingHash }), 1);
  });

  test('an invalid edit is rejected with line:col problems and a metric; the previous table keeps serving', async () => {
    const broken = tableYaml(monolith, service, { mode: 'legacy', service: 'nowhere', stepInterval: '5 fortnights' });
    await app.writeRoutes(broken);
    await waitFor('config.rejected logged', () => app.logs.events('config.rejected').length > 0, 5_000);

    const rejected = app.logs.events('config.rejected');
    assert.equal(rejected.length, 1, 'one edit, one rejection');
    const entry = rejected[0] as Record<string, unknown>;
    assert.equal(entry['level'], 'error');
    assert.equal(entry['keeping'], servingHash);
    const problems = entry['problems'] as Array<{ file: string; line: number; col: number; message: string }>;
    const unknownUpstream = position(broken, 'nowhere');
    const badDuration = position(broken, '5 fortnights');
    const at = problems.map((p) => ({ line: p.line, col: p.col }));
    assert.deepEqual(
      at,
      [unknownUpstream, badDuration].sort((a, b) => a.line - b.line),
    );
    assert.match(problems.find((p) => p.line === unknownUpstream.line)?.message ?? '', /nowhere/);
    assert.match(problems.find((p) => p.line === badDuration.line)?.message ?? '', /duration/);
    const message = String(entry['msg']);
    assert.ok(message.includes(`${app.routesFile}:${unknownUpstream.line}:${unknownUpstream.col} `), message);
    assert.ok(message.includes(`${app.routesFile}:${badDuration.line}:${badDuration.col} `), message);

    assert.equal(app.edge.table().hash, servingHash);
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await get(app.url, `/api/things/after-reject-${i}`)).servedBy,
        'service',
        'still the previous table',
      );
    }
    const metrics = await scrape(app);
    assert.equal(metricValue(metrics, 'rf_edge_config_reloads_total', { result: 'failure' }), 1);
    assert.equal(metricValue(metrics, 'rf_edge_config_reloads_total', { result: 'success' }), 1);
    assert.deepEqual(
      metricSamples(metrics, 'rf_edge_config_info').map((s) => s.labels['hash']),
      [servingHash],
      'config info still shows the serving hash, and only it',
    );
  });

  test('a later fix applies', async () => {
    await app.writeRoutes(tableYaml(monolith, service, { mode: 'legacy', note: 'fixed' }));
    await waitFor('a second config.reloaded', () => app.logs.events('config.reloaded').length === 2, 5_000);
    const fixedHash = app.edge.table().hash;
    assert.notEqual(fixedHash, servingHash);
    assert.equal((await get(app.url, '/api/things/fixed')).servedBy, 'monolith');
    const metrics = await scrape(app);
    assert.equal(metricValue(metrics, 'rf_edge_config_reloads_total', { result: 'success' }), 2);
    assert.equal(metricValue(metrics, 'rf_edge_config_reloads_total', { result: 'failure' }), 1);
    assert.deepEqual(
      metricSamples(metrics, 'rf_edge_config_info').map((s) => s.labels['hash']),
      [fixedHash],
    );
  });
});

describe('rf-edge start reloads on SIGHUP', () => {
  let monolith: TestUpstream;
  let service: TestUpstream;
  let dir: string;

  before(async () => {
    monolith = await taggedUpstream('monolith');
    service = await taggedUpstream('service');
    dir = await mkdtemp(join(tmpdir(), 'rf-edge-sighup-'));
  });

  after(async () => {
    await monolith?.close();
    await service?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('SIGHUP re-reads routes.yaml: a rejection is reported again, a valid edit applies', async () => {
    const routesFile = join(dir, 'routes.yaml');
    // Editors save by writing a new file and renaming it over the old one; the watcher must follow that too.
    const save = async (text: string) => {
      await writeFile(`${routesFile}.tmp`, text);
      await rename(`${routesFile}.tmp`, routesFile);
    };
    await save(tableYaml(monolith, service, { mode: 'legacy' }));
    const edge = spawnRfEdge(['start'], {
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      ROUTES_FILE: routesFile,
      FLAGS_DIR: repoFlagsDir,
      DATA_DIR: join(dir, 'data'),
    });
    try {
      const started = await edge.waitForEvent('edge.started');
      const base = `http://127.0.0.1:${Number(started['port'])}`;
      assert.equal((await get(base, '/api/things/a')).servedBy, 'monolith');

      await save(tableYaml(monolith, service, { mode: 'legacy', service: 'nowhere' }));
      await edge.waitForEvent('config.rejected');
      await sleep(300);
      assert.equal(edge.events('config.rejected').length, 1, 'the watcher reports one broken content once');

      edge.child.kill('SIGHUP');
      await edge.waitForEvent('config.reload_requested');
      await waitFor('a second config.rejected', () => edge.events('config.rejected').length === 2, 5_000);
      assert.equal((await get(base, '/api/things/b')).servedBy, 'monolith', 'the previous table keeps serving');

      await save(tableYaml(monolith, service, { mode: 'service' }));
      edge.child.kill('SIGHUP');
      await edge.waitForEvent('config.reloaded');
      assert.equal((await get(base, '/api/things/c')).servedBy, 'service');
      assert.equal(edge.events('config.reloaded').length, 1, 'one new content, applied once');
    } finally {
      const stopped = await edge.stop();
      assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null });
    }
  });
});
