// An audit event as stored: the AuditEvent plus an id given at append time, so a batch written twice (a retry
// after a reply lost on the wire) is recognised and written once. Evidence is frozen into plain JSON when the
// event is appended: later changes to the caller's objects must not rewrite history, and a value JSON cannot
// hold must not make the event unwritable.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isActor, ROLLOUT_PHASES } from '../../core/rollout-machine.ts';
import type { Actor, AuditEvent } from '../../core/types.ts';

export interface AuditRecord extends AuditEvent {
  readonly eventId: string;
}

const recordSchema = z.object({
  eventId: z.string().min(1),
  at: z.number().finite(),
  routeId: z.string().min(1),
  from: z.enum(ROLLOUT_PHASES),
  to: z.enum(ROLLOUT_PHASES),
  fromWeight: z.number(),
  toWeight: z.number(),
  actor: z.custom<Actor>(isActor, 'not a known actor'),
  reason: z.string(),
  evidence: z.unknown(),
  configHash: z.string(),
});

/** Evidence as plain JSON data; what JSON cannot represent is replaced by a note saying so. */
export function freezeEvidence(evidence: unknown): unknown {
  if (evidence === undefined) return null;
  try {
    const text = JSON.stringify(evidence);
    return text === undefined ? null : (JSON.parse(text) as unknown);
  } catch (err) {
    return { unserializable: err instanceof Error ? err.message : String(err) };
  }
}

export function toAuditRecord(event: AuditEvent, eventId: string = randomUUID()): AuditRecord {
  return {
    eventId,
    at: event.at,
    routeId: event.routeId,
    from: event.from,
    to: event.to,
    fromWeight: event.fromWeight,
    toWeight: event.toWeight,
    actor: event.actor,
    reason: event.reason,
    evidence: freezeEvidence(event.evidence),
    configHash: event.configHash,
  };
}

/** The AuditEvent fields only, in a fixed order: what history() answers with. */
export function toAuditEvent(record: AuditRecord): AuditEvent {
  return {
    at: record.at,
    routeId: record.routeId,
    from: record.from,
    to: record.to,
    fromWeight: record.fromWeight,
    toWeight: record.toWeight,
    actor: record.actor,
    reason: record.reason,
    evidence: record.evidence,
    configHash: record.configHash,
  };
}

export type ParsedRecord = { ok: true; record: AuditRecord } | { ok: false; problem: string };

export function parseAuditRecord(value: unknown): ParsedRecord {
  const parsed = recordSchema.safeParse(value);
  if (parsed.success) return { ok: true, record: { ...parsed.data, evidence: parsed.data.evidence ?? null } };
  return { ok: false, problem: z.prettifyError(parsed.error) };
}

/**
 * Newest first by time; events of the same millisecond keep the order given (callers pass newest-first lists),
 * and an event that appears in two sources (buffer and store) is kept once.
 */
export function newestFirst(sources: readonly (readonly AuditRecord[])[], limit: number): AuditRecord[] {
  const seen = new Set<string>();
  const merged: AuditRecord[] = [];
  for (const source of sources) {
    for (const record of source) {
      if (seen.has(record.eventId)) continue;
      seen.add(record.eventId);
      merged.push(record);
    }
  }
  // Array.prototype.sort is stable, so ties keep the order of the sources.
  merged.sort((a, b) => b.at - a.at);
  return merged.slice(0, limit);
}

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 10_000;

export function historyLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_HISTORY_LIMIT;
  return Math.min(Math.max(Math.floor(limit), 0), MAX_HISTORY_LIMIT);
}
