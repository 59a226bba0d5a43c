// What shadow comparisons add up to, and which differences are noise. Pure: counts in, summaries out.
//
// Noise is cancelled three ways, together:
// 1. Rules in routes.yaml (structural-diff): a ruled field never becomes a difference.
// 2. Per request (Diferencia): a sampled safe request is sent to the monolith twice; a field on which the monolith
//    disagrees with itself is noise for that request, whatever the service answered.
// 3. Learned per route, per status, per field (Diffy): `raw` counts the comparisons where the field differed between
//    the monolith and the service, `noise` the sampled requests where it differed between the monolith and itself.
//    A field stays real only while the service changes it measurably more often than the monolith does on its own:
//        rawRate − noiseRate > absoluteThreshold   AND   (rawRate − noiseRate) / rawRate > relativeThreshold
//    (Diffy's two thresholds: the absolute one ignores a field that differs on a handful of requests, the relative
//    one a field that varies by nature). Until MIN_NOISE_SAMPLES second answers are in, nothing is known to be
//    noise: every differing field counts.
//
// Storage is a flat map of counters, so the same numbers add up in memory and in a Redis hash (HINCRBY), and every
// replica's comparisons count once. Keys:
//   compared | noise_samples | ruled | request_noise          totals
//   raw|<status>|<field>   noise|<status>|<field>               the learned-noise pairs
//   hint|<what>|<status>|<field>                               what the differences looked like (for `suggest`)
//   slot|<slotStart>|compared, slot|<slotStart>|sig|<fields>   per time slot: which set of fields differed per
//                                                              request (a request with no difference has none;
//                                                              an empty set means all per-request noise), after
//                                                              rules and per-request noise, so the
//                                                              mismatch rate can be recomputed whenever what is
//                                                              known about noise changes
//   slot|<slotStart>|result|<result>                           match / mismatch / error / skipped as compared then

import type { FieldDifference } from './structural-diff.ts';
import { shapeOf, timestampMs } from './structural-diff.ts';

export const MIN_NOISE_SAMPLES = 20;
export const DEFAULT_NOISE_THRESHOLDS = { relative: 0.2, absolute: 0.001 } as const;
/** Width of a time slot of request-level results. */
export const SLOT_MS = 10_000;
/** Distinct fields kept per route; more are counted under OTHER_FIELD (JSON maps keyed by id would be unbounded). */
export const MAX_FIELDS = 300;
export const OTHER_FIELD = '(other fields)';

export type Counters = ReadonlyMap<string, number>;
export type CounterIncrements = Map<string, number>;

export interface NoiseThresholds {
  readonly relative: number;
  readonly absolute: number;
}

/** One comparison, as the tally sees it. */
export interface ComparisonRecord {
  readonly at: number;
  readonly result: 'compared' | 'error' | 'skipped';
  readonly legacyStatus: number;
  /** Legacy vs service, after rules. */
  readonly differences: readonly FieldDifference[];
  /** Legacy vs a second legacy answer (per-request noise), after rules; null when not sampled. */
  readonly noiseDifferences: readonly FieldDifference[] | null;
  readonly ruled: number;
}

function inc(out: CounterIncrements, key: string, by = 1): void {
  out.set(key, (out.get(key) ?? 0) + by);
}

export function slotOf(at: number): number {
  return Math.floor(at / SLOT_MS) * SLOT_MS;
}

export function fieldKey(status: number, field: string): string {
  return `${status}|${field}`;
}

/**
 * The counter increments of one comparison. `knownFields` caps the distinct fields (null: no cap). Returns the
 * increments and the request-level result: `noise` when every difference was per-request noise.
 */
export function countComparison(
  record: ComparisonRecord,
  knownFields: ((key: string) => boolean) | null = null,
): { increments: CounterIncrements; fields: readonly string[] } {
  const out: CounterIncrements = new Map();
  const slot = `slot|${slotOf(record.at)}|`;
  if (record.result !== 'compared') {
    inc(out, `${slot}result|${record.result}`);
    return { increments: out, fields: [] };
  }
  inc(out, 'compared');
  inc(out, `${slot}compared`);
  if (record.ruled > 0) inc(out, 'ruled', record.ruled);
  const capped = (field: string): string => {
    const key = fieldKey(record.legacyStatus, field);
    return knownFields === null || knownFields(key) ? key : fieldKey(record.legacyStatus, OTHER_FIELD);
  };

  const raw = new Set<string>();
  for (const d of record.differences) raw.add(capped(d.field));
  for (const key of raw) inc(out, `raw|${key}`);
  for (const d of record.differences) addHints(out, capped(d.field), d);

  let remaining = raw;
  if (record.noiseDifferences !== null) {
    inc(out, 'noise_samples');
    const noisy = new Set<string>();
    for (const d of record.noiseDifferences) noisy.add(capped(d.field));
    for (const key of noisy) inc(out, `noise|${key}`);
    for (const d of record.noiseDifferences) addHints(out, capped(d.field), d);
    remaining = new Set([...raw].filter((key) => !noisy.has(key)));
    if (raw.size > 0 && remaining.size === 0) inc(out, 'request_noise');
  }
  const fields = [...remaining].sort();
  // No difference at all is not a signature; an empty signature is "every difference was per-request noise".
  if (raw.size > 0) inc(out, `${slot}sig|${fields.join('\u001f')}`);
  return { increments: out, fields };
}

