// The audit trail in PostgreSQL. append() never waits and never throws: events get their id, go into a buffer,
// and one background writer inserts them in batches. While PostgreSQL is unreachable they stay buffered (up to a
// bound) and go in when it returns; `ON CONFLICT (event_id) DO NOTHING` makes a batch retried after a lost reply
// land once. history() answers from PostgreSQL plus whatever is still buffered, so nothing vanishes from the API
// during an outage. With a spool directory every accepted event is also in a file until PostgreSQL has it, so a
// process that dies during an outage leaves its events for the next start instead of losing them.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { AuditEvent } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { AuditLog } from '../ports.ts';
import {
  type AuditRecord,
  historyLimit,
  newestFirst,
  parseAuditRecord,
  toAuditEvent,
  toAuditRecord,
} from './audit-record.ts';
import { type AuditSpool, createAuditSpool } from './audit-spool.ts';
import { createAuditEventBuffer } from './event-buffer.ts';
import { DEFAULT_MIGRATIONS_DIR, type Migration, readMigrations, runMigrations } from './pg-migrations.ts';
import { waitForSignal } from './signal-wait.ts';

export interface PgAuditLogOptions {
  readonly url: string;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** Events held while PostgreSQL is unreachable; beyond it new events are dropped (logged). */
  readonly maxBuffered?: number;
  readonly batchSize?: number;
  readonly migrationsDir?: string;
  readonly connectionTimeoutMs?: number;
  readonly queryTimeoutMs?: number;
  /** Longest wait between retries while PostgreSQL is unreachable. */
  readonly retryMaxMs?: number;
  /** How often an idle writer checks PostgreSQL is still there (keeps the health metric honest). */
  readonly probeIntervalMs?: number;
  /** Event ids are random UUIDs; tests inject their own. */
  readonly newEventId?: () => string;
  /**
   * Where `audit-spool.jsonl` keeps the events PostgreSQL has not taken yet (the edge passes DATA_DIR); events a
   * previous process left there are written first. Absent: events wait in memory only.
   */
  readonly spoolDir?: string | undefined;
}

export interface PgAuditLog extends AuditLog {
  /** Whether the last contact with PostgreSQL worked (null before the first). */
  healthy(): boolean | null;
  /** Resolves true once the schema is migrated, false if that has not happened within `timeoutMs`. */
  ready(timeoutMs?: number): Promise<boolean>;
}

/** Events of a route kept in memory, served by history() while PostgreSQL cannot be asked. */
const RECENT_PER_ROUTE = 100;

/** Errors that say "this row is unacceptable" (bad data, constraint, limits), not "the database is away". */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

function isUndefinedTable(err: unknown): boolean {
  return (err as { code?: unknown }).code === '42P01';
}

interface EventRow {
  event_id: string;
  at: Date;
  route_id: string;
  from_phase: string;
  to_phase: string;
  from_weight: number;
  to_weight: number;
  actor: string;
  reason: string;
  evidence: unknown;
  config_hash: string;
}

const INSERT = `
  INSERT INTO rollout_events
    (event_id, at, route_id, from_phase, to_phase, from_weight, to_weight, actor, reason, evidence, config_hash)
  SELECT * FROM unnest(
    $1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[],
    $8::text[], $9::text[], $10::jsonb[], $11::text[])
  ON CONFLICT (event_id) DO NOTHING`;

const SELECT_HISTORY = `
  SELECT event_id, at, route_id, from_phase, to_phase, from_weight, to_weight, actor, reason, evidence, config_hash
  FROM rollout_events WHERE route_id = $1 ORDER BY at DESC, id DESC LIMIT $2`;

