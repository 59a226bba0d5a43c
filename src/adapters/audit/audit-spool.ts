// A file in DATA_DIR holding the audit events PostgreSQL has not taken yet, one JSON record a line, so a process
// that dies (SIGKILL, OOM, a deploy) while PostgreSQL is away does not take them along. The next start replays them;
// their event ids make the replay land once. All I/O here is synchronous on purpose: append() must have the line
// in the file when it returns, and a rewrite must not interleave with an append (an async rewrite renamed over the
// file after an append went to the old one would lose that event). Audit events are a few a minute, never on the
// request path, so blocking for a write costs nothing that matters. One process per DATA_DIR: two processes
// sharing the file would rewrite each other's events away.
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';
import { type AuditRecord, parseAuditRecord } from './audit-record.ts';

export const AUDIT_SPOOL_FILE_NAME = 'audit-spool.jsonl';

/** Corrupt lines are logged with their start only: enough to recognise them, not a second copy of a huge line. */
const LOGGED_LINE_CHARS = 500;

export interface AuditSpool {
  readonly file: string;
  /** The records a previous process left, in file order; a corrupt line is skipped and logged, never fatal. */
  load(): AuditRecord[];
  /** Adds one record to the file before returning; false (logged) when the disk refused it. */
  append(record: AuditRecord): boolean;
  /** Makes the file hold exactly `pending` (temp file + rename), or empties it when nothing is pending. */
  replace(pending: readonly AuditRecord[]): void;
}

function line(record: AuditRecord): string {
  return `${JSON.stringify(record)}\n`;
}

export function createAuditSpool(options: { readonly dir: string; readonly log: Logger }): AuditSpool {
  const { dir, log } = options;
  const file = join(dir, AUDIT_SPOOL_FILE_NAME);
  // Lines the file may hold, so a writer that has nothing pending does not rewrite an already empty file.
  let lines = 0;
  let dirMade = false;

  function ensureDir(): void {
    if (dirMade) return;
    mkdirSync(dir, { recursive: true });
    dirMade = true;
  }

  return {
    file,
    load() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          log.error({ event: 'audit.spool_read_failed', file, err }, 'could not read the audit spool; starting empty');
        }
        return [];
      }
      const records: AuditRecord[] = [];
      text.split('\n').forEach((raw, index) => {
        if (raw.trim() === '') return;
        lines++;
        let problem: string;
        try {
          const parsed = parseAuditRecord(JSON.parse(raw));
          if (parsed.ok) {
            records.push(parsed.record);
            return;
          }
          problem = parsed.problem;
        } catch (err) {
          problem = err instanceof Error ? err.message : String(err);
        }
        log.warn(
          { event: 'audit.spool_line_invalid', file, line: index + 1, problem, text: raw.slice(0, LOGGED_LINE_CHARS) },
          'skipping a malformed line of the audit spool',
        );
      });
      return records;
    },
    append(record) {
      try {
        ensureDir();
        appendFileSync(file, line(record), 'utf8');
        lines++;
        return true;
      } catch (err) {
        log.error(
          { event: 'audit.spool_write_failed', file, err, eventId: record.eventId },
          'could not spool an audit event; it is held in memory only and a crash now would lose it',
        );
        return false;
      }
    },
    replace(pending) {
      if (lines === 0 && pending.length === 0) return;
      try {
        ensureDir();
        if (pending.length === 0) {
          writeFileSync(file, '', 'utf8');
        } else {
          // Rename is atomic: a crash mid-write leaves the old spool (replayed harmlessly), never half of a new one.
          const temp = `${file}.tmp`;
          writeFileSync(temp, pending.map(line).join(''), 'utf8');
          renameSync(temp, file);
        }
        lines = pending.length;
      } catch (err) {
        // The old content stays: events already written get replayed at the next start, which is harmless.
        log.warn({ event: 'audit.spool_rewrite_failed', file, err }, 'could not drop written events from the spool');
      }
    },
  };
}
