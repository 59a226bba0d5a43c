// The admin listener of a whole running edge (createEdge): health and readiness, Prometheus metrics after real
// traffic, the dashboard page, the route API, and the mutating calls (bearer token, body validation, idempotent
// commands, refused transitions, the audit history).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { metricSamples, metricValue } from '../support/prometheus-scrape.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';

const TOKEN = 'admin-test-token';

function tableYaml(monolith: TestUpstream, agents: TestUpstream, deadUrl: string): string {
  return [
    'version: 1',
    'upstreams:',
    `  monolith: { url: ${monolith.url} }`,
    `  agents: { url: ${agents.url} }`,
    `  dead: { url: ${deadUrl} }`,
    'legacy: monolith',
    'stickiness: [header:x-user-id, ip]',
    'routes:',
    '  - id: agents-read',
    '    path: /api/agents/*',
    '    methods: [GET, HEAD]',
    '    service: agents',
    '    flag: raptorflow.agents-read',
    '    mode: canary',
    '  - id: reports',
    '    path: /api/reports/*',
    '    service: agents',
    '    mode: legacy',
    '  - id: broken',
    '    path: /api/broken/*',
    '    service: dead',
    '    mode: service',
    // Its failures must reach the client and the error metrics as such (fallback has its own tests).
    '    fallback: { enabled: false }',
    '',
  ].join('\n');
}

interface JsonAnswer {
  readonly status: number;
  readonly contentType: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are asserted field by field; typing each shape adds nothing
  readonly body: any;
}

async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: text ? JSON.parse(text) : null,
  };
}

/** Which upstream answered (the echo upstream names itself in its JSON body). */
async function answeredBy(base: string, path: string, userId: string): Promise<string> {
  const res = await fetch(`${base}${path}`, { headers: { 'x-user-id': userId } });
  return ((await res.json()) as { upstream: string }).upstream;
}

