// The append side both audit writers share: append() must never wait on or fail because of the store, so events
// go into a bounded in-memory buffer that a writer drains from the front. Past the bound new events are dropped
// (counted, logged once per outage) rather than growing memory without limit while the store is away.
import type { AuditEvent } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import { type AuditRecord, toAuditRecord } from './audit-record.ts';
import { waitForSignal } from './signal-wait.ts';

export interface AuditEventBufferOptions {
  readonly log: Logger;
  readonly metrics?: EdgeMetrics | undefined;
  /** Events held while the store refuses writes; beyond it new events are dropped. */
  readonly maxBuffered: number;
  /** Named in the drop log: "…until <store> takes writes again". */
  readonly store: string;
  readonly newEventId?: (() => string) | undefined;
}

export interface AuditEventBuffer {
  readonly length: number;
  /** Buffers the event; false when it was not buffered (buffer full, or the event could not be made a record). */
  append(event: AuditEvent): boolean;
  /** The oldest `max` records (all without `max`), in append order, for the writer to write. */
  oldest(max?: number): AuditRecord[];
  /** The record the writer writes next. */
  first(): AuditRecord | undefined;
  /** The route's buffered records, newest first. */
  ofRoute(routeId: string): AuditRecord[];
  /** Takes the first `count` records off once the writer has dealt with them. */
  removeFirst(count: number): void;
  /** The store took writes again: the next time the buffer fills up is worth a log line of its own. */
  writesResumed(): void;
  /** Resolves when the buffer is empty or `timeoutMs` has passed, whichever is first. */
  waitEmpty(timeoutMs: number): Promise<void>;
}

export function createAuditEventBuffer(options: AuditEventBufferOptions): AuditEventBuffer {
  const { log, metrics, maxBuffered, store } = options;
  const records: AuditRecord[] = [];
  const emptied = new Set<() => void>();
  let dropping = false;

  return {
    get length() {
      return records.length;
    },
    append(event) {
      try {
        if (records.length >= maxBuffered) {
          metrics?.auditDropped.inc({ reason: 'buffer_full' });
          if (!dropping) {
            dropping = true;
            log.error(
              { event: 'audit.events_dropped', maxBuffered, routeId: event.routeId },
              `audit buffer full; dropping new events until ${store} takes writes again`,
            );
          }
          return false;
        }
        records.push(toAuditRecord(event, options.newEventId?.()));
        metrics?.auditPending.set(records.length);
        return true;
      } catch (err) {
        log.error({ event: 'audit.append_failed', err }, 'could not buffer an audit event');
        return false;
      }
    },
    oldest: (max) => records.slice(0, max),
    first: () => records[0],
    ofRoute: (routeId) => records.filter((record) => record.routeId === routeId).reverse(),
    removeFirst(count) {
      records.splice(0, count);
      metrics?.auditPending.set(records.length);
      if (records.length > 0) return;
      for (const resolve of emptied) resolve();
      emptied.clear();
    },
    writesResumed() {
      dropping = false;
    },
    async waitEmpty(timeoutMs) {
      if (records.length === 0) return;
      await waitForSignal(emptied, timeoutMs);
    },
  };
}
