// What an adapted route does when translation cannot be done, and the edges of bodies: a 502 RF_ADAPTER_FAILED that
// names route, adapter and rule (logged, counted), oversize bodies (refused or passed through untranslated), typed
// adapters (legacy-adapter/<name>.ts), WebSocket upgrades on a path template, and hot reload of legacy-adapter/.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import WebSocket, { WebSocketServer } from 'ws';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { metricValue } from '../support/prometheus-scrape.ts';
import { rawRequest } from '../support/raw-request.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

const JSON_TYPE = 'application/json';

/** A v2-ish service: a few fixed answers, and an echo that sends back the JSON body it received. */
function service(req: IncomingMessage, res: ServerResponse): void {
  const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': JSON_TYPE, ...headers });
    res.end(body);
  };
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/v2/ok') send(200, JSON.stringify({ displayName: 'A', url: req.url }), { etag: '"v2tag"' });
    else if (path === '/v2/bad-json') send(200, 'this is not json');
    else if (path === '/v2/unknown-code') send(500, JSON.stringify({ error: { code: 'WEIRD' } }));
    else if (path === '/v2/big') send(200, JSON.stringify({ displayName: 'x'.repeat(2000) }));
    else if (path === '/v2/echo') {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      send(200, JSON.stringify({ received: body.toString('utf8'), encoding: req.headers['content-encoding'] ?? null }));
    } else send(404, JSON.stringify({ error: { code: 'NOPE' } }));
  });
}

const ADAPTER_T = `version: 1
maxBodyBytes: 1024
operations:
  - name: ok
    match: { methods: [GET], path: /a/ok }
    request: { path: /v2/ok, query: [{ rename: { q: query } }] }
    response: { body: [{ rename: { displayName: name } }] }
  - name: bad
    match: { path: /a/bad-json }
    request: { path: /v2/bad-json }
    response: { body: [{ rename: { displayName: name } }] }
  - name: unknown
    match: { path: /a/unknown }
    request: { path: /v2/unknown-code }
    response:
      errors:
        default: [{ move: { error.code: error } }, { map: { path: error, values: { KNOWN: known } } }]
  - name: big
    match: { path: /a/big }
    request: { path: /v2/big }
    response: { body: [{ rename: { displayName: name } }] }
  - name: echo
    match: { methods: [POST], path: /a/echo }
    request: { path: /v2/echo, body: [{ rename: { name: displayName } }] }
  - name: ws
    match: { path: /a/ws/:room }
    request: { path: "/v2/ws/{room}" }
`;

// The same operations under /p/, on a route that chooses pass-through for bodies over the limit.
const ADAPTER_P = ADAPTER_T.replaceAll('path: /a/', 'path: /p/');

const ADAPTER_TYPED = `// A typed adapter: plain functions over the request/response description.
export default {
  operations: [
    {
      name: 'get',
      methods: ['GET'],
      path: '/t/:id',
      responseBody: 'success',
      request: (req) => ({ ...req, path: '/v2/ok', query: [{ name: 'id', value: req.path.split('/')[2] ?? '' }] }),
      response: (res) => ({ ...res, body: { name: String(res.body.displayName).toLowerCase(), v2url: res.body.url } }),
    },
    {
      name: 'throws',
      path: '/t/boom/now',
      responseBody: 'all',
      request: (req) => ({ ...req, path: '/v2/ok' }),
      response: () => {
        throw new Error('boom');
      },
    },
  ],
};
`;

function routes(serviceUrl: string, monolithUrl: string): string {
  return `version: 1
upstreams:
  monolith: { url: ${monolithUrl} }
  svc: { url: ${serviceUrl} }
legacy: monolith
routes:
  - { id: adapted, path: /a/*, service: svc, mode: service, adapter: t }
  - { id: passing, path: /p/*, service: svc, mode: service, adapter: p, adapterOversize: pass }
  - { id: typed, path: /t/*, service: svc, mode: service, adapter: typed }
`;
}