/** What a difference looked like, bucketed so it adds up across replicas (for `suggest`). */
function addHints(out: CounterIncrements, key: string, d: FieldDifference): void {
  inc(out, `hint|seen|${key}`);
  if (d.kind === 'order') {
    inc(out, `hint|order|${key}`);
    return;
  }
  if (d.kind !== 'value' || d.legacy === null || d.service === null) return;
  const a = parseShown(d.legacy);
  const b = parseShown(d.service);
  const ta = timestampMs(a);
  const tb = timestampMs(b);
  if (ta !== null && tb !== null && typeof a === typeof b) {
    inc(out, `hint|ts|${key}`);
    inc(out, `hint|tsexp${Math.ceil(Math.log2(Math.max(Math.abs(ta - tb), 1)))}|${key}`);
  } else if (typeof a === 'number' && typeof b === 'number') {
    inc(out, `hint|num|${key}`);
    inc(out, `hint|numexp${Math.ceil(Math.log10(Math.max(Math.abs(a - b), 1e-9)))}|${key}`);
  }
  if (typeof a === 'string' && typeof b === 'string' && shapeOf(a) === shapeOf(b)) inc(out, `hint|shape|${key}`);
}

function parseShown(text: string): unknown {
  // A value cut for display says nothing reliable about its shape or clock.
  if (text.endsWith('…') || text.endsWith('…"')) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---- summaries --------------------------------------------------------------------------------------------------

export type FieldVerdict = 'real' | 'noise' | 'learning';

export interface FieldSummary {
  readonly status: number;
  readonly field: string;
  readonly raw: number;
  readonly noise: number;
  readonly rawRate: number;
  readonly noiseRate: number;
  readonly verdict: FieldVerdict;
}

export interface DiffSummary {
  /** Comparisons in the slots read. */
  readonly compared: number;
  /** Of them, with at least one difference left after rules (noise or not). */
  readonly rawMismatches: number;
  /** Of them, with at least one difference on a field that is not (learned) noise: the mismatch rate's numerator. */
  readonly mismatches: number;
  readonly errors: number;
  readonly skipped: number;
  /** Totals since the tally began (the learning horizon). */
  readonly learning: { readonly compared: number; readonly noiseSamples: number; readonly ruled: number };
  readonly fields: readonly FieldSummary[];
  /** The real fields that made requests mismatch in the slots read, most often first. */
  readonly mismatchFields: readonly { readonly field: string; readonly status: number; readonly count: number }[];
}

function splitKey(key: string): { status: number; field: string } {
  const bar = key.indexOf('|');
  return { status: Number(key.slice(0, bar)), field: key.slice(bar + 1) };
}

/** The learned verdict on every field. */
export function fieldVerdicts(counters: Counters, thresholds: NoiseThresholds): FieldSummary[] {
  const compared = counters.get('compared') ?? 0;
  const samples = counters.get('noise_samples') ?? 0;
  const out: FieldSummary[] = [];
  for (const [k, raw] of counters) {
    if (!k.startsWith('raw|')) continue;
    const key = k.slice(4);
    const noise = counters.get(`noise|${key}`) ?? 0;
    const rawRate = compared > 0 ? raw / compared : 0;
    const noiseRate = samples > 0 ? noise / samples : 0;
    const excess = rawRate - noiseRate;
    let verdict: FieldVerdict;
    if (samples < MIN_NOISE_SAMPLES) verdict = 'learning';
    else verdict = excess > thresholds.absolute && excess / rawRate > thresholds.relative ? 'real' : 'noise';
    out.push({ ...splitKey(key), raw, noise, rawRate, noiseRate, verdict });
  }
  // Fields the monolith varies on alone and the service never: noise too, worth a rule all the same.
  for (const [k, noise] of counters) {
    if (!k.startsWith('noise|') || counters.has(`raw|${k.slice(6)}`)) continue;
    const noiseRate = samples > 0 ? noise / samples : 0;
    out.push({ ...splitKey(k.slice(6)), raw: 0, noise, rawRate: 0, noiseRate, verdict: 'noise' });
  }
  return out.sort((a, b) => b.raw - a.raw || b.noise - a.noise || (a.field < b.field ? -1 : 1));
}

/** The request-level figures over slots starting at or after `from` (and the learned verdicts). */
export function summarize(counters: Counters, from: number, thresholds: NoiseThresholds): DiffSummary {
  const fields = fieldVerdicts(counters, thresholds);
  const noise = new Set(fields.filter((f) => f.verdict === 'noise').map((f) => fieldKey(f.status, f.field)));
  let compared = 0;
  let rawMismatches = 0;
  let mismatches = 0;
  let errors = 0;
  let skipped = 0;
  const named = new Map<string, number>();
  for (const [k, n] of counters) {
    if (!k.startsWith('slot|')) continue;
    const bar = k.indexOf('|', 5);
    if (Number(k.slice(5, bar)) < from) continue;
    const rest = k.slice(bar + 1);
    if (rest === 'compared') compared += n;
    else if (rest === 'result|error') errors += n;
    else if (rest === 'result|skipped') skipped += n;
    else if (rest.startsWith('sig|')) {
      rawMismatches += n;
      const real = (rest.length > 4 ? rest.slice(4).split('\u001f') : []).filter((key) => !noise.has(key));
      if (real.length === 0) continue;
      mismatches += n;
      for (const key of real) named.set(key, (named.get(key) ?? 0) + n);
    }
  }
  const mismatchFields = [...named]
    .map(([key, count]) => ({ ...splitKey(key), count }))
    .sort((a, b) => b.count - a.count || (a.field < b.field ? -1 : 1));
  return {
    compared,
    rawMismatches,
    mismatches,
    errors,
    skipped,
    learning: {
      compared: counters.get('compared') ?? 0,
      noiseSamples: counters.get('noise_samples') ?? 0,
      ruled: counters.get('ruled') ?? 0,
    },
    fields,
    mismatchFields,
  };
}

/** Counters older than `before` dropped (slots only; the learned pairs are the long memory). */
export function pruneSlots(counters: Map<string, number>, before: number): void {
  for (const k of counters.keys()) {
    if (!k.startsWith('slot|')) continue;
    const bar = k.indexOf('|', 5);
    if (Number(k.slice(5, bar)) < before) counters.delete(k);
  }
}

// ---- suggestions ------------------------------------------------------------------------------------------------

const DURATION_STEPS_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 3_600_000, 86_400_000];

