// The PostgreSQL audit trail's spool in DATA_DIR: events accepted while PostgreSQL is away (a TCP relay the test
// cuts; the machine's PostgreSQL keeps running) outlive the process that accepted them, and the next process with
// the same directory writes them, each once.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toAuditRecord } from '../../src/adapters/audit/audit-record.ts';
import { AUDIT_SPOOL_FILE_NAME, createPgAuditLog } from '../../src/adapters/audit/index.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { createTestDatabase, PG_HOST, PG_PORT, queryDatabase, type TestDatabase } from '../support/databases.ts';
import { captureLog } from '../support/log-capture.ts';
import { auditEvent } from '../support/state-fixtures.ts';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { waitFor } from '../support/wait.ts';

async function eventIds(db: TestDatabase, routeId: string): Promise<string[]> {
  const rows = await queryDatabase<{ event_id: string }>(
    db,
    'SELECT event_id FROM rollout_events WHERE route_id = $1 ORDER BY event_id',
    [routeId],
  );
  return rows.map((row) => row.event_id);
}

async function spoolLines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
}

describe('PostgreSQL audit spool', () => {
  let db: TestDatabase;
  let relay: TcpRelay;
  const dirs: string[] = [];

  async function spoolDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'rf-audit-spool-'));
    dirs.push(dir);
    return dir;
  }

  before(async () => {
    db = await createTestDatabase('audit_spool');
    relay = await startTcpRelay(PG_HOST, PG_PORT);
  });

  after(async () => {
    await relay.close();
    await db.drop();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('events accepted during an outage survive the process and are written once by the next start', async () => {
    const dir = await spoolDir();
    const file = join(dir, AUDIT_SPOOL_FILE_NAME);
    const first = createPgAuditLog({
      url: db.url(relay.port),
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
      spoolDir: dir,
      connectionTimeoutMs: 300,
      retryMaxMs: 200,
    });
    const t0 = Date.now();
    try {
      assert.equal(await first.ready(5000), true);
      first.append(auditEvent({ routeId: 'spooled', at: t0, reason: 'before the outage' }));
      await first.flush(5000);
      assert.equal(first.pending(), 0);
      assert.deepEqual(await spoolLines(file), [], 'a written event leaves the spool');

      relay.cut();
      for (let i = 1; i <= 10; i++) {
        first.append(auditEvent({ routeId: 'spooled', at: t0 + i, reason: `during the outage ${i}` }));
        // On disk the moment append() returns: a crash right now would not lose it.
        assert.equal((await spoolLines(file)).length, i);
      }
      await waitFor('the writer to notice the outage', () => first.healthy() === false, 5000);
      assert.equal(first.pending(), 10);
    } finally {
      // The process "dies" with PostgreSQL away: whatever it did not write stays in the spool.
      await first.close();
    }
    const spooled = (await spoolLines(file)).map((line) => (JSON.parse(line) as { eventId: string }).eventId);
    assert.equal(spooled.length, 10);
    assert.equal((await eventIds(db, 'spooled')).length, 1, 'nothing of the outage reached PostgreSQL');

    relay.restore();
    const captured = captureLog();
    const second = createPgAuditLog({
      url: db.url(relay.port),
      log: captured.log,
      metrics: createMetrics({ processMetrics: false }),
      spoolDir: dir,
      connectionTimeoutMs: 300,
      retryMaxMs: 200,
    });
    try {
      assert.equal(second.pending(), 10, 'the spool is queued at start');
      await second.flush(10_000);
      assert.equal(second.pending(), 0);
      const written = await eventIds(db, 'spooled');
      assert.equal(written.length, 11, 'every event written, none twice');
      for (const id of spooled) assert.ok(written.includes(id), `spooled event ${id} written under its own id`);
      assert.deepEqual(await spoolLines(file), [], 'the spool is empty once PostgreSQL has everything');
      assert.deepEqual(
        captured.events('audit.spool_replayed').map((line) => line.count),
        [10],
      );
      const history = await second.history('spooled', 100);
      assert.deepEqual(
        history.map((e) => e.at - t0),
        [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
      );
    } finally {
      await second.close();
    }
  });

  test('a spool with corrupt lines still replays the good ones', async () => {
    const dir = await spoolDir();
    const file = join(dir, AUDIT_SPOOL_FILE_NAME);
    const good = [
      toAuditRecord(auditEvent({ routeId: 'corrupt', at: 1_700_000_000_000, reason: 'good 1' })),
      toAuditRecord(auditEvent({ routeId: 'corrupt', at: 1_700_000_001_000, reason: 'good 2' })),
    ];
    const [one, two] = good.map((record) => JSON.stringify(record));
    await writeFile(
      file,
      [
        one,
        '{"eventId":"cut short by a crash',
        JSON.stringify({ eventId: 'not-a-record', routeId: 'corrupt' }),
        two,
        // The same event twice, as after a rewrite that failed: still one row.
        one,
        '',
      ].join('\n'),
    );
    const captured = captureLog();
    const audit = createPgAuditLog({
      url: db.url(),
      log: captured.log,
      metrics: createMetrics({ processMetrics: false }),
      spoolDir: dir,
    });
    try {
      await audit.flush(10_000);
      assert.equal(audit.pending(), 0);
      const rows = await queryDatabase<{ event_id: string; reason: string }>(
        db,
        `SELECT event_id, reason FROM rollout_events WHERE route_id = 'corrupt' ORDER BY at`,
      );
      assert.deepEqual(
        rows.map((row) => [row.event_id, row.reason]),
        good.map((record) => [record.eventId, record.reason]),
      );
      assert.deepEqual(
        captured.events('audit.spool_line_invalid').map((line) => line.line),
        [2, 3],
      );
      assert.deepEqual(await spoolLines(file), []);
    } finally {
      await audit.close();
    }
  });
});