export function createPgAuditLog(options: PgAuditLogOptions): PgAuditLog {
  const { url, log, metrics } = options;
  const batchSize = options.batchSize ?? 500;
  const retryMaxMs = options.retryMaxMs ?? 5000;
  const probeIntervalMs = options.probeIntervalMs ?? 5000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const connectionTimeoutMs = options.connectionTimeoutMs ?? 2000;

  // Short timeouts and TCP keepalive: a lost database is noticed in seconds, and the writer goes back to
  // buffering instead of hanging on a dead socket.
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: connectionTimeoutMs,
    query_timeout: queryTimeoutMs,
    statement_timeout: queryTimeoutMs,
    idleTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
    application_name: 'rf-edge',
  });
  pool.on('error', (err) => {
    log.debug({ event: 'audit.pg_client_error', err }, 'an idle PostgreSQL connection failed');
  });

  // The record (and its id) is made here, before the buffer sees it, so the spooled line and the buffered record
  // are the same event; the buffer is handed the id through `adoptedId`.
  let adoptedId: string | undefined;
  const buffer = createAuditEventBuffer({
    log,
    metrics,
    maxBuffered: options.maxBuffered ?? 100_000,
    store: 'PostgreSQL',
    newEventId: () => adoptedId ?? randomUUID(),
  });
  function buffered(record: AuditRecord): boolean {
    adoptedId = record.eventId;
    try {
      return buffer.append(record);
    } finally {
      adoptedId = undefined;
    }
  }

  const spool: AuditSpool | null =
    options.spoolDir === undefined ? null : createAuditSpool({ dir: options.spoolDir, log });
  if (spool) {
    const left = spool.load();
    for (const record of left) buffered(record);
    if (left.length > 0) {
      log.info(
        { event: 'audit.spool_replayed', count: left.length, file: spool.file },
        'audit events a previous process could not write are queued for PostgreSQL',
      );
    }
  }
  /** The writer dealt with the front of the buffer: the spool keeps only what is still pending. */
  function spoolWritten(): void {
    spool?.replace(buffer.oldest());
  }
  const recent = new Map<string, AuditRecord[]>();
  const readyWaiters = new Set<() => void>();
  let migrations: Migration[] | null = null;
  let migrated = false;
  let healthy: boolean | null = null;
  let stopped = false;
  let nap: { wake: () => void; reason: 'idle' | 'backoff' } | null = null;

  metrics.storeHealthy.set({ store: 'audit' }, 0);
  metrics.auditPending.set(0);

  function markUp(): void {
    metrics.storeHealthy.set({ store: 'audit' }, 1);
    if (healthy === true) return;
    healthy = true;
    buffer.writesResumed();
    log.info({ event: 'audit.pg_up', pending: buffer.length }, 'PostgreSQL reachable; writing the audit trail');
  }

  function markDown(err: unknown): void {
    metrics.storeHealthy.set({ store: 'audit' }, 0);
    if (healthy === false) return;
    healthy = false;
    log.warn(
      { event: 'audit.pg_down', err, pending: buffer.length },
      'PostgreSQL unreachable; audit events stay buffered until it returns',
    );
  }

  function remember(records: readonly AuditRecord[]): void {
    for (const record of records) {
      const list = recent.get(record.routeId) ?? [];
      list.push(record);
      if (list.length > RECENT_PER_ROUTE) list.splice(0, list.length - RECENT_PER_ROUTE);
      recent.set(record.routeId, list);
    }
  }

  function recentOf(routeId: string): AuditRecord[] {
    return [...(recent.get(routeId) ?? [])].reverse();
  }

  function sleep(ms: number, reason: 'idle' | 'backoff'): Promise<'woken' | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        nap = null;
        resolve('timeout');
      }, ms);
      nap = {
        reason,
        wake: () => {
          clearTimeout(timer);
          nap = null;
          resolve('woken');
        },
      };
    });
  }

  async function insert(records: readonly AuditRecord[]): Promise<void> {
    const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
    for (const r of records) {
      const values = [
        r.eventId,
        new Date(r.at).toISOString(),
        r.routeId,
        r.from,
        r.to,
        Math.round(r.fromWeight),
        Math.round(r.toWeight),
        r.actor,
        r.reason,
        JSON.stringify(r.evidence ?? null),
        r.configHash,
      ];
      values.forEach((value, i) => {
        columns[i]?.push(value);
      });
    }
    await pool.query(INSERT, columns);
  }

  /** One bad event must not hold up the rest forever: write one by one and set aside what PostgreSQL refuses. */
  async function insertOneByOne(batch: readonly AuditRecord[]): Promise<void> {
    try {
      await insertEach(batch);
    } finally {
      spoolWritten();
    }
  }

  async function insertEach(batch: readonly AuditRecord[]): Promise<void> {
    for (const record of batch) {
      try {
        await insert([record]);
        remember([record]);
      } catch (err) {
        if (!isDataError(err)) throw err;
        metrics.auditDropped.inc({ reason: 'refused' });
        log.error(
          { event: 'audit.event_rejected', err, record },
          'PostgreSQL refused an audit event; it is logged here instead',
        );
      }
      // Both outcomes leave the buffer; the record is at its front (only the writer removes, and from the front).
      buffer.removeFirst(buffer.first() === record ? 1 : 0);
    }
  }

  async function writeLoop(): Promise<void> {
    let backoffMs = 100;
    while (!stopped) {
      try {
        if (!migrated) {
          migrations ??= await readMigrations(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
          await runMigrations({ connectionString: url, connectionTimeoutMillis: connectionTimeoutMs }, migrations, log);
          migrated = true;
          for (const resolve of readyWaiters) resolve();
          readyWaiters.clear();
          markUp();
        }
        if (buffer.length === 0) {
          const why = await sleep(probeIntervalMs, 'idle');
          if (why === 'timeout' && !stopped && buffer.length === 0) {
            await pool.query('SELECT 1');
            markUp();
          }
          continue;
        }
        const batch = buffer.oldest(batchSize);
        try {
          await insert(batch);
          buffer.removeFirst(batch.length);
          remember(batch);
          spoolWritten();
        } catch (err) {
          if (!isDataError(err)) throw err;
          await insertOneByOne(batch);
        }
        markUp();
        backoffMs = 100;
      } catch (err) {
        if (isUndefinedTable(err)) migrated = false;
        if (stopped) break;
        markDown(err);
        await sleep(backoffMs, 'backoff');
        backoffMs = Math.min(backoffMs * 2, retryMaxMs);
      }
    }
  }

  const loop = writeLoop();

  async function flush(timeoutMs = 5000): Promise<void> {
    if (buffer.length === 0) return;
    // Skip the rest of a backoff: a caller waiting on the buffer wants the next attempt now.
    nap?.wake();
    await buffer.waitEmpty(timeoutMs);
  }

  return {
    append(event: AuditEvent) {
      let record: AuditRecord;
      try {
        record = toAuditRecord(event, options.newEventId?.());
      } catch (err) {
        log.error({ event: 'audit.append_failed', err }, 'could not make an audit record of the event');
        return;
      }
      if (!buffered(record)) return;
      // Synchronous: the line is in the file before append() returns, so a crash from here on loses nothing.
      spool?.append(record);
      if (nap?.reason === 'idle') nap.wake();
    },
    async history(routeId, limit) {
      const max = historyLimit(limit);
      if (max === 0) return [];
      const buffered = buffer.ofRoute(routeId);
      let stored = recentOf(routeId);
      // Right after start the schema check is still under way: a short wait beats answering "no history" for a
      // route whose rows are sitting in PostgreSQL.
      if (!migrated && healthy !== false) await waitForSignal(readyWaiters, 2000);
      if (migrated && healthy !== false) {
        try {
          const { rows } = await pool.query<EventRow>(SELECT_HISTORY, [routeId, max]);
          stored = [];
          for (const row of rows) {
            const parsed = parseAuditRecord({
              eventId: row.event_id,
              at: row.at.getTime(),
              routeId: row.route_id,
              from: row.from_phase,
              to: row.to_phase,
              fromWeight: row.from_weight,
              toWeight: row.to_weight,
              actor: row.actor,
              reason: row.reason,
              evidence: row.evidence,
              configHash: row.config_hash,
            });
            if (parsed.ok) stored.push(parsed.record);
            else log.warn({ event: 'audit.row_invalid', problem: parsed.problem }, 'skipping a malformed audit row');
          }
          // Keep what PostgreSQL said, so an outage later does not empty this route's history.
          recent.set(routeId, newestFirst([stored, recentOf(routeId)], RECENT_PER_ROUTE).reverse());
        } catch (err) {
          log.warn({ event: 'audit.history_failed', err }, 'PostgreSQL did not answer; history from memory only');
        }
      }
      return newestFirst([buffered, stored], max).map(toAuditEvent);
    },
    pending: () => buffer.length,
    flush,
    healthy: () => healthy,
    async ready(timeoutMs = 10_000) {
      if (migrated) return true;
      await waitForSignal(readyWaiters, timeoutMs);
      return migrated;
    },
    async close() {
      if (stopped) return;
      // Worth a wait while PostgreSQL answers; not worth holding up a shutdown while it is known to be away.
      await flush(healthy === false ? 500 : 3000);
      stopped = true;
      nap?.wake();
      await loop;
      if (buffer.length > 0 && spool) {
        log.warn(
          { event: 'audit.events_spooled', count: buffer.length, file: spool.file },
          'closing with audit events PostgreSQL did not take; the next start writes them from the spool',
        );
      } else if (buffer.length > 0) {
        log.error(
          { event: 'audit.events_lost', count: buffer.length },
          'closing with audit events PostgreSQL did not take',
        );
      }
      await pool.end().catch(() => undefined);
    },
  };
}
