// Shadow comparison through the whole edge (createEdge, real upstreams on port 0): noise cancellation gets an
// equivalent service to ≥ 99 % match, a service that changes one field in 5 % of answers is caught by path and
// rolled back from its canary, and an A/A run over 10,000 requests with noisy fields passes the gate and is never
// rolled back.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { Pool } from 'undici';
import { main } from '../../src/cli/main.ts';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { scrapeMetrics } from '../support/prometheus-scrape.ts';
import { startUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

interface Item {
  id: number;
  name: string;
  price: number;
  tags: string[];
  generatedAt: string;
  requestId: string;
}

/** The answer both sides agree on, plus the fields that differ on every call (a clock, an id). */
function item(id: number): Item {
  return {
    id,
    name: `item ${id}`,
    price: 10 + id,
    tags: ['blue', 'large', 'sale'],
    // A clock with jitter: two calls never give the same instant.
    generatedAt: new Date(Date.now() - Math.floor(Math.random() * 1000)).toISOString(),
    requestId: randomUUID(),
  };
}

function shuffled<T>(list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Tweak = (body: Item, req: IncomingMessage) => Item;

function itemsHandler(tweak: () => Tweak | null) {
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const id = Number((req.url ?? '').split('/').pop()?.split('?')[0] ?? 0) || 0;
    let body = item(id);
    const t = tweak();
    if (t !== null) body = t(body, req);
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json',
      'set-cookie': `session=${randomUUID()}; HttpOnly`,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
}

async function load(app: EdgeApp, count: number, path: (i: number) => string, concurrency = 16): Promise<void> {
  const pool = new Pool(app.url, { connections: concurrency });
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const res = await pool.request({
        method: 'GET',
        path: path(i),
        headers: { 'x-user-id': `user-${i % 997}`, cookie: 'session=client-secret', authorization: 'Bearer s3cret' },
      });
      await res.body.text();
      assert.equal(res.statusCode, 200);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

interface DiffResponse {
  compared: number;
  matches: number;
  noise: number;
  mismatches: number;
  mismatchRate: number | null;
  phase: string;
  verdict: { kind: string; outcome: string; reason: string };
  learning: { noiseSamples: number };
  fields: Array<{ field: string; verdict: string; raw: number; noise: number }>;
  mismatchFields: Array<{ field: string; count: number }>;
  suggest: string[];
}

interface RouteResponse {
  phase: string;
  weight: number;
  reason: string;
  updatedBy: string;
}

function routesYaml(upstreams: { monolith: string; service: string }, route: string): string {
  return `version: 1
upstreams:
  monolith: { url: ${upstreams.monolith} }
  items: { url: ${upstreams.service} }
legacy: monolith
stickiness: [header:x-user-id, ip]
routes:
${route}
`;
}

describe('shadow comparison: noise is cancelled, real differences are found and named', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  async function rig(serviceTweak: () => Tweak | null, route: string) {
    const monolith = await startUpstream(
      'monolith',
      itemsHandler(() => null),
    );
    const service = await startUpstream('items', itemsHandler(serviceTweak));
    const app = await startEdgeApp(routesYaml({ monolith: monolith.url, service: service.url }, route), {
      controllerTickMs: 100,
      env: { ADMIN_TOKEN: 'diff-test-token' },
    });
    closers.push(
      () => monolith.close(),
      () => service.close(),
      () => app.close(),
    );
    return { monolith, service, app };
  }

  test('a service that differs only in timestamps, ids and order reaches ≥ 99 % match after noise', async () => {
    let broken = 0;
    // Same data, its own clock and ids, tags in any order; and 3 answers with a wrong name.
    const tweak = (): Tweak => (body, req) => {
      const out = { ...body, tags: shuffled(body.tags) };
      if ((req.url ?? '').includes('/broken/') && broken++ < 3) out.name = 'WRONG';
      return out;
    };
    const { app, monolith } = await rig(
      tweak,
      `  - id: items
    path: /api/items/*
    service: items
    flag: raptorflow.agents-read
    mode: shadow
    shadow:
      samples: 10
      noise: { sampleRate: 0.25 }
      rules:
        - { path: body.tags, array: unordered }`,
    );
    const base = `${app.adminUrl}/api/routes/items/diff`;
    await load(app, 500, (i) => `/api/items/${i}`);
    // Once the noise is learned, three answers with a real difference among a hundred more.
    await waitFor('noise learned', async () =>
      (await getJson<DiffResponse>(base)).fields.some((f) => f.verdict === 'noise'),
    );
    await new Promise((r) => setTimeout(r, 300));
    await load(app, 100, (i) => (i < 3 ? `/api/items/broken/${i}` : `/api/items/${i}`), 1);
    await waitFor('600 comparisons counted', async () => (await getJson<DiffResponse>(base)).compared >= 600, 10_000);
    const view = await getJson<DiffResponse>(base);

    assert.ok(view.learning.noiseSamples >= 100, `second monolith answers: ${view.learning.noiseSamples}`);
    const matchAfterNoise = 1 - (view.mismatchRate ?? 1);
    assert.ok(matchAfterNoise >= 0.99, `match after noise ${(matchAfterNoise * 100).toFixed(2)} %`);
    // Without noise cancellation nearly every answer would differ (the clock and the id always do).
    assert.ok(view.noise >= view.compared * 0.9, `noise-only comparisons: ${view.noise} of ${view.compared}`);
    const verdictOf = (field: string) => view.fields.find((f) => f.field === field)?.verdict;
    assert.equal(verdictOf('body.generatedAt'), 'noise');
    assert.equal(verdictOf('body.requestId'), 'noise');
    assert.equal(
      view.fields.find((f) => f.field === 'body.tags'),
      undefined,
      'the order rule absorbs tags',
    );
    assert.deepEqual(
      view.mismatchFields.map((f) => [f.field, f.count]),
      [['body.name', 3]],
    );
    // The learned noise, as rules ready to paste.
    assert.ok(view.suggest.includes('- { path: "body.generatedAt", timestamp: 2s }'), view.suggest.join('\n'));
    assert.ok(view.suggest.includes('- { path: "body.requestId", sameShape: true }'), view.suggest.join('\n'));
    assert.ok(monolith.received.length > 600, 'the monolith got the sampled second calls');

    // The samples: both answers, secrets redacted. Mismatches are kept as judged when compared, so the first
    // answers (before the noise was learned) are there too, capped at `samples`.
    const { samples } = await getJson<{ samples: Array<Record<string, unknown>> }>(`${base}/samples`);
    assert.equal(samples.length, 10);
    const named = samples.slice(0, 3);
    const sample = named[0] as {
      path: string;
      legacy: { headers: Record<string, string>; body: string };
      service: { headers: Record<string, string>; body: string };
      differences: Array<{ path: string; legacy: string; service: string }>;
    };
    for (const x of named) assert.match(String(x['path']), /^\/api\/items\/broken\//);
    assert.equal(sample.legacy.headers['set-cookie'], 'session=[redacted]');
    assert.equal(sample.service.headers['set-cookie'], 'session=[redacted]');
    assert.ok(!JSON.stringify(samples).includes('s3cret') && !JSON.stringify(samples).includes('client-secret'));
    assert.deepEqual(
      sample.differences.map((d) => d.path),
      ['body.name'],
    );
    assert.equal(JSON.parse(sample.service.body).name, 'WRONG');

    // The metrics: results and the field that really differed.
    const scrape = await scrapeMetrics(app.adminUrl);
    const results = (result: string) => scrape.value('rf_edge_shadow_requests_total', { route: 'items', result }) ?? 0;
    // Each answer is counted with the noise known when it was compared: before 20 second monolith answers were in,
    // the clock and the id still counted as mismatches there (the API above recomputes them). After the noise was
    // learned (the last hundred), only the three real differences are mismatches.
    assert.equal(results('match') + results('noise') + results('mismatch'), 600);
    assert.ok(results('noise') >= 97, `noise ${results('noise')}`);
    assert.ok(results('mismatch') >= 3, `mismatch ${results('mismatch')}`);
    assert.ok((scrape.value('rf_edge_shadow_noise_total', { route: 'items', source: 'request' }) ?? 0) > 0);
    assert.ok((scrape.value('rf_edge_shadow_noise_total', { route: 'items', source: 'rule' }) ?? 0) > 0);
    assert.ok(
      (scrape.value('rf_edge_shadow_field_mismatches_total', { route: 'items', field: 'body.name' }) ?? 0) >= 3,
    );

    // The dashboard reads the same view for every shadowed or canary route.
    const html = await (await fetch(`${app.adminUrl}/`)).text();
    assert.match(html, /encodeURIComponent\(r\.id\) \+ '\/diff'\)/);

    // The CLI reads the same view.
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    assert.equal(await main(['diff', 'items', '--admin-url', app.adminUrl], io), 0);
    assert.match(out.join('\n'), /body\.generatedAt\s+\d+\s+[\d.]+%\s+\d+\s+[\d.]+%\s+noise/);
    out.length = 0;
    assert.equal(await main(['diff', 'suggest', 'items', '--admin-url', app.adminUrl], io), 0);
    assert.match(out.join('\n'), /^rules:$/m);
    assert.match(out.join('\n'), /^ {2}- \{ path: "body\.requestId", sameShape: true \}$/m);
  });

  test('a service changing one field in 5 % of answers is caught by path and rolled back from its canary', async () => {
    let faulty = false;
    const tweak = (): Tweak | null =>
      faulty ? (body) => (Math.random() < 0.05 ? { ...body, price: body.price + 1 } : body) : null;
    const { app } = await rig(
      tweak,
      `  - id: items
    path: /api/items/*
    service: items
    flag: raptorflow.agents-read
    mode: canary
    rollout: { steps: [10, 50], stepInterval: 1h, minSamples: 5, evaluateEvery: 100ms, window: 30s }
    shadow:
      gate: true
      minRequests: 200
      maxMismatchRate: 0.01
      canarySampleRate: 1
      window: 10s
      noise: { sampleRate: 0.3 }`,
    );
    const routeUrl = `${app.adminUrl}/api/routes/items`;
    assert.equal((await getJson<RouteResponse>(routeUrl)).phase, 'shadow', 'a gated canary starts in shadow');

    let sent = 0;
    const path = () => `/api/items/${sent++ % 500}`;
    /** Sends traffic a hundred requests at a time until the route reaches `phase`. */
    const loadUntil = (phase: string) =>
      waitFor(
        `the route to reach ${phase}`,
        async () => {
          await load(app, 100, path);
          return (await getJson<RouteResponse>(routeUrl)).phase === phase;
        },
        30_000,
        0,
      );
    // The gate: the route leaves shadow for its first step once the answers match.
    await loadUntil('canary');
    const started = await getJson<RouteResponse>(routeUrl);
    assert.equal(started.weight, 10);
    assert.equal(started.updatedBy, 'judge');
    assert.match(started.reason, /shadow gate passed/);

    faulty = true;
    await loadUntil('rolled_back');
    const rolledBack = await getJson<RouteResponse>(routeUrl);
    assert.equal(rolledBack.updatedBy, 'judge');
    assert.match(rolledBack.reason, /answers differ: .*body\.price/);

    const { events } = await getJson<{
      events: Array<{ to: string; reason: string; evidence: { checks: Array<{ rule: string; passed: boolean }> } }>;
    }>(`${routeUrl}/history`);
    const rollback = events.find((e) => e.to === 'rolled_back');
    assert.ok(rollback, 'the rollback is audited');
    assert.match(rollback.reason, /body\.price/);
    assert.deepEqual(
      rollback.evidence.checks.filter((c) => c.rule === 'diff').map((c) => c.passed),
      [false],
    );
    const scrape = await scrapeMetrics(app.adminUrl);
    assert.ok(
      (scrape.value('rf_edge_verdicts_total', { route: 'items', outcome: 'unhealthy', rule: 'diff' }) ?? 0) >= 1,
    );
    const view = await getJson<DiffResponse>(`${routeUrl}/diff`);
    assert.equal(view.mismatchFields[0]?.field, 'body.price');
    assert.equal(view.fields.find((f) => f.field === 'body.price')?.verdict, 'real');

    // Fixed and resumed: the comparisons that rolled it back are stale and do not roll it back again.
    faulty = false;
    const resumed = await fetch(`${routeUrl}/resume`, {
      method: 'POST',
      headers: { authorization: 'Bearer diff-test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'price fixed' }),
    });
    assert.equal(resumed.status, 200);
    for (let i = 0; i < 5; i++) await load(app, 100, path);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await getJson<RouteResponse>(routeUrl)).phase, 'canary');
  });

  test('an A/A run over 10,000 requests with noisy fields passes the gate and is never rolled back', async () => {
    const { app } = await rig(
      () => null,
      `  - id: items
    path: /api/items/*
    service: items
    flag: raptorflow.agents-read
    mode: canary
    rollout: { steps: [10, 20], stepInterval: 1h, minSamples: 5, evaluateEvery: 100ms, window: 30s }
    shadow:
      gate: true
      minRequests: 300
      maxMismatchRate: 0.01
      canarySampleRate: 1
      window: 10s`,
    );
    const routeUrl = `${app.adminUrl}/api/routes/items`;
    const phases = new Set<string>();
    let done = false;
    const watcher = (async () => {
      while (!done) {
        phases.add((await getJson<RouteResponse>(routeUrl)).phase);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await load(app, 10_000, (i) => `/api/items/${i % 1000}`);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      done = true;
      await watcher;
    }
    const route = await getJson<RouteResponse>(routeUrl);
    const diff = await getJson<DiffResponse>(`${routeUrl}/diff`);
    assert.equal(route.phase, 'canary', `the gate passed and the canary runs: ${route.reason} ${JSON.stringify(diff)}`);
    assert.ok(!phases.has('rolled_back'), `phases seen: ${[...phases].join(', ')}`);
    const { events } = await getJson<{ events: Array<{ to: string }> }>(`${routeUrl}/history`);
    assert.deepEqual(events.map((e) => e.to).reverse(), ['shadow', 'canary']);
    const view = await getJson<DiffResponse>(`${routeUrl}/diff`);
    assert.equal(view.mismatches, 0, JSON.stringify(view.mismatchFields));
  });
});
