// Versioned migrations on a real, throwaway PostgreSQL database: applied once, safe when replicas start together.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPgAuditLog, readMigrations, runMigrations } from '../../src/adapters/audit/index.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { createTestDatabase, queryDatabase, type TestDatabase } from '../support/databases.ts';
import { captureLog } from '../support/log-capture.ts';

describe('audit schema migrations', () => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase('migrations');
  });

  after(async () => {
    await db.drop();
  });

  test('five replicas migrating at once apply each migration exactly once', async () => {
    const migrations = await readMigrations();
    assert.ok(migrations.length >= 1);
    const { log } = captureLog();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => runMigrations({ connectionString: db.url() }, migrations, log)),
    );
    // One of them applied everything, the others found nothing left to do.
    const versions = migrations.map((m) => m.version);
    assert.deepEqual(
      results.filter((applied) => applied.length > 0),
      [versions],
    );
    const rows = await queryDatabase<{ version: number }>(db, 'SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(
      rows.map((r) => r.version),
      versions,
    );
  });

  test('the schema has the rollout_events table, its unique event id and the (route_id, at) index', async () => {
    const columns = await queryDatabase<{ column_name: string; data_type: string }>(
      db,
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_name = 'rollout_events' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      columns.map((c) => `${c.column_name}:${c.data_type}`),
      [
        'id:bigint',
        'at:timestamp with time zone',
        'route_id:text',
        'from_phase:text',
        'to_phase:text',
        'from_weight:integer',
        'to_weight:integer',
        'actor:text',
        'reason:text',
        'evidence:jsonb',
        'config_hash:text',
        'event_id:uuid',
      ],
    );
    const indexes = await queryDatabase<{ indexdef: string }>(
      db,
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'rollout_events'`,
    );
    const defs = indexes.map((i) => i.indexdef);
    assert.ok(
      defs.some((d) => /UNIQUE INDEX .* \(event_id\)/.test(d)),
      defs.join('\n'),
    );
    assert.ok(
      defs.some((d) => /\(route_id, at\)/.test(d)),
      defs.join('\n'),
    );
  });

  test('running again changes nothing', async () => {
    const before = await queryDatabase<{ version: number; applied_at: Date }>(
      db,
      'SELECT version, applied_at FROM schema_migrations ORDER BY version',
    );
    const applied = await runMigrations({ connectionString: db.url() }, await readMigrations(), captureLog().log);
    assert.deepEqual(applied, []);
    const afterRows = await queryDatabase<{ version: number; applied_at: Date }>(
      db,
      'SELECT version, applied_at FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(afterRows, before);
  });

  test('a new migration file is applied on the next start; a failing one leaves nothing half done', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-migrations-'));
    try {
      const existing = await readMigrations();
      for (const m of existing) {
        await writeFile(join(dir, `${String(m.version).padStart(3, '0')}_${m.name}.sql`), m.sql);
      }
      await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (x int);\nSELECT no_such_function();\n');
      const log = captureLog().log;
      await assert.rejects(runMigrations({ connectionString: db.url() }, await readMigrations(dir), log));
      const halfDone = await queryDatabase<{ n: string }>(
        db,
        `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'half_done'`,
      );
      assert.equal(halfDone[0]?.n, '0', 'the failed migration was rolled back as a whole');

      await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (x int);\n');
      assert.deepEqual(await runMigrations({ connectionString: db.url() }, await readMigrations(dir), log), [900]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('audit logs of two replicas starting together both become ready on one schema', async () => {
    const fresh = await createTestDatabase('migrations_start');
    const logs = [0, 1].map(() =>
      createPgAuditLog({ url: fresh.url(), log: captureLog().log, metrics: createMetrics({ processMetrics: false }) }),
    );
    try {
      assert.deepEqual(await Promise.all(logs.map((l) => l.ready(10_000))), [true, true]);
      const rows = await queryDatabase<{ n: string }>(fresh, 'SELECT count(*) AS n FROM schema_migrations');
      assert.equal(Number(rows[0]?.n), (await readMigrations()).length);
    } finally {
      await Promise.all(logs.map((l) => l.close()));
      await fresh.drop();
    }
  });

  test('migration file names must carry a unique version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-migrations-'));
    try {
      await writeFile(join(dir, '001_a.sql'), 'SELECT 1;');
      await writeFile(join(dir, '1_b.sql'), 'SELECT 1;');
      await assert.rejects(readMigrations(dir), /share version 1/);
      await rm(join(dir, '1_b.sql'));
      await writeFile(join(dir, 'notes.sql'), 'SELECT 1;');
      await assert.rejects(readMigrations(dir), /not named NNN_name\.sql/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
