// Picks the audit trail: PostgreSQL when DATABASE_URL is set, otherwise JSON lines in DATA_DIR.
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { AuditLog } from '../ports.ts';
import { createJsonlAuditLog } from './jsonl-audit-log.ts';
import { createPgAuditLog } from './pg-audit-log.ts';

export { AUDIT_SPOOL_FILE_NAME } from './audit-spool.ts';
export { AUDIT_FILE_NAME, createJsonlAuditLog, type JsonlAuditLogOptions } from './jsonl-audit-log.ts';
export { createPgAuditLog, type PgAuditLog, type PgAuditLogOptions } from './pg-audit-log.ts';
export { DEFAULT_MIGRATIONS_DIR, readMigrations, runMigrations } from './pg-migrations.ts';

/** The environment variables the choice reads (a subset of the edge's parsed env). */
export interface AuditLogEnv {
  /** Empty or absent selects the JSON-lines file. */
  readonly DATABASE_URL?: string | undefined;
  /** Where the JSON-lines file lives, or with DATABASE_URL the spool of events PostgreSQL has not taken yet. */
  readonly DATA_DIR: string;
}

export function createAuditLog(options: {
  readonly env: AuditLogEnv;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
}): AuditLog {
  const { env, log, metrics } = options;
  const databaseUrl = env.DATABASE_URL?.trim();
  if (databaseUrl) {
    return createPgAuditLog({
      url: databaseUrl,
      log: log.child({ component: 'audit', store: 'postgres' }),
      metrics,
      // Events PostgreSQL has not taken yet survive a crash there.
      spoolDir: env.DATA_DIR,
    });
  }
  return createJsonlAuditLog({
    dataDir: env.DATA_DIR,
    log: log.child({ component: 'audit', store: 'jsonl' }),
    metrics,
  });
}
