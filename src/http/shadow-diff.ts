// What a shadow copy's two (or three) answers come to: the structural diff (core/structural-diff), the per-request
// noise from a second monolith answer, the learned noise (core/diff-tally), and where that lands: the diff store's
// counters and samples, the metrics, and the result the copy is counted under.
//
// Results: `match` (no difference after rules), `noise` (differences, every one of them noise: the monolith
// disagreed with itself on the field for this request, or the field is learned noise), `mismatch` (at least one
// real difference), `skipped` (bodies too large to compare and not byte-equal). The learned verdicts come from the
// store's counters, re-read at most four times a second per route: a comparison never waits for the store.

import type { DiffSample, DiffStore, SampleAnswer } from '../adapters/diff/diff-store.ts';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { ShadowPolicy } from '../config/types.ts';
import { countComparison, fieldKey, fieldVerdicts, MAX_FIELDS } from '../core/diff-tally.ts';
import { comparedHeaders, headerValue } from '../core/shadow-compare.ts';
import {
  type DiffAnswer,
  type DiffResult,
  describeFieldDifferences,
  diffAnswers,
  type FieldDifference,
} from '../core/structural-diff.ts';

/** Headers whose values are secrets: kept in a sample by name only. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(['cookie', 'set-cookie', 'authorization', 'proxy-authorization']);
/** Body text kept per side in a sample. */
export const SAMPLE_BODY_CHARS = 16 * 1024;
const VERDICT_REFRESH_MS = 250;

export type DiffOutcome =
  | { readonly result: 'match' }
  | { readonly result: 'noise'; readonly differences: readonly FieldDifference[] }
  | { readonly result: 'mismatch'; readonly differences: readonly FieldDifference[]; readonly text: string }
  | { readonly result: 'skipped'; readonly reason: string };

export interface ComparedRequest {
  readonly reqId: string;
  readonly method: string;
  readonly path: string;
}