describe('adapted routes: failures, sizes, typed adapters, upgrades and reload', () => {
  let svc: TestUpstream;
  let monolith: TestUpstream;
  let edge: EdgeApp;
  let adaptersDir: string;
  const wss = new WebSocketServer({ noServer: true });

  before(async () => {
    svc = await startUpstream('svc', service);
    monolith = await startUpstream('monolith');
    svc.server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`${req.url} ${String(m)}`)));
    });
    adaptersDir = await mkdtemp(join(tmpdir(), 'rf-edge-adapters-'));
    await writeFile(join(adaptersDir, 't.yaml'), ADAPTER_T);
    await writeFile(join(adaptersDir, 'p.yaml'), ADAPTER_P);
    await writeFile(join(adaptersDir, 'typed.ts'), ADAPTER_TYPED);
    // As in the repository (package.json "type": "module"): typed adapters are ES modules, which a reload re-imports.
    await writeFile(join(adaptersDir, 'package.json'), '{ "type": "module" }\n');
    edge = await startEdgeApp(routes(svc.url, monolith.url), { env: { ADAPTERS_DIR: adaptersDir } });
  });
  after(async () => {
    await edge?.close();
    wss.close();
    await Promise.all([svc?.close(), monolith?.close(), rm(adaptersDir, { recursive: true, force: true })]);
  });

  const get = (path: string, headers: Record<string, string> = {}) => rawRequest(edge.url, path, { headers });
  const json = (body: Buffer) => JSON.parse(body.toString('utf8')) as Record<string, unknown>;

  test('a translated answer; the query renamed on the way', async () => {
    const res = await get('/a/ok?q=1');
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { name: 'A', url: '/v2/ok?query=1' });
    assert.equal(res.headers.etag?.startsWith('"v2tag-rfa'), true);
    const view = (await (await fetch(`${edge.adminUrl}/api/routes/adapted`)).json()) as { adapter: string | null };
    assert.equal(view.adapter, 't', "the admin API names the route's adapter");
  });

  test('a body that is not the JSON the rule expects: 502 RF_ADAPTER_FAILED naming route, adapter, rule; logged and counted', async () => {
    const res = await get('/a/bad-json');
    assert.equal(res.status, 502);
    const error = json(res.body)['error'] as { code: string; message: string; details: unknown };
    assert.equal(error.code, 'RF_ADAPTER_FAILED');
    assert.deepEqual(error.details, { route: 'adapted', adapter: 't', rule: 'bad.response.body' });
    assert.match(error.message, /route "adapted", adapter "t", rule "bad\.response\.body"/);
    await waitFor('the adapter.failed line', () => edge.logs.events('adapter.failed').length > 0);
    const line = edge.logs.events('adapter.failed')[0];
    assert.equal(line?.['route'], 'adapted');
    assert.equal(line?.['rule'], 'bad.response.body');
    const metrics = await (await fetch(`${edge.adminUrl}/metrics`)).text();
    assert.equal(
      metricValue(metrics, 'rf_edge_adapter_errors_total', {
        route: 'adapted',
        adapter: 't',
        rule: 'bad.response.body',
      }),
      1,
    );
    // The 502 is the service's outcome: it counts against the service like any 5xx it answered.
    assert.ok(
      (metricValue(metrics, 'rf_edge_requests_total', {
        route: 'adapted',
        target: 'service',
        method: 'GET',
        status_class: '5xx',
      }) ?? 0) >= 1,
    );
  });

  test('a mapping that finds no value fails at that rule', async () => {
    const res = await get('/a/unknown');
    assert.equal(res.status, 502);
    assert.deepEqual((json(res.body)['error'] as { details: unknown }).details, {
      route: 'adapted',
      adapter: 't',
      rule: 'unknown.response.errors.default[1].map',
    });
  });

  test('a request no operation describes fails at rule "match" and never reaches the service', async () => {
    const before = svc.received.length;
    const res = await get('/a/nowhere');
    assert.equal(res.status, 502);
    assert.equal((json(res.body)['error'] as { details: { rule: string } }).details.rule, 'match');
    assert.equal(svc.received.length, before);
  });

  test('an answer over maxBodyBytes: 502 RF_ADAPTER_RESPONSE_TOO_LARGE, or untranslated where the route says adapterOversize: pass', async () => {
    const refused = await get('/a/big');
    assert.equal(refused.status, 502);
    assert.equal((json(refused.body)['error'] as { code: string }).code, 'RF_ADAPTER_RESPONSE_TOO_LARGE');
    const passed = await get('/p/big');
    assert.equal(passed.status, 200);
    assert.equal(typeof json(passed.body)['displayName'], 'string');
  });

  test('a request body over maxBodyBytes: 413 RF_ADAPTER_BODY_TOO_LARGE, or sent untranslated where the route says adapterOversize: pass', async () => {
    const body = JSON.stringify({ name: 'y'.repeat(2000) });
    const headers = { 'content-type': JSON_TYPE };
    const refused = await rawRequest(edge.url, '/a/echo', { method: 'POST', headers, body });
    assert.equal(refused.status, 413);
    assert.equal((json(refused.body)['error'] as { code: string }).code, 'RF_ADAPTER_BODY_TOO_LARGE');
    const passed = await rawRequest(edge.url, '/p/echo', { method: 'POST', headers, body });
    assert.equal(passed.status, 200);
    assert.equal(json(passed.body)['received'], body);
  });

  test('a gzip request body is decoded, translated and sent on gzip again', async () => {
    const res = await rawRequest(edge.url, '/a/echo', {
      method: 'POST',
      headers: { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ name: 'n', keep: 1 })),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { received: JSON.stringify({ displayName: 'n', keep: 1 }), encoding: 'gzip' });
  });

  test('a request body that is not JSON goes to the service as the client sent it', async () => {
    const res = await rawRequest(edge.url, '/a/echo', {
      method: 'POST',
      headers: { 'content-type': JSON_TYPE },
      body: '{"name":',
    });
    assert.deepEqual(json(res.body), { received: '{"name":', encoding: null });
  });

  test('a typed adapter (legacy-adapter/<name>.ts) translates; one that throws answers 502 at its step', async () => {
    const ok = await get('/t/42');
    assert.equal(ok.status, 200);
    assert.deepEqual(json(ok.body), { name: 'a', v2url: '/v2/ok?id=42' });
    const boom = await get('/t/boom/now');
    assert.equal(boom.status, 502);
    assert.deepEqual((json(boom.body)['error'] as { details: unknown }).details, {
      route: 'typed',
      adapter: 'typed',
      rule: 'throws.response',
    });
  });

  test('a WebSocket upgrade goes to the service path the template names', async () => {
    const ws = new WebSocket(`${edge.url.replace('http', 'ws')}/a/ws/lobby?x=1`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (m) => resolve(String(m)));
      ws.once('error', reject);
    });
    ws.close();
    assert.equal(reply, '/v2/ws/lobby?x=1 hi');
  });

  test('a typed adapter edit applies too (the module is imported afresh)', async () => {
    await writeFile(join(adaptersDir, 'typed.ts'), ADAPTER_TYPED.replace('.toLowerCase()', '.toUpperCase()'));
    await waitFor('the edited typed adapter', async () => json((await get('/t/1')).body)['name'] === 'A', 3000, 50);
  });

  test('an adapter edit applies within a second; a broken edit is rejected with file:line:col and the last good one serves', async () => {
    await writeFile(
      join(adaptersDir, 't.yaml'),
      ADAPTER_T.replace('rename: { displayName: name }', 'rename: { displayName: title }'),
    );
    const applied = await waitFor(
      'the edited adapter',
      async () => 'title' in json((await get('/a/ok')).body),
      3000,
      50,
    );
    assert.ok(applied < 1500, `applied after ${applied} ms`);
    await writeFile(join(adaptersDir, 't.yaml'), `${ADAPTER_T}\n  - name: broken\n    match: { path: nope }\n`);
    await waitFor('the rejection', () => edge.logs.events('config.rejected').length > 0, 3000, 50);
    const rejected = edge.logs.events('config.rejected')[0] as {
      problems?: { file: string; line: number; col: number; message: string }[];
    };
    assert.deepEqual([rejected.problems?.[0]?.line, rejected.problems?.[0]?.col], [30, 20]);
    assert.match(rejected.problems?.[0]?.message ?? '', /operations\[6\]\.match\.path: "nope" must start with "\/"/);
    assert.ok('title' in json((await get('/a/ok')).body), 'the last good adapter keeps serving');
  });
});
