// The embedded audit trail: one JSON object per line in <dataDir>/audit.jsonl, appended, never rewritten.
// append() only buffers; a background write adds every buffered line in one append, so the controller never
// waits on the disk. history() reads the file from its end, so asking for the last events of a route costs the
// size of those events, not the size of the file.
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { AuditLog } from '../ports.ts';
import { type AuditRecord, historyLimit, newestFirst, parseAuditRecord, toAuditEvent } from './audit-record.ts';
import { createAuditEventBuffer } from './event-buffer.ts';

export const AUDIT_FILE_NAME = 'audit.jsonl';

export interface JsonlAuditLogOptions {
  readonly dataDir: string;
  readonly log: Logger;
  readonly metrics?: EdgeMetrics;
  /** Events held while the disk refuses writes; beyond it new events are dropped (and logged). */
  readonly maxBuffered?: number;
  readonly newEventId?: () => string;
}

const CHUNK_BYTES = 64 * 1024;

/** Lines of a file from the last to the first, read in chunks from the end. */
async function* linesFromEnd(file: string): AsyncGenerator<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    let position = (await handle.stat()).size;
    // Bytes of a line cut by a chunk boundary, waiting for the rest of the line from the chunk before.
    let carry = Buffer.alloc(0);
    while (position > 0) {
      const size = Math.min(CHUNK_BYTES, position);
      position -= size;
      const chunk = Buffer.alloc(size);
      await handle.read(chunk, 0, size, position);
      let data = Buffer.concat([chunk, carry]);
      let end = data.length;
      for (let i = data.length - 1; i >= 0; i--) {
        if (data[i] !== 0x0a) continue;
        if (end > i + 1) yield data.subarray(i + 1, end).toString('utf8');
        end = i;
      }
      data = data.subarray(0, end);
      carry = Buffer.from(data);
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await handle.close();
  }
}

export function createJsonlAuditLog(options: JsonlAuditLogOptions): AuditLog {
  const { dataDir, log, metrics } = options;
  const file = join(dataDir, AUDIT_FILE_NAME);
  const buffer = createAuditEventBuffer({
    log,
    metrics,
    maxBuffered: options.maxBuffered ?? 100_000,
    store: 'the file',
    newEventId: options.newEventId,
  });
  let writing: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;

  function kick(): void {
    if (writing || retryTimer || buffer.length === 0) return;
    writing = writeBuffered().finally(() => {
      writing = null;
      // Events appended during the write go next, unless the write failed and a retry is already scheduled.
      kick();
    });
  }

  async function writeBuffered(): Promise<void> {
    const batch = buffer.oldest();
    const text = batch.map((record) => `${JSON.stringify(record)}\n`).join('');
    try {
      await mkdir(dataDir, { recursive: true });
      await appendFile(file, text, 'utf8');
      if (failures > 0) log.info({ event: 'audit.file_recovered', file }, 'audit file writable again');
      failures = 0;
      buffer.writesResumed();
      metrics?.storeHealthy.set({ store: 'audit' }, 1);
      buffer.removeFirst(batch.length);
    } catch (err) {
      failures += 1;
      metrics?.storeHealthy.set({ store: 'audit' }, 0);
      log.error(
        { event: 'audit.write_failed', err, file, pending: buffer.length, failures },
        'could not append to the audit file; events stay buffered',
      );
      if (!closed) {
        retryTimer = setTimeout(
          () => {
            retryTimer = undefined;
            kick();
          },
          Math.min(100 * 2 ** failures, 5000),
        );
      }
    }
  }

  async function flush(timeoutMs = 5000): Promise<void> {
    if (buffer.length === 0) return;
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = undefined;
    }
    kick();
    await buffer.waitEmpty(timeoutMs);
  }

  /** The record on `line` if it is one of `routeId`'s; malformed lines are reported and skipped. */
  function parseLine(line: string, routeId: string): AuditRecord | null {
    // Cheap pre-filter: most lines of a busy file belong to other routes.
    if (!line.includes(routeId)) return null;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // A line cut short by a crash mid-append; the lines around it are intact.
      log.warn({ event: 'audit.line_invalid', file }, 'skipping an audit line that is not JSON');
      return null;
    }
    const parsed = parseAuditRecord(value);
    if (!parsed.ok) {
      log.warn({ event: 'audit.line_invalid', file, problem: parsed.problem }, 'skipping a malformed audit line');
      return null;
    }
    return parsed.record.routeId === routeId ? parsed.record : null;
  }

  return {
    append(event: AuditEvent) {
      if (buffer.append(event)) kick();
    },
    async history(routeId, limit) {
      const max = historyLimit(limit);
      if (max === 0) return [];
      // The buffer is read before the file: an event written in between shows up in both and is kept once,
      // instead of in neither.
      const buffered = buffer.ofRoute(routeId);
      const stored: AuditRecord[] = [];
      try {
        for await (const line of linesFromEnd(file)) {
          if (stored.length >= max) break;
          const record = parseLine(line, routeId);
          if (record) stored.push(record);
        }
      } catch (err) {
        log.warn({ event: 'audit.read_failed', err, file }, 'could not read the audit file; history from memory only');
      }
      return newestFirst([buffered, stored], max).map(toAuditEvent);
    },
    pending: () => buffer.length,
    flush,
    async close() {
      if (closed) return;
      await flush(2000);
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      await writing;
      if (buffer.length > 0) {
        log.error(
          { event: 'audit.events_lost', file, count: buffer.length },
          'closing with audit events the file would not take',
        );
      }
    },
  };
}