/** A raw header list as a sample shows it: lower-case names, repeats joined, secrets redacted. */
export function redactHeaders(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    let value = raw[i + 1]!;
    if (name === 'set-cookie') {
      // The cookie's name says what was set; its value (a session id) is the secret.
      const eq = value.indexOf('=');
      value = `${eq < 0 ? value : value.slice(0, eq)}=[redacted]`;
    } else if (SECRET_HEADERS.has(name)) {
      value = '[redacted]';
    }
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

function sampleAnswer(answer: DiffAnswer): SampleAnswer {
  return {
    status: answer.status,
    headers: redactHeaders(answer.headers),
    body:
      answer.body === null ? null : answer.body.toString('utf8', 0, Math.min(answer.body.length, SAMPLE_BODY_CHARS)),
    bodyBytes: answer.bodyBytes,
  };
}

/** Cookie and Authorization values in a request path's query are not ours to keep either. */
function redactQuery(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  return `${path.slice(0, q)}?${path
    .slice(q + 1)
    .split('&')
    .map((pair) =>
      /^(token|access_token|api_key|apikey|password|secret|auth)=/i.test(pair)
        ? `${pair.split('=')[0]}=[redacted]`
        : pair,
    )
    .join('&')}`;
}

export class ShadowDiffRecorder {
  readonly #store: DiffStore;
  readonly #metrics: EdgeMetrics;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #learned = new Map<string, { at: number; noise: ReadonlySet<string>; fields: Set<string> }>();
  readonly #refreshing = new Set<string>();

  constructor(options: { store: DiffStore; metrics: EdgeMetrics; log: Logger; clock?: () => number }) {
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#clock = options.clock ?? Date.now;
  }

  get store(): DiffStore {
    return this.#store;
  }

  /** Compares, counts and keeps a sample; never throws. */
  record(
    routeId: string,
    policy: ShadowPolicy,
    request: ComparedRequest,
    legacy: DiffAnswer,
    service: DiffAnswer,
    second: DiffAnswer | null,
  ): DiffOutcome {
    const options = {
      headers: comparedHeaders(policy.compareHeaders),
      rules: policy.rules,
      maxDiffBytes: policy.maxDiffBytes,
    };
    const diff = diffAnswers(legacy, service, options, headerValue);
    const noiseDiff: DiffResult | null = second === null ? null : diffAnswers(legacy, second, options, headerValue);
    const noiseDifferences = noiseDiff?.result === 'compared' ? noiseDiff.differences : null;
    const now = this.#clock();
    const learned = this.#learnedFor(routeId, policy);

    if (diff.result === 'skipped') {
      this.#store.add(routeId, countComparison({ ...base(now, legacy), result: 'skipped' }).increments);
      return diff;
    }
    const { increments, fields } = countComparison(
      {
        at: now,
        result: 'compared',
        legacyStatus: legacy.status,
        differences: diff.differences,
        noiseDifferences,
        ruled: diff.ruled,
      },
      (key) => learned.fields.has(key) || learned.fields.size < MAX_FIELDS,
    );
    for (const k of increments.keys()) if (k.startsWith('raw|')) learned.fields.add(k.slice(4));
    this.#store.add(routeId, increments);
    if (diff.ruled > 0) this.#metrics.shadowNoise.inc({ route: routeId, source: 'rule' }, diff.ruled);
    if (diff.differences.length === 0) return { result: 'match' };

    const requestNoise = new Set((noiseDifferences ?? []).map((d) => d.field));
    const real = diff.differences.filter(
      (d) => !requestNoise.has(d.field) && !learned.noise.has(fieldKey(legacy.status, d.field)),
    );
    for (const d of diff.differences) {
      const source = requestNoise.has(d.field)
        ? 'request'
        : learned.noise.has(fieldKey(legacy.status, d.field))
          ? 'learned'
          : null;
      if (source !== null) this.#metrics.shadowNoise.inc({ route: routeId, source });
    }
    // Bounded label values: fields past the per-route cap share one label.
    const counted = new Set(fields.map((key) => key.slice(key.indexOf('|') + 1)));
    for (const field of counted) this.#metrics.shadowFieldMismatches.inc({ route: routeId, field });
    if (real.length === 0) return { result: 'noise', differences: diff.differences };

    const sample: DiffSample = {
      at: new Date(now).toISOString(),
      reqId: request.reqId,
      method: request.method,
      path: redactQuery(request.path),
      legacy: sampleAnswer(legacy),
      service: sampleAnswer(service),
      differences: real,
      requestNoise: [...requestNoise],
    };
    this.#store.addSample(routeId, sample, policy.samples);
    return { result: 'mismatch', differences: real, text: describeFieldDifferences(real) };
  }

  /** The service failed or the copy was given up: counted in the slot, so the rates see it. */
  recordOther(routeId: string, result: 'error' | 'skipped'): void {
    this.#store.add(
      routeId,
      countComparison({ at: this.#clock(), result, legacyStatus: 0, differences: [], noiseDifferences: null, ruled: 0 })
        .increments,
    );
  }

  #learnedFor(routeId: string, policy: ShadowPolicy) {
    let entry = this.#learned.get(routeId);
    if (entry === undefined) {
      entry = { at: 0, noise: new Set(), fields: new Set() };
      this.#learned.set(routeId, entry);
    }
    const now = this.#clock();
    if (now - entry.at >= VERDICT_REFRESH_MS && !this.#refreshing.has(routeId)) {
      entry.at = now;
      this.#refreshing.add(routeId);
      const current = entry;
      this.#store.counters(routeId).then(
        (counters) => {
          this.#refreshing.delete(routeId);
          const thresholds = { relative: policy.noise.relativeThreshold, absolute: policy.noise.absoluteThreshold };
          const verdicts = fieldVerdicts(counters, thresholds);
          current.noise = new Set(
            verdicts.filter((f) => f.verdict === 'noise').map((f) => fieldKey(f.status, f.field)),
          );
        },
        (err: unknown) => {
          this.#refreshing.delete(routeId);
          this.#log.debug({ event: 'shadow.noise_refresh_failed', route: routeId, err }, 'learned noise not refreshed');
        },
      );
    }
    return entry;
  }
}

function base(at: number, legacy: DiffAnswer) {
  return { at, legacyStatus: legacy.status, differences: [], noiseDifferences: null, ruled: 0 };
}
