// Where shadow comparisons are counted and mismatches kept: the tally of core/diff-tally (flat counters) and a capped
// list of recent mismatch samples per route. The memory store serves one process; with REDIS_URL the Redis store
// shares both with every replica, so the gate and the `diff` rule judge the whole fleet's comparisons.
//
// Writes are fire-and-forget and never throw (they come from shadow copies, which must not fail anything); reads
// are async because the Redis one is.

import type { Counters } from '../../core/diff-tally.ts';
import { pruneSlots } from '../../core/diff-tally.ts';

/** One side of a kept mismatch, secrets redacted (core/diff-samples). */
export interface SampleAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text, cut to SAMPLE_BODY_CHARS; `null` when it was not kept (over maxDiffBytes). */
  readonly body: string | null;
  readonly bodyBytes: number;
}

export interface DiffSample {
  readonly at: string;
  readonly reqId: string;
  readonly method: string;
  readonly path: string;
  readonly legacy: SampleAnswer;
  readonly service: SampleAnswer;
  readonly differences: readonly {
    field: string;
    path: string;
    kind: string;
    legacy: string | null;
    service: string | null;
  }[];
  /** Fields the monolith also disagreed with itself on for this request (per-request noise). */
  readonly requestNoise: readonly string[];
}

export interface DiffStore {
  readonly kind: 'memory' | 'redis';
  add(routeId: string, increments: Counters): void;
  addSample(routeId: string, sample: DiffSample, keep: number): void;
  counters(routeId: string): Promise<Counters>;
  /** Newest first. */
  samples(routeId: string, limit: number): Promise<readonly DiffSample[]>;
  close(): Promise<void>;
}

/** Slots older than this are dropped: the gate and the rule never look further back. */
export const SLOT_RETENTION_MS = 2 * 3_600_000;

export function createMemoryDiffStore(clock: () => number = Date.now): DiffStore {
  const counters = new Map<string, Map<string, number>>();
  const samples = new Map<string, DiffSample[]>();
  let lastPrune = clock();
  return {
    kind: 'memory',
    add(routeId, increments) {
      let map = counters.get(routeId);
      if (map === undefined) {
        map = new Map();
        counters.set(routeId, map);
      }
      for (const [k, n] of increments) map.set(k, (map.get(k) ?? 0) + n);
      const now = clock();
      if (now - lastPrune > 60_000) {
        lastPrune = now;
        for (const m of counters.values()) pruneSlots(m, now - SLOT_RETENTION_MS);
      }
    },
    addSample(routeId, sample, keep) {
      if (keep <= 0) return;
      let list = samples.get(routeId);
      if (list === undefined) {
        list = [];
        samples.set(routeId, list);
      }
      list.unshift(sample);
      if (list.length > keep) list.length = keep;
    },
    async counters(routeId) {
      return new Map(counters.get(routeId) ?? []);
    },
    async samples(routeId, limit) {
      return (samples.get(routeId) ?? []).slice(0, limit);
    },
    async close() {},
  };
}