function niceDuration(ms: number): string {
  const step = DURATION_STEPS_MS.find((s) => s >= ms) ?? 86_400_000;
  if (step % 3_600_000 === 0) return `${step / 3_600_000}h`;
  if (step % 60_000 === 0) return `${step / 60_000}m`;
  return `${step / 1000}s`;
}

function largestExponent(counters: Counters, prefix: string, key: string): number | null {
  let best: number | null = null;
  for (const k of counters.keys()) {
    if (!k.startsWith(prefix) || !k.endsWith(`|${key}`)) continue;
    const exp = Number(k.slice(prefix.length, k.indexOf('|', prefix.length)));
    if (Number.isFinite(exp) && (best === null || exp > best)) best = exp;
  }
  return best;
}

/** A routes.yaml rule for one field learned as noise: the narrowest its differences allow. */
export function suggestRule(counters: Counters, status: number, field: string): string {
  const key = fieldKey(status, field);
  const seen = counters.get(`hint|seen|${key}`) ?? 0;
  const all = (what: string) => seen > 0 && (counters.get(`hint|${what}|${key}`) ?? 0) === seen;
  const path = JSON.stringify(field);
  if (all('order')) return `- { path: ${path}, array: unordered }`;
  if (all('ts')) {
    const exp = largestExponent(counters, 'hint|tsexp', key) ?? 0;
    return `- { path: ${path}, timestamp: ${niceDuration(2 ** exp)} }`;
  }
  if (all('num')) {
    const exp = largestExponent(counters, 'hint|numexp', key) ?? 0;
    // 10 ** -1 is 0.1 exactly as printed, but not every power is: print the one significant digit.
    return `- { path: ${path}, tolerance: { absolute: ${Number((10 ** exp).toPrecision(1))} } }`;
  }
  if (all('shape')) return `- { path: ${path}, sameShape: true }`;
  return `- { path: ${path}, ignore: true }`;
}

/** The `shadow.rules` the learned noise justifies, ready to paste (one per field, whatever the status). */
export function suggestRules(counters: Counters, thresholds: NoiseThresholds): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of fieldVerdicts(counters, thresholds)) {
    if (f.verdict !== 'noise' || f.field === OTHER_FIELD || seen.has(f.field)) continue;
    seen.add(f.field);
    out.push(suggestRule(counters, f.status, f.field));
  }
  return out;
}
