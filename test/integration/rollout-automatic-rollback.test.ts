// Issue 4 evidence (b) and (c): a service that starts failing or slows down mid-rollout is rolled back by the judge
// on its own, with an audit row holding the figures (history API and the rollout_events table), the rollbacks
// metric and a `rollout.transition` log line; and the rollback sticks until a person resumes.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { queryDatabase } from '../support/databases.ts';
import {
  createRolloutFixture,
  explained,
  failedRules,
  metricValue,
  ROUTE_ID,
  type RolloutFixture,
  sleep,
  startLoad,
  tally,
  until,
  untilHealthyVerdict,
  untilRoute,
} from '../support/rollout-harness.ts';

interface EventRow {
  from_phase: string;
  to_phase: string;
  from_weight: number;
  to_weight: number;
  actor: string;
  reason: string;
  evidence: {
    outcome: string;
    checks: Array<{ rule: string; passed: boolean; value: number | null; threshold: number }>;
    figures: { service: { requests: number; errors: number }; legacy: { requests: number; errors: number } };
  };
}

describe('automatic rollback', () => {
  let fixture: RolloutFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  test('50 % 5xx from the service at step 20 rolls back, audited with its figures, and stays back until resume', async (t) => {
    const f = await createRolloutFixture({ label: 'errors', redis: true, postgres: true });
    fixture = f;
    const edge = await f.startEdge();
    const load = startLoad({ port: edge.port, rate: 150, users: 'errors' });
    await explained([edge], async () => {
      await untilRoute(edge.admin, 'step 20 %', (r) => r.weight === 20, 30_000);

      const faultAt = Date.now();
      f.upstreams.service.faults.set({ errorRate: 0.5, status: 503 });
      const rolledBack = await untilRoute(edge.admin, 'the rollback', (r) => r.phase === 'rolled_back', 10_000);
      const seenAt = Date.now();
      assert.equal(rolledBack.weight, 0);
      assert.equal(rolledBack.updatedBy, 'judge');

      // The audit row, as the history API shows it: the verdict with its figures and thresholds.
      const history = await edge.admin.history();
      const row = history.at(-1);
      assert.ok(row);
      assert.deepEqual(
        [row.from, row.fromWeight, row.to, row.toWeight, row.actor],
        ['canary', 20, 'rolled_back', 0, 'judge'],
      );
      // Half the answers failing against none: the hard guard (critical) or the sequential error rules, whichever
      // has the evidence first.
      assert.ok(['critical', 'unhealthy'].includes(row.evidence?.outcome ?? ''), row.evidence?.outcome);
      const firstRule = failedRules(row)[0] ?? '';
      assert.ok(['error_burst', 'error_rate', 'error_rate_increase'].includes(firstRule), firstRule);
      const service = row.evidence?.figures?.service;
      assert.ok(service && service.errors > 0 && service.requests > service.errors, JSON.stringify(service));
      assert.equal(row.evidence?.figures?.legacy.errors, 0);
      assert.equal(row.evidence?.checks?.find((c) => c.rule === 'error_rate')?.threshold, 0.02);
      assert.equal(row.evidence?.checks?.find((c) => c.rule === 'error_rate_increase')?.threshold, 0.005);
      assert.equal(row.evidence?.checks?.find((c) => c.rule === 'error_burst')?.threshold, 0.1);
      assert.match(row.reason, /service errors \d+\/\d+/);

      // The same row in PostgreSQL itself (the writer is asynchronous: wait for it).
      const db = f.database;
      assert.ok(db);
      const rows = await untilRows(db, 1);
      const stored = rows[0];
      assert.ok(stored);
      assert.deepEqual(
        [stored.from_phase, stored.from_weight, stored.to_phase, stored.to_weight, stored.actor],
        ['canary', 20, 'rolled_back', 0, 'judge'],
      );
      assert.equal(stored.reason, row.reason);
      assert.deepEqual(stored.evidence.figures.service, row.evidence?.figures?.service);
      assert.ok(stored.evidence.checks.some((c) => c.rule === firstRule && !c.passed));

      const metrics = await edge.admin.metrics();
      assert.equal(metricValue(metrics, 'rf_edge_rollbacks_total', { route: ROUTE_ID, actor: 'judge' }), 1);
      const logged = edge.logs.events('rollout.transition').filter((l) => l['to'] === 'rolled_back');
      assert.equal(logged.length, 1);
      assert.equal(logged[0]?.['level'], 'warn');
      assert.equal(logged[0]?.['reason'], row.reason);

      // Sticky: healthy again, judged no more, still at 0 % for several ticks; nobody is sent to the service.
      f.upstreams.service.faults.clear();
      const quietFrom = Date.now();
      for (let tick = 0; tick < 3; tick++) {
        await sleep(1000);
        const route = await edge.admin.route();
        assert.deepEqual([route.phase, route.weight], ['rolled_back', 0]);
      }
      await load.settled();
      const whileBack = tally(load.samples, quietFrom);
      assert.ok(whileBack.total > 50, `${whileBack.total} requests while rolled back`);
      assert.equal(whileBack.service, 0, 'no request reached the service while rolled back');
      assert.equal((await edge.admin.history()).length, history.length, 'no transition while rolled back');

      // Resumed while the failures from before the rollback are still inside the judge's window (5 s): they are
      // not evidence against the fixed service, whose fresh start the resume asked for.
      const resumed = await edge.admin.command('resume', 'fixed the bug');
      assert.equal(resumed.status, 200);
      assert.deepEqual(
        [(resumed.body as { phase: string }).phase, (resumed.body as { weight: number }).weight],
        ['canary', 10],
      );
      const resumedAt = Date.now();
      await until('users on the service again', () => tally(load.samples, resumedAt).service > 0, 10_000);
      for (let tick = 0; tick < 2; tick++) {
        await sleep(1000);
        assert.equal((await edge.admin.route()).phase, 'canary', 'not rolled back again on the old failures');
      }
      assert.equal((await edge.admin.history()).at(-1)?.to, 'canary');

      const injected = tally(load.samples, faultAt, seenAt);
      t.diagnostic(`rolled back ${seenAt - faultAt} ms after the fault (admin API poll every 25 ms)`);
      t.diagnostic(
        `verdict figures: service ${service.errors}/${service.requests} errors, monolith 0/${row.evidence?.figures?.legacy.requests}`,
      );
      t.diagnostic(`requests that failed before the rollback: ${injected.failed} of ${injected.total}`);
    }).finally(() => load.stop());
  });

  test('500 ms of added service latency rolls back on the latency rules', async (t) => {
    const f = await createRolloutFixture({
      label: 'latency',
      redis: true,
      postgres: true,
    });
    fixture = f;
    const edge = await f.startEdge();
    const load = startLoad({ port: edge.port, rate: 150, users: 'latency' });
    await explained([edge], async () => {
      // A healthy verdict first, so the rollback is about the change, not the start.
      await untilHealthyVerdict(edge);
      const faultAt = Date.now();
      f.upstreams.service.faults.set({ latencyMs: 500 });
      const rolledBack = await untilRoute(edge.admin, 'the rollback', (r) => r.phase === 'rolled_back', 10_000);
      const seenAt = Date.now();
      assert.equal(rolledBack.updatedBy, 'judge');

      const row = (await edge.admin.history()).at(-1);
      assert.ok(row);
      assert.deepEqual([row.to, row.toWeight, row.actor], ['rolled_back', 0, 'judge']);
      const failed = failedRules(row);
      assert.ok(
        failed.length > 0 && failed.every((rule) => ['p99', 'p99_ratio', 'latency'].includes(rule)),
        failed.join(),
      );
      const service = row.evidence?.figures?.service;
      assert.ok(service && service.errors === 0 && (service.p99Ms ?? 0) >= 500, JSON.stringify(service));
      const ratio = row.evidence?.checks?.find((c) => c.rule === 'p99_ratio');
      assert.equal(ratio?.threshold, 1.5);

      // Why, in the admin API and the metrics: the verdict that rolled back, with the judge's inputs.
      const shown = (await edge.admin.route()) as unknown as {
        verdict: { outcome: string; evidence: { service: { requests: number; p50Ms: number | null } } } | null;
      };
      assert.equal(shown.verdict?.outcome, 'unhealthy');
      assert.ok((shown.verdict?.evidence.service.requests ?? 0) > 0, JSON.stringify(shown.verdict));
      const metrics = await edge.admin.metrics();
      assert.ok(
        metricValue(metrics, 'rf_edge_judge_requests', { route: ROUTE_ID, target: 'service', kind: 'requests' }) > 0,
      );
      assert.equal(metricValue(metrics, 'rf_edge_rollbacks_total', { route: ROUTE_ID, actor: 'judge' }), 1);
      assert.equal(
        metricValue(metrics, 'rf_edge_verdicts_total', {
          route: ROUTE_ID,
          outcome: 'unhealthy',
          rule: failed[0] ?? '',
        }),
        1,
      );

      t.diagnostic(
        `rolled back ${seenAt - faultAt} ms after the latency was added; failing rules: ${failed.join(', ')}`,
      );
      t.diagnostic(`verdict: ${row.evidence?.reason ?? ''}`);
    }).finally(() => load.stop());
  });
});

async function untilRows(db: NonNullable<RolloutFixture['database']>, count: number): Promise<EventRow[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await queryDatabase<EventRow & Record<string, unknown>>(
      db,
      `SELECT from_phase, to_phase, from_weight, to_weight, actor, reason, evidence
         FROM rollout_events WHERE route_id = $1 AND to_phase = 'rolled_back' ORDER BY id`,
      [ROUTE_ID],
    );
    if (rows.length >= count) return rows;
    if (Date.now() > deadline) throw new Error(`only ${rows.length} rolled_back rows in rollout_events`);
    await sleep(50);
  }
}
