// The diff store in Redis: every replica adds its comparison counters into one hash per route (HINCRBY, so counts
// from all replicas add up) and pushes its mismatch samples onto one capped list per route (LPUSH + LTRIM). Writes
// are buffered and flushed on a timer, like the outcome counters: a shadow comparison never waits for Redis, and a
// Redis outage loses at most the buffer (bounded), never a client's answer.
//
// Keys: `<prefix>diff:<route>` (hash of core/diff-tally counters), `<prefix>diff-samples:<route>` (list, JSON).
// Time-slot fields older than SLOT_RETENTION_MS are deleted from the hash once a minute.

import { Redis } from 'ioredis';
import { type Counters, pruneSlots } from '../../core/diff-tally.ts';
import type { Logger } from '../logger.ts';
import { type DiffSample, type DiffStore, SLOT_RETENTION_MS } from './diff-store.ts';

export interface RedisDiffStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly log: Logger;
  readonly flushIntervalMs?: number;
  readonly clock?: () => number;
}

/** Counter fields buffered at most while Redis is away; beyond, new increments are dropped (and logged once). */
const MAX_PENDING_FIELDS = 50_000;
const PRUNE_EVERY_MS = 60_000;

export function createRedisDiffStore(options: RedisDiffStoreOptions): DiffStore {
  const { keyPrefix, log } = options;
  const clock = options.clock ?? Date.now;
  const flushIntervalMs = options.flushIntervalMs ?? 250;
  const client = new Redis(options.url, {
    lazyConnect: false,
    connectTimeout: 2000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectionName: 'rf-edge:diff',
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  });
  client.on('error', () => {
    // Reported by the flush that fails; ioredis reconnects on its own.
  });
  const counterKey = (routeId: string) => `${keyPrefix}diff:${routeId}`;
  const sampleKey = (routeId: string) => `${keyPrefix}diff-samples:${routeId}`;

  let pending = new Map<string, Map<string, number>>();
  let pendingFields = 0;
  let pendingSamples = new Map<string, { samples: DiffSample[]; keep: number }>();
  let dropLogged = false;
  let flushing: Promise<void> | null = null;
  let lastPrune = clock();
  const touched = new Set<string>();

  async function flush(): Promise<void> {
    if (pending.size === 0 && pendingSamples.size === 0) return;
    const batch = pending;
    const samples = pendingSamples;
    pending = new Map();
    pendingSamples = new Map();
    pendingFields = 0;
    const multi = client.multi();
    for (const [routeId, counters] of batch) {
      for (const [field, n] of counters) multi.hincrby(counterKey(routeId), field, n);
    }
    for (const [routeId, { samples: list, keep }] of samples) {
      multi.lpush(sampleKey(routeId), ...list.map((s) => JSON.stringify(s)));
      multi.ltrim(sampleKey(routeId), 0, keep - 1);
    }
    try {
      await multi.exec();
      dropLogged = false;
    } catch (err) {
      // Put the counts back in front of what came since (samples are dropped: they are examples, not evidence).
      for (const [routeId, counters] of batch) for (const [field, n] of counters) addOne(routeId, field, n);
      if (!dropLogged) {
        dropLogged = true;
        log.warn({ event: 'diff.flush_failed', err }, 'shadow comparison counts not written to Redis; kept for later');
      }
    }
    const now = clock();
    if (now - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = now;
      for (const routeId of touched) await prune(routeId, now).catch(() => undefined);
      touched.clear();
    }
  }

  async function prune(routeId: string, now: number): Promise<void> {
    const fields = await client.hkeys(counterKey(routeId));
    const probe = new Map(fields.map((f) => [f, 0]));
    pruneSlots(probe, now - SLOT_RETENTION_MS);
    const old = fields.filter((f) => !probe.has(f));
    if (old.length > 0) await client.hdel(counterKey(routeId), ...old);
  }

  function addOne(routeId: string, field: string, n: number): void {
    let map = pending.get(routeId);
    if (map === undefined) {
      map = new Map();
      pending.set(routeId, map);
    }
    const had = map.get(field);
    if (had === undefined) {
      if (pendingFields >= MAX_PENDING_FIELDS) {
        if (!dropLogged) {
          dropLogged = true;
          log.warn({ event: 'diff.buffer_full' }, 'shadow comparison buffer full while Redis is away; dropping counts');
        }
        return;
      }
      pendingFields++;
    }
    map.set(field, (had ?? 0) + n);
  }

  const timer = setInterval(() => {
    if (flushing) return;
    flushing = flush().finally(() => {
      flushing = null;
    });
  }, flushIntervalMs);
  timer.unref();

  return {
    kind: 'redis',
    add(routeId, increments) {
      touched.add(routeId);
      for (const [field, n] of increments) addOne(routeId, field, n);
    },
    addSample(routeId, sample, keep) {
      if (keep <= 0) return;
      let entry = pendingSamples.get(routeId);
      if (entry === undefined) {
        entry = { samples: [], keep };
        pendingSamples.set(routeId, entry);
      }
      entry.samples.push(sample);
      if (entry.samples.length > keep) entry.samples.shift();
    },
    async counters(routeId) {
      const raw = await client.hgetall(counterKey(routeId));
      const out = new Map<string, number>();
      for (const [k, v] of Object.entries(raw)) out.set(k, Number(v));
      // What this replica counted but has not flushed yet.
      for (const [k, n] of pending.get(routeId) ?? []) out.set(k, (out.get(k) ?? 0) + n);
      return out satisfies Counters;
    },
    async samples(routeId, limit) {
      const list = await client.lrange(sampleKey(routeId), 0, Math.max(limit, 1) - 1);
      const out: DiffSample[] = [];
      for (const text of list) {
        try {
          out.push(JSON.parse(text) as DiffSample);
        } catch {
          // Another version's sample: skipped.
        }
      }
      return out;
    },
    async close() {
      clearInterval(timer);
      if (flushing) await flushing;
      await flush().catch(() => undefined);
      client.disconnect();
    },
  };
}
