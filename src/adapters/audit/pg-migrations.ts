// Versioned schema migrations for the PostgreSQL audit trail: migrations/NNN_name.sql, applied in order, each
// once, recorded in schema_migrations. Every replica runs this at start; a transaction-scoped advisory lock makes
// concurrent starts take turns, and the whole run is one transaction, so a failed migration leaves nothing half
// applied.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** The repository's migrations/ folder. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

/** Any fixed 64-bit number other applications are unlikely to pick: the ASCII of "rfmigrat". */
const MIGRATION_LOCK_KEY = '8243396467422814580';
/** Migrations may rebuild indexes on a big table; bounded all the same, so a stuck start fails visibly. */
const MIGRATION_TIMEOUT_MS = 120_000;

const FILE_NAME = /^(\d+)_([a-z0-9_-]+)\.sql$/i;

/** `001_rollout_events.sql` → { version: 1, name: 'rollout_events' }; null for files that are not migrations. */
export function parseMigrationFileName(file: string): { version: number; name: string } | null {
  const match = FILE_NAME.exec(file);
  if (!match?.[1] || !match[2]) return null;
  return { version: Number(match[1]), name: match[2] };
}

export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  const versions = new Map<number, string>();
  for (const file of files) {
    const parsed = parseMigrationFileName(file);
    if (!parsed) throw new Error(`migration file ${file} is not named NNN_name.sql`);
    const clash = versions.get(parsed.version);
    if (clash) throw new Error(`migrations ${clash} and ${file} share version ${parsed.version}`);
    versions.set(parsed.version, file);
    const sql = await readFile(join(dir, file), 'utf8');
    migrations.push({ ...parsed, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Applies the migrations the database has not seen; returns the versions applied by this call. Uses a connection
 * of its own: the audit pool's short timeouts are for the hot loop, and a migration may legitimately take longer.
 */
export async function runMigrations(
  connection: Pick<pg.ClientConfig, 'connectionString' | 'connectionTimeoutMillis'>,
  migrations: readonly Migration[],
  log: Logger,
): Promise<number[]> {
  const client = new pg.Client({
    ...connection,
    query_timeout: MIGRATION_TIMEOUT_MS,
    statement_timeout: MIGRATION_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'rf-edge-migrate',
  });
  // Without a listener, a connection lost between queries would be an uncaught 'error' event.
  client.on('error', (err) => log.warn({ event: 'audit.pg_client_error', err }, 'migration connection failed'));
  await client.connect();
  const applied: number[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      checksum   text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((row) => [row.version, row.checksum]));
    for (const migration of migrations) {
      const checksum = done.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          log.warn(
            { event: 'audit.migration_changed', version: migration.version, name: migration.name },
            'an applied migration file was edited; it is not applied again (add a new migration instead)',
          );
        }
        continue;
      }
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    if (applied.length > 0) log.info({ event: 'audit.migrated', versions: applied }, 'audit schema migrated');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
