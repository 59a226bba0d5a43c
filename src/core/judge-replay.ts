// The judge's evidence, recorded second by second, and the judge re-run over it (`rf-edge judge replay`).
//
// What is recorded is exactly what the judge learnt: one line per route and second with both sides' slots (counts,
// transport failures, edge-delayed requests, the latency histogram as sparse bucket → count pairs). Replaying it
// through a fresh SequentialJudge under any policy shows, second by second, what that policy would have decided
// and why: Argo's dry-run and Kayenta's retrospective analysis, before anyone edits routes.yaml.

import type { RolloutPolicy } from '../config/types.ts';
import type { OutcomeSlot } from './outcome-window.ts';
import { failingRule, SequentialJudge } from './sequential-judge.ts';
import type { VerdictOutcome } from './types.ts';

/** One recorded second of one route: the pair the judge learnt. */
export interface RecordedSecond {
  readonly routeId: string;
  readonly second: number;
  readonly service?: OutcomeSlot;
  readonly legacy?: OutcomeSlot;
}

/** A slot on disk: [requests, errors, transportFailures, tailTransportFailures, edgeDelayed, {bucket: count}]. */
type SlotTuple = [number, number, number, number, number, Record<string, number>];

function slotToTuple(slot: OutcomeSlot): SlotTuple {
  const latency: Record<string, number> = {};
  for (let i = 0; i < slot.latency.length; i++) {
    const c = slot.latency[i] ?? 0;
    if (c > 0) latency[i] = c;
  }
  return [
    slot.requests,
    slot.errors,
    slot.transportFailures,
    slot.tailTransportFailures ?? 0,
    slot.edgeDelayed ?? 0,
    latency,
  ];
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

function tupleToSlot(second: number, value: unknown): OutcomeSlot | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 6) return null;
  const [requests, errors, transportFailures, tail, edgeDelayed] = value.slice(0, 5).map(count);
  const buckets = value[5];
  if (requests == null || errors == null || transportFailures == null || tail == null || edgeDelayed == null) {
    return null;
  }
  if (typeof buckets !== 'object' || buckets === null || Array.isArray(buckets)) return null;
  const latency: number[] = [];
  for (const [key, c] of Object.entries(buckets as Record<string, unknown>)) {
    const bucket = Number(key);
    const n = count(c);
    if (!Number.isInteger(bucket) || bucket < 0 || bucket > 10_000 || n === null) return null;
    latency[bucket] = n;
  }
  for (let i = 0; i < latency.length; i++) latency[i] ??= 0;
  return { second, requests, errors, transportFailures, tailTransportFailures: tail, edgeDelayed, latency };
}

/** One JSON line (no newline). */
export function encodeRecordedSecond(r: RecordedSecond): string {
  return JSON.stringify({
    r: r.routeId,
    s: r.second,
    ...(r.service ? { svc: slotToTuple(r.service) } : {}),
    ...(r.legacy ? { mono: slotToTuple(r.legacy) } : {}),
  });
}

/** The record of a JSON line, or null when the line is not one (a torn write, a foreign line). */
export function decodeRecordedSecond(line: string): RecordedSecond | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const o = raw as Record<string, unknown>;
  const second = count(o['s']);
  if (typeof o['r'] !== 'string' || second === null) return null;
  const service = tupleToSlot(second, o['svc']);
  const legacy = tupleToSlot(second, o['mono']);
  if (service === null || legacy === null) return null;
  return { routeId: o['r'], second, ...(service ? { service } : {}), ...(legacy ? { legacy } : {}) };
}

export interface ReplayLine {
  readonly second: number;
  readonly outcome: VerdictOutcome;
  /** The metric label: first failing rule, `min_samples`/`inconclusive` when holding, `none` when healthy. */
  readonly rule: string;
  readonly reason: string;
}

/**
 * Re-runs the judge over recorded seconds (any order; sorted here) under `policy`, one verdict per recorded
 * second, as one sequence from the first second. Stops learning after the first rollback verdict, as the rollout
 * would have, but keeps reporting it: a rollback is sticky.
 */
export function replayJudge(
  routeId: string,
  records: readonly RecordedSecond[],
  policy: RolloutPolicy,
): { lines: ReplayLine[]; rolledBackAt: number | null } {
  const sorted = [...records].filter((r) => r.routeId === routeId).sort((a, b) => a.second - b.second);
  const first = sorted[0];
  const lines: ReplayLine[] = [];
  if (first === undefined) return { lines, rolledBackAt: null };
  const judge = new SequentialJudge(routeId, first.second);
  let rolledBackAt: number | null = null;
  for (const r of sorted) {
    if (rolledBackAt !== null) break;
    judge.observe(r.second, r.service, r.legacy, policy);
    const verdict = judge.verdict(policy, (r.second + 1) * 1000);
    lines.push({ second: r.second, outcome: verdict.outcome, rule: failingRule(verdict), reason: verdict.reason });
    if (verdict.outcome === 'critical' || verdict.outcome === 'unhealthy') rolledBackAt = r.second;
  }
  return { lines, rolledBackAt };
}
