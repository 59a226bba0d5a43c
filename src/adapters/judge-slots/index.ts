// Where the judge's per-second evidence is recorded for `rf-edge judge replay`: PostgreSQL when DATABASE_URL is
// set (table judge_slots, migration 002), otherwise JSON lines in DATA_DIR/judge-slots/. Both are bounded, and
// recording never blocks or fails the controller: lines are buffered and written in the background.

import { appendFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { decodeRecordedSecond, encodeRecordedSecond, type RecordedSecond } from '../../core/judge-replay.ts';
import type { Logger } from '../logger.ts';

export interface JudgeSlotStore {
  /** Buffers one learnt second; never throws, never waits. */
  record(r: RecordedSecond): void;
  /** The recorded seconds of a route in [fromSecond, toSecond], oldest first. */
  read(routeId: string, fromSecond: number, toSecond: number): Promise<RecordedSecond[]>;
  /** Writes what is buffered. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A route's file is rotated past this size; one older generation is kept, so a route uses at most twice it. */
export const DEFAULT_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** PostgreSQL rows older than this are deleted. */
export const DEFAULT_PG_RETAIN_MS = 7 * 24 * 3600_000;
const FLUSH_MS = 1000;
/** Lines buffered while the store is unreachable; the oldest go first beyond it. */
const MAX_BUFFERED = 100_000;

export function createJudgeSlotStore(
  env: { readonly DATABASE_URL?: string | undefined; readonly DATA_DIR: string },
  log: Logger,
): JudgeSlotStore {
  return env.DATABASE_URL
    ? createPgJudgeSlotStore({ url: env.DATABASE_URL, log })
    : createFileJudgeSlotStore({ dir: join(env.DATA_DIR, 'judge-slots'), log });
}

function buffered(write: (batch: RecordedSecond[]) => Promise<void>, log: Logger, store: string) {
  let pending: RecordedSecond[] = [];
  let writing: Promise<void> | null = null;
  let warned = false;
  const flush = async (): Promise<void> => {
    if (writing) await writing;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    writing = write(batch)
      .then(() => {
        warned = false;
      })
      .catch((err: unknown) => {
        // Back in front, bounded: the evidence is for later analysis, never worth memory without limit.
        pending = [...batch, ...pending].slice(-MAX_BUFFERED);
        if (!warned) {
          warned = true;
          log.warn({ event: 'judge_slots.write_failed', store, err }, 'could not record the judge evidence; retrying');
        }
      })
      .finally(() => {
        writing = null;
      });
    await writing;
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();
  return {
    record(r: RecordedSecond) {
      pending.push(r);
      if (pending.length > MAX_BUFFERED) pending.shift();
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Safe file name for a route id ([a-z0-9-] by the schema, checked again: ids come from argv too). */
function fileOf(dir: string, routeId: string, generation = ''): string {
  if (!/^[a-z0-9-]+$/.test(routeId)) throw new Error(`not a route id: ${routeId}`);
  return join(dir, `${routeId}${generation}.jsonl`);
}

export function createFileJudgeSlotStore(options: { dir: string; log: Logger; maxBytes?: number }): JudgeSlotStore {
  const { dir, log } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_FILE_MAX_BYTES;
  const writer = buffered(
    async (batch) => {
      await mkdir(dir, { recursive: true });
      const byRoute = new Map<string, string[]>();
      for (const r of batch) {
        const lines = byRoute.get(r.routeId) ?? [];
        lines.push(encodeRecordedSecond(r));
        byRoute.set(r.routeId, lines);
      }
      for (const [routeId, lines] of byRoute) {
        const file = fileOf(dir, routeId);
        const size = await stat(file).then(
          (s) => s.size,
          () => 0,
        );
        if (size > maxBytes) await rename(file, fileOf(dir, routeId, '.1'));
        await appendFile(file, `${lines.join('\n')}\n`);
      }
    },
    log,
    'file',
  );
  return {
    record: writer.record,
    flush: writer.flush,
    async read(routeId, fromSecond, toSecond) {
      const out: RecordedSecond[] = [];
      for (const file of [fileOf(dir, routeId, '.1'), fileOf(dir, routeId)]) {
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch {
          continue;
        }
        for (const line of text.split('\n')) {
          if (line === '') continue;
          const r = decodeRecordedSecond(line);
          if (r && r.routeId === routeId && r.second >= fromSecond && r.second <= toSecond) out.push(r);
        }
      }
      return out.sort((a, b) => a.second - b.second);
    },
    close: () => writer.stop(),
  };
}

export function createPgJudgeSlotStore(options: { url: string; log: Logger; retainMs?: number }): JudgeSlotStore {
  const { log } = options;
  const retainMs = options.retainMs ?? DEFAULT_PG_RETAIN_MS;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    connectionTimeoutMillis: 5000,
    statement_timeout: 10_000,
  });
  pool.on('error', (err) => log.warn({ event: 'judge_slots.pool_error', err }, 'PostgreSQL connection error'));
  let lastPrune = 0;
  const writer = buffered(
    async (batch) => {
      const routes = batch.map((r) => r.routeId);
      const seconds = batch.map((r) => r.second);
      const records = batch.map((r) => encodeRecordedSecond(r));
      await pool.query(
        `INSERT INTO judge_slots (route_id, second, record)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[])
         ON CONFLICT (route_id, second) DO NOTHING`,
        [routes, seconds, records],
      );
      const now = Date.now();
      if (now - lastPrune > 600_000) {
        lastPrune = now;
        await pool.query('DELETE FROM judge_slots WHERE second < $1', [Math.floor((now - retainMs) / 1000)]);
      }
    },
    log,
    'postgres',
  );
  return {
    record: writer.record,
    flush: writer.flush,
    async read(routeId, fromSecond, toSecond) {
      const { rows } = await pool.query<{ record: unknown }>(
        'SELECT record FROM judge_slots WHERE route_id = $1 AND second BETWEEN $2 AND $3 ORDER BY second',
        [routeId, fromSecond, toSecond],
      );
      const out: RecordedSecond[] = [];
      for (const row of rows) {
        const r = decodeRecordedSecond(JSON.stringify(row.record));
        if (r) out.push(r);
      }
      return out;
    },
    async close() {
      await writer.stop();
      await pool.end();
    },
  };
}
