// The PostgreSQL audit trail across an outage (a TCP relay the test cuts and restores; the machine's PostgreSQL
// keeps running): events keep being accepted, are all written once it returns, none twice.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createPgAuditLog, type PgAuditLog } from '../../src/adapters/audit/index.ts';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import { createTestDatabase, PG_HOST, PG_PORT, queryDatabase, type TestDatabase } from '../support/databases.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { auditEvent } from '../support/state-fixtures.ts';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { waitFor } from '../support/wait.ts';

async function gauge(metrics: EdgeMetrics, name: 'storeHealthy' | 'auditPending'): Promise<number | undefined> {
  const { values } = await metrics[name].get();
  return name === 'storeHealthy' ? values.find((v) => v.labels.store === 'audit')?.value : values[0]?.value;
}

async function rowCounts(db: TestDatabase): Promise<{ rows: number; distinct: number }> {
  const [row] = await queryDatabase<{ rows: string; distinct: string }>(
    db,
    'SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct FROM rollout_events',
  );
  return { rows: Number(row?.rows), distinct: Number(row?.distinct) };
}

describe('PostgreSQL audit trail', () => {
  let db: TestDatabase;
  let relay: TcpRelay;

  before(async () => {
    db = await createTestDatabase('audit_outage');
    relay = await startTcpRelay(PG_HOST, PG_PORT);
  });

  after(async () => {
    await relay.close();
    await db.drop();
  });

  test('history is newest first, per route, limited, with the figures it was based on', async () => {
    const audit = createPgAuditLog({
      url: db.url(),
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
    });
    try {
      const t0 = 1_700_000_000_000;
      audit.append(auditEvent({ routeId: 'hist', at: t0, from: 'off', to: 'canary', fromWeight: 0, toWeight: 10 }));
      audit.append(auditEvent({ routeId: 'hist', at: t0 + 1000, fromWeight: 10, toWeight: 20 }));
      audit.append(auditEvent({ routeId: 'other', at: t0 + 1500 }));
      const figures = { service: { requests: 300, errors: 30, p99Ms: 812.5 }, legacy: { requests: 2000, errors: 10 } };
      audit.append(
        auditEvent({
          routeId: 'hist',
          at: t0 + 2000,
          to: 'rolled_back',
          fromWeight: 20,
          toWeight: 0,
          reason: 'service error rate 10.0% > 2.0%',
          evidence: figures,
        }),
      );
      await audit.flush(5000);
      assert.equal(audit.pending(), 0);

      const history = await audit.history('hist');
      assert.deepEqual(
        history.map((e) => [e.at - t0, e.to, e.toWeight]),
        [
          [2000, 'rolled_back', 0],
          [1000, 'canary', 20],
          [0, 'canary', 10],
        ],
      );
      assert.deepEqual(history[0]?.evidence, figures);
      assert.equal(history[0]?.reason, 'service error rate 10.0% > 2.0%');
      assert.equal(history[0]?.actor, 'judge');
      assert.equal(history[0]?.configHash, 'abc123def456');
      assert.deepEqual(
        (await audit.history('hist', 1)).map((e) => e.at - t0),
        [2000],
      );
      assert.deepEqual(await audit.history('nobody'), []);
    } finally {
      await audit.close();
    }
  });

  test('a log asked for history the moment it starts (an edge just restarted) answers from PostgreSQL', async () => {
    const first = createPgAuditLog({
      url: db.url(),
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
    });
    first.append(auditEvent({ routeId: 'restarted', at: 1_700_000_100_000, toWeight: 30 }));
    await first.flush(5000);
    await first.close();

    const second = createPgAuditLog({
      url: db.url(),
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
    });
    try {
      const history = await second.history('restarted');
      assert.deepEqual(
        history.map((e) => e.toWeight),
        [30],
      );
    } finally {
      await second.close();
    }
  });

  test('a batch that was already written is not written twice', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    // As if an earlier attempt had committed the second event but its reply never arrived.
    await queryDatabase(
      db,
      `INSERT INTO rollout_events (event_id, at, route_id, from_phase, to_phase, from_weight, to_weight, actor, reason,
       evidence, config_hash) VALUES ($1, now(), 'dup', 'canary', 'canary', 10, 20, 'judge', 'first try', null, 'h')`,
      [ids[1]],
    );
    let next = 0;
    const captured = captureLog();
    const audit = createPgAuditLog({
      url: db.url(),
      log: captured.log,
      metrics: createMetrics({ processMetrics: false }),
      newEventId: () => ids[next++] ?? randomUUID(),
    });
    try {
      for (let i = 0; i < 3; i++) audit.append(auditEvent({ routeId: 'dup', at: Date.now() + i }));
      await audit.flush(5000);
      assert.equal(audit.pending(), 0);
      const rows = await queryDatabase<{ event_id: string }>(
        db,
        `SELECT event_id FROM rollout_events WHERE route_id = 'dup' ORDER BY event_id`,
      );
      assert.deepEqual(
        rows.map((r) => r.event_id),
        [...ids].sort(),
      );
      assert.deepEqual(captured.events('audit.event_rejected'), [], 'the retried event counts as written, not refused');
    } finally {
      await audit.close();
    }
  });

  test('an event PostgreSQL refuses is set aside without holding up the others', async () => {
    const captured = captureLog();
    const metrics = createMetrics({ processMetrics: false });
    const audit = createPgAuditLog({ url: db.url(), log: captured.log, metrics });
    try {
      audit.append(auditEvent({ routeId: 'poison', at: Date.now(), reason: 'before' }));
      // PostgreSQL text cannot hold a NUL character.
      audit.append(auditEvent({ routeId: 'poison', at: Date.now() + 1, reason: 'bad \u0000 byte' }));
      audit.append(auditEvent({ routeId: 'poison', at: Date.now() + 2, reason: 'after' }));
      await audit.flush(5000);
      assert.equal(audit.pending(), 0);
      const rows = await queryDatabase<{ reason: string }>(
        db,
        `SELECT reason FROM rollout_events WHERE route_id = 'poison' ORDER BY at`,
      );
      assert.deepEqual(
        rows.map((r) => r.reason),
        ['before', 'after'],
      );
      assert.equal(captured.events('audit.event_rejected').length, 1);
      const dropped = (await metrics.auditDropped.get()).values;
      assert.deepEqual(
        dropped.map((v) => [v.labels.reason, v.value]),
        [['refused', 1]],
      );
    } finally {
      await audit.close();
    }
  });

  test('cut off: append keeps buffering and history still shows the events; after restore none is lost or doubled', async () => {
    const captured: CapturedLog = captureLog();
    const metrics = createMetrics({ processMetrics: false });
    const audit: PgAuditLog = createPgAuditLog({
      url: db.url(relay.port),
      log: captured.log,
      metrics,
      connectionTimeoutMs: 500,
      retryMaxMs: 300,
    });
    const before = await rowCounts(db);
    try {
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) audit.append(auditEvent({ routeId: 'outage', at: t0 + i }));
      await audit.flush(5000);
      assert.equal(audit.pending(), 0);
      assert.equal(await gauge(metrics, 'storeHealthy'), 1);

      relay.cut();
      for (let i = 5; i < 25; i++) {
        assert.doesNotThrow(() => audit.append(auditEvent({ routeId: 'outage', at: t0 + i, reason: `event ${i}` })));
      }
      await waitFor('the writer to notice the outage', () => audit.healthy() === false, 5000);
      assert.equal(await gauge(metrics, 'storeHealthy'), 0);
      assert.equal(captured.events('audit.pg_down').length, 1);
      assert.equal(audit.pending(), 20);
      assert.equal(await gauge(metrics, 'auditPending'), 20);
      // Flushing while PostgreSQL is away waits no longer than asked and keeps everything.
      await audit.flush(200);
      assert.equal(audit.pending(), 20);

      // The API still shows the buffered events and the ones written before the outage, newest first.
      const during = await audit.history('outage', 100);
      assert.equal(during.length, 25);
      assert.equal(during[0]?.reason, 'event 24');
      assert.deepEqual(
        during.map((e) => e.at - t0),
        Array.from({ length: 25 }, (_, i) => 24 - i),
      );

      relay.restore();
      await audit.flush(10_000);
      assert.equal(audit.pending(), 0);
      assert.equal(await gauge(metrics, 'auditPending'), 0);
      assert.equal(await gauge(metrics, 'storeHealthy'), 1);
      assert.equal(captured.events('audit.pg_up').length, 2, 'up at start, up again after the outage');

      const afterCounts = await rowCounts(db);
      assert.equal(afterCounts.rows - before.rows, 25, 'every event written');
      assert.equal(afterCounts.distinct, afterCounts.rows, 'none written twice');
      const history = await audit.history('outage', 100);
      assert.deepEqual(
        history.map((e) => e.at - t0),
        Array.from({ length: 25 }, (_, i) => 24 - i),
      );
    } finally {
      relay.restore();
      await audit.close();
    }
  });

  test('a log started while PostgreSQL is unreachable buffers, then migrates and writes when it appears', async () => {
    const fresh = await createTestDatabase('audit_late');
    relay.cut();
    const audit = createPgAuditLog({
      url: fresh.url(relay.port),
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
      connectionTimeoutMs: 500,
      retryMaxMs: 200,
    });
    try {
      audit.append(auditEvent({ routeId: 'late', at: Date.now() }));
      assert.equal(await audit.ready(300), false);
      assert.equal((await audit.history('late')).length, 1);
      relay.restore();
      assert.equal(await audit.ready(5000), true);
      await audit.flush(5000);
      const rows = await queryDatabase<{ n: string }>(fresh, `SELECT count(*) AS n FROM rollout_events`);
      assert.equal(rows[0]?.n, '1');
    } finally {
      relay.restore();
      await audit.close();
      await fresh.drop();
    }
  });
});