describe('admin API of a running edge', () => {
  let monolith: TestUpstream;
  let agents: TestUpstream;
  let app: EdgeApp;
  let admin: string;

  before(async () => {
    monolith = await startUpstream('monolith');
    agents = await startUpstream('agents');
    // Nothing listens there: a request routed to it fails to connect.
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    app = await startEdgeApp(tableYaml(monolith, agents, deadUrl), {
      env: { ADMIN_TOKEN: TOKEN },
      processMetrics: true,
    });
    admin = app.adminUrl;
  });

  after(async () => {
    await app?.close();
    await monolith?.close();
    await agents?.close();
  });

  test('/healthz and /readyz answer 200 once the edge is up', async () => {
    const health = await call(admin, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await call(admin, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { config: true, listeners: true } });
  });

  test('/metrics shows requests by route, target, method and status class, upstream errors, config and process', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${app.url}/api/reports/daily`)).status, 200);
    assert.equal((await fetch(`${app.url}/api/reports/x`, { method: 'POST', body: 'x' })).status, 200);
    assert.equal((await fetch(`${app.url}/elsewhere`)).status, 200);
    const failed = await fetch(`${app.url}/api/broken/thing`);
    assert.equal(failed.status, 502);

    const res = await fetch(`${admin}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();

    const reportsGet = { route: 'reports', target: 'legacy', method: 'GET', status_class: '2xx' };
    assert.equal(metricValue(text, 'rf_edge_requests_total', reportsGet), 3);
    assert.equal(metricValue(text, 'rf_edge_request_duration_seconds_count', reportsGet), 3);
    assert.equal(
      metricValue(text, 'rf_edge_request_duration_seconds_bucket', { ...reportsGet, le: '+Inf' }),
      3,
      'the histogram has buckets',
    );
    assert.equal(
      metricValue(text, 'rf_edge_requests_total', {
        route: 'reports',
        target: 'legacy',
        method: 'POST',
        status_class: '2xx',
      }),
      1,
    );
    assert.equal(
      metricValue(text, 'rf_edge_requests_total', { route: '-', target: 'legacy', method: 'GET', status_class: '2xx' }),
      1,
      'unmatched requests are counted too',
    );
    const brokenSamples = metricSamples(text, 'rf_edge_requests_total').filter((s) => s.labels['route'] === 'broken');
    assert.deepEqual(brokenSamples, [
      { labels: { route: 'broken', target: 'service', method: 'GET', status_class: 'error' }, value: 1 },
    ]);
    assert.equal(metricValue(text, 'rf_edge_upstream_errors_total', { upstream: 'dead', kind: 'connect' }), 1);

    assert.equal(metricValue(text, 'rf_edge_config_info', { hash: app.edge.table().hash }), 1);
    assert.equal(metricValue(text, 'rf_edge_route_weight_percent', { route: 'agents-read' }), 10);
    assert.ok((metricValue(text, 'rf_edge_process_cpu_seconds_total') ?? 0) > 0, 'process CPU time');
    assert.ok((metricValue(text, 'rf_edge_process_resident_memory_bytes') ?? 0) > 0, 'process memory');
    assert.ok(metricSamples(text, 'rf_edge_nodejs_eventloop_lag_seconds').length === 1, 'event loop lag');
  });

  test('GET / serves the dashboard page', async () => {
    const res = await fetch(`${admin}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<title>raptorflow-edge<\/title>/);
    assert.match(html, /fetch\('\/api\/routes'\)/, 'the page reads the route API');
  });

  test('/api/routes lists every route with its rollout state; /api/routes/:id shows one', async () => {
    const all = await call(admin, 'GET', '/api/routes');
    assert.equal(all.status, 200);
    assert.equal(all.body.configHash, app.edge.table().hash);
    assert.equal(all.body.legacy, 'monolith');
    assert.deepEqual(
      all.body.routes.map((r: { id: string; mode: string; phase: string; weight: number }) => [
        r.id,
        r.mode,
        r.phase,
        r.weight,
      ]),
      [
        ['agents-read', 'canary', 'canary', 10],
        ['reports', 'legacy', 'off', 0],
        ['broken', 'service', 'promoted', 100],
      ],
    );

    const one = await call(admin, 'GET', '/api/routes/agents-read');
    assert.equal(one.status, 200);
    assert.equal(one.body.id, 'agents-read');
    assert.equal(one.body.path, '/api/agents/*');
    assert.deepEqual(one.body.methods, ['GET', 'HEAD']);
    assert.equal(one.body.flag, 'raptorflow.agents-read');
    assert.deepEqual(one.body.steps, [10, 20, 30, 40, 50]);
    assert.equal(one.body.stepIndex, 0);
    assert.deepEqual(one.body, all.body.routes[0]);
  });

  test('unknown routes answer a 404 JSON error', async () => {
    for (const path of ['/api/routes/nope', '/api/routes/nope/history']) {
      const res = await call(admin, 'GET', path);
      assert.equal(res.status, 404, path);
      assert.match(res.contentType, /^application\/json/);
      assert.equal(res.body.error.code, 'RF_ROUTE_NOT_FOUND');
      assert.match(res.body.error.message, /nope/);
    }
    const unknownEndpoint = await call(admin, 'GET', '/api/nothing-here');
    assert.equal(unknownEndpoint.status, 404);
    assert.equal(unknownEndpoint.body.error.code, 'RF_NOT_FOUND');
  });

  test('mutating calls without the token or with a wrong one answer 401 and change nothing', async () => {
    const before = await call(admin, 'GET', '/api/routes/agents-read');
    const attempts = [
      await call(admin, 'POST', '/api/routes/agents-read/pause', { body: { reason: 'no token' } }),
      await call(admin, 'POST', '/api/routes/agents-read/rollback', { body: {}, token: 'wrong-token' }),
      await call(admin, 'POST', '/api/routes/agents-read/promote', { body: {}, token: `${TOKEN}x` }),
      await call(admin, 'PUT', '/api/routes/agents-read/weight', { body: { weight: 50 }, token: TOKEN.slice(1) }),
      await call(admin, 'POST', '/api/routes/nope/pause', { body: {} }),
    ];
    for (const res of attempts) {
      assert.equal(res.status, 401);
      assert.match(res.contentType, /^application\/json/);
      assert.equal(res.body.error.code, 'RF_UNAUTHORIZED');
      assert.equal(typeof res.body.error.message, 'string');
    }
    assert.deepEqual(await call(admin, 'GET', '/api/routes/agents-read'), before);
  });

  test('a bad body answers 400 with the reason', async () => {
    const cases = [
      { method: 'PUT', path: '/api/routes/agents-read/weight', body: { weight: 101 }, field: /weight/ },
      { method: 'PUT', path: '/api/routes/agents-read/weight', body: { weight: -1 }, field: /weight/ },
      { method: 'PUT', path: '/api/routes/agents-read/weight', body: { weight: 12.5 }, field: /weight/ },
      { method: 'PUT', path: '/api/routes/agents-read/weight', body: { weight: 50, colour: 'blue' }, field: /colour/ },
      { method: 'PUT', path: '/api/routes/agents-read/weight', body: {}, field: /weight/ },
      { method: 'POST', path: '/api/routes/agents-read/pause', body: { reason: 'x', colour: 'blue' }, field: /colour/ },
      { method: 'POST', path: '/api/routes/agents-read/rollback', body: { reason: 42 }, field: /reason/ },
    ];
    for (const c of cases) {
      const res = await call(admin, c.method, c.path, { body: c.body, token: TOKEN });
      assert.equal(res.status, 400, JSON.stringify(c.body));
      assert.equal(res.body.error.code, 'RF_VALIDATION');
      assert.match(res.body.error.message, c.field);
    }
    const notJson = await call(admin, 'POST', '/api/routes/agents-read/pause', { rawBody: '{"reason":', token: TOKEN });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'RF_VALIDATION');
    const state = await call(admin, 'GET', '/api/routes/agents-read');
    assert.equal(state.body.phase, 'canary', 'nothing changed');
    assert.equal(state.body.weight, 10);
  });

  test('pause, resume, set weight, promote and rollback change the state, and repeating one changes nothing', async () => {
    const command = async (method: string, path: string, body: Record<string, unknown>) => {
      const first = await call(admin, method, `/api/routes/agents-read/${path}`, { body, token: TOKEN });
      assert.equal(first.status, 200, `${path}: ${JSON.stringify(first.body)}`);
      const again = await call(admin, method, `/api/routes/agents-read/${path}`, { body, token: TOKEN });
      assert.equal(again.status, 200, `${path} again: ${JSON.stringify(again.body)}`);
      assert.deepEqual(again.body, first.body, `${path} twice gives the same result`);
      assert.deepEqual((await call(admin, 'GET', '/api/routes/agents-read')).body, first.body);
      return first.body;
    };

    const paused = await command('POST', 'pause', { reason: 'looking at p99', actor: 'alice' });
    assert.deepEqual(
      [paused.phase, paused.weight, paused.reason, paused.updatedBy],
      ['paused', 10, 'looking at p99', 'admin:alice'],
    );
    const resumed = await command('POST', 'resume', { reason: 'p99 is fine', actor: 'alice' });
    assert.deepEqual([resumed.phase, resumed.weight], ['canary', 10]);
    const pinned = await command('PUT', 'weight', { weight: 35, reason: 'hold at 35', actor: 'bob' });
    assert.deepEqual([pinned.phase, pinned.weight, pinned.manualWeight], ['canary', 35, true]);
    const promoted = await command('POST', 'promote', { reason: 'all good', actor: 'bob' });
    assert.deepEqual([promoted.phase, promoted.weight], ['promoted', 100]);
    assert.equal(await answeredBy(app.url, '/api/agents/a1', 'user-1'), 'agents', 'promoted: users reach the service');
    const rolledBack = await command('POST', 'rollback', { reason: 'errors in checkout', actor: 'carol' });
    assert.deepEqual([rolledBack.phase, rolledBack.weight], ['rolled_back', 0]);
    assert.equal(
      await answeredBy(app.url, '/api/agents/a1', 'user-1'),
      'monolith',
      'rolled back: users reach the monolith',
    );
  });

  test('a refused transition answers 409 RF_TRANSITION_REFUSED and changes nothing', async () => {
    const before = await call(admin, 'GET', '/api/routes/agents-read');
    assert.equal(before.body.phase, 'rolled_back');
    const promote = await call(admin, 'POST', '/api/routes/agents-read/promote', { body: {}, token: TOKEN });
    assert.equal(promote.status, 409);
    assert.equal(promote.body.error.code, 'RF_TRANSITION_REFUSED');
    assert.match(promote.body.error.message, /rolled back/);
    assert.deepEqual(await call(admin, 'GET', '/api/routes/agents-read'), before);

    const pauseLegacy = await call(admin, 'POST', '/api/routes/reports/pause', { body: {}, token: TOKEN });
    assert.equal(pauseLegacy.status, 409);
    assert.equal(pauseLegacy.body.error.code, 'RF_TRANSITION_REFUSED');
  });

  test('history lists the transitions with actor and reason, newest first', async () => {
    const res = await call(admin, 'GET', '/api/routes/agents-read/history');
    assert.equal(res.status, 200);
    assert.equal(res.body.route, 'agents-read');
    const events = res.body.events as Array<{ at: string; from: string; to: string; actor: string; reason: string }>;
    assert.deepEqual(
      events.map((e) => [e.from, e.to, e.actor, e.reason]),
      [
        ['promoted', 'rolled_back', 'admin:carol', 'errors in checkout'],
        ['canary', 'promoted', 'admin:bob', 'all good'],
        ['canary', 'canary', 'admin:bob', 'hold at 35'],
        ['paused', 'canary', 'admin:alice', 'p99 is fine'],
        ['canary', 'paused', 'admin:alice', 'looking at p99'],
        ['off', 'canary', 'config', 'mode: canary, starting at step 1/5 (10%)'],
      ],
      'idempotent repeats and refused commands leave no trace',
    );
    const times = events.map((e) => Date.parse(e.at));
    assert.deepEqual(
      [...times].sort((a, b) => b - a),
      times,
      'newest first',
    );

    const limited = await call(admin, 'GET', '/api/routes/agents-read/history?limit=2');
    assert.deepEqual(limited.body.events, events.slice(0, 2));
  });
});

describe('admin API of an edge without ADMIN_TOKEN', () => {
  let upstream: TestUpstream;
  let app: EdgeApp;

  before(async () => {
    upstream = await startUpstream('monolith');
    app = await startEdgeApp(tableYaml(upstream, upstream, upstream.url));
  });

  after(async () => {
    await app?.close();
    await upstream?.close();
  });

  test('reads work, every mutating call answers 401 whatever token is sent', async () => {
    assert.equal((await call(app.adminUrl, 'GET', '/api/routes')).status, 200);
    for (const token of [undefined, '', 'anything']) {
      const res = await call(app.adminUrl, 'POST', '/api/routes/agents-read/rollback', {
        body: {},
        ...(token === undefined ? {} : { token }),
      });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'RF_UNAUTHORIZED');
      assert.match(res.body.error.message, /ADMIN_TOKEN/);
    }
    assert.equal((await call(app.adminUrl, 'GET', '/api/routes/agents-read')).body.phase, 'canary');
  });
});

describe('admin API while the edge drains', () => {
  let upstream: TestUpstream;
  let app: EdgeApp;
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived: () => void = () => {};
  const requestArrived = new Promise<void>((resolve) => {
    arrived = resolve;
  });

  before(async () => {
    upstream = await startUpstream('monolith', (req, res) => {
      req.resume();
      arrived();
      void held.then(() => res.end('finished'));
    });
    app = await startEdgeApp(tableYaml(upstream, upstream, upstream.url));
  });

  after(async () => {
    release();
    await app?.close();
    await upstream?.close();
  });

  test('/readyz answers 503 while an accepted request finishes, and the request still succeeds', async () => {
    const inFlight = fetch(`${app.url}/held`);
    await requestArrived;
    const closing = app.edge.close();

    let ready = await call(app.adminUrl, 'GET', '/readyz');
    for (let i = 0; i < 50 && ready.status === 200; i++) ready = await call(app.adminUrl, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.body, { status: 'not_ready', checks: { config: true, listeners: false } });
    const metrics = await fetch(`${app.adminUrl}/metrics`);
    assert.equal(metrics.status, 200, 'metrics stay readable during the drain');
    await metrics.text();

    release();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'finished');
    await closing;
    await assert.rejects(fetch(`${app.adminUrl}/healthz`), 'the admin listener is closed after the drain');
  });
});
