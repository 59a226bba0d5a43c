// Windowed outcome counters per route and target, in 1-second slots: what the judge reads.
//
// The slot is the unit every store shares. The in-process window below keeps slots in memory; the Redis store keeps
// the same fields per second in a hash (HINCRBY), so a slot from many replicas is just the field-wise sum, and
// both compute stats with `statsFromSlots`. That is why every field adds up, and why latency is a histogram on the
// fixed buckets of latency-histogram.ts rather than a list of samples.

import { LATENCY_BUCKET_COUNT, latencyBucket, quantileFromBuckets } from './latency-histogram.ts';
import type { Outcome, RouteWindowStats, Target, TargetWindowStats } from './types.ts';

export const SLOT_MS = 1000;

/** The outcomes of one target on one route during one second. */
export interface OutcomeSlot {
  /** `Math.floor(at / 1000)`: the second this slot counts. */
  readonly second: number;
  readonly requests: number;
  /** 5xx, transport errors and timeouts. 4xx are the client's doing, not the upstream's. */
  readonly errors: number;
  /** Requests that got no response at all (connect refused, reset, timeout). */
  readonly transportFailures: number;
  /** Counts by latency bucket index; may be shorter than LATENCY_BUCKET_COUNT or have holes (missing = 0). */
  readonly latency: readonly number[];
  /**
   * Transport failures in a row at the end of the slot, when a single writer saw the slot in order (the in-process
   * window). A shared store that only adds counters leaves it out: then only seconds in which every request failed
   * count toward the run, which delays the critical rule by at most the rest of the current second.
   */
  readonly tailTransportFailures?: number;
  /** Requests recorded while the edge's own event loop was stalled (their timing is the edge's): adds up. */
  readonly edgeDelayed?: number;
}

export interface RouteSlots {
  readonly legacy: readonly OutcomeSlot[];
  readonly service: readonly OutcomeSlot[];
}

/** What counts as a failure of the upstream: no response, or a 5xx. */
export function isErrorOutcome(outcome: Pick<Outcome, 'status' | 'transportError'>): boolean {
  return outcome.transportError || outcome.status === 0 || outcome.status >= 500;
}

export function slotSecond(at: number): number {
  return Math.floor(at / SLOT_MS);
}

/**
 * True when the slot of `second` lies in the window that ends at `now`: it started after `now - windowMs` and not
 * after `now`. The newest slot is partial; counting it keeps a fresh fault visible at once.
 */
export function slotInWindow(second: number, windowMs: number, now: number): boolean {
  const start = second * SLOT_MS;
  return start > now - windowMs && start <= now;
}

function tailOf(slot: OutcomeSlot): number {
  if (slot.requests > 0 && slot.transportFailures >= slot.requests) return slot.requests;
  return slot.tailTransportFailures ?? 0;
}

/**
 * Adds two slots of the same second (e.g. from two replicas). Counters add. Tail runs add too: replicas serve at
 * the same time, and a dead service fails on all of them at once, which is the burst the critical rule is for.
 */
export function mergeSlots(a: OutcomeSlot, b: OutcomeSlot): OutcomeSlot {
  const length = Math.max(a.latency.length, b.latency.length);
  const latency: number[] = new Array<number>(length);
  for (let i = 0; i < length; i++) latency[i] = (a.latency[i] ?? 0) + (b.latency[i] ?? 0);
  return {
    second: a.second,
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    transportFailures: a.transportFailures + b.transportFailures,
    latency,
    tailTransportFailures: tailOf(a) + tailOf(b),
    edgeDelayed: (a.edgeDelayed ?? 0) + (b.edgeDelayed ?? 0),
  };
}

/** Window stats of one target from its slots, in any order, duplicates of a second allowed (they are merged). */
export function targetStatsFromSlots(slots: readonly OutcomeSlot[], windowMs: number, now: number): TargetWindowStats {
  const bySecond = new Map<number, OutcomeSlot>();
  for (const slot of slots) {
    if (!slotInWindow(slot.second, windowMs, now)) continue;
    const seen = bySecond.get(slot.second);
    bySecond.set(slot.second, seen ? mergeSlots(seen, slot) : slot);
  }
  let requests = 0;
  let errors = 0;
  const counts: number[] = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  for (const slot of bySecond.values()) {
    requests += slot.requests;
    errors += slot.errors;
    const n = Math.min(slot.latency.length, LATENCY_BUCKET_COUNT);
    for (let i = 0; i < n; i++) counts[i] = (counts[i] ?? 0) + (slot.latency[i] ?? 0);
  }
  // The run at the end of the window: walk back from the newest second; whole seconds of failures extend it, the
  // first second with any other outcome ends it (with its own tail, when known). Empty seconds don't break a run.
  let consecutiveTransportFailures = 0;
  const newestFirst = [...bySecond.values()].sort((x, y) => y.second - x.second);
  for (const slot of newestFirst) {
    if (slot.requests === 0) continue;
    const tail = tailOf(slot);
    consecutiveTransportFailures += tail;
    if (tail < slot.requests) break;
  }
  return {
    requests,
    errors,
    p99Ms: quantileFromBuckets(counts, 0.99),
    consecutiveTransportFailures,
    latencyCounts: counts,
    seconds: newestFirst.reverse(),
  };
}

/** Window stats of a route from the slots of both targets: the one function every store computes stats with. */
export function statsFromSlots(routeId: string, slots: RouteSlots, windowMs: number, now: number): RouteWindowStats {
  return {
    routeId,
    windowMs,
    legacy: targetStatsFromSlots(slots.legacy, windowMs, now),
    service: targetStatsFromSlots(slots.service, windowMs, now),
  };
}

// ---- the in-process window --------------------------------------------------------------------------------------

/** A slot being counted: the in-process window's own, and any writer that builds slots (the simulation). */
export interface MutableSlot {
  second: number;
  requests: number;
  errors: number;
  transportFailures: number;
  latency: number[];
  tailTransportFailures: number;
  edgeDelayed: number;
}

export interface OutcomeWindow {
  /** Counts one outcome in the slot of `outcome.at`. Outcomes older than the retention are dropped. */
  record(outcome: Outcome): void;
  /**
   * Adds a whole second of outcomes at once (a replay of recorded slots, or the simulation's per-second
   * aggregates): the same slot the outcomes would have made one by one.
   */
  recordSlot(routeId: string, target: Target, slot: OutcomeSlot): void;
  stats(routeId: string, windowMs: number, now: number): RouteWindowStats;
  /** Drops slots that fell out of the retention (and routes with none left). */
  prune(now: number): void;
  /** The slots of one second of a route, as held (not copies: read them, don't keep them). */
  slotsAt(routeId: string, second: number): { readonly legacy?: OutcomeSlot; readonly service?: OutcomeSlot };
  /** The retained slots of a route, oldest first (copies: safe to keep). */
  slots(routeId: string): RouteSlots;
  routes(): readonly string[];
}

/**
 * `retainMs` is the longest window anyone will ask about (the largest `window` in the route table); slots older
 * than that are dropped as new ones arrive, so memory stays bounded even if `prune` is never called.
 */
export function createOutcomeWindow(options: { retainMs: number }): OutcomeWindow {
  const retainMs = options.retainMs;
  const byRoute = new Map<string, Record<Target, MutableSlot[]>>();

  function expired(second: number, reference: number): boolean {
    return second * SLOT_MS <= reference - retainMs;
  }

  function slotFor(list: MutableSlot[], second: number): MutableSlot | undefined {
    const last = list[list.length - 1];
    if (last === undefined || second > last.second) {
      // A new second: trim the front first, so the list never holds more than the retention.
      let drop = 0;
      while (drop < list.length && expired(list[drop]?.second ?? 0, second * SLOT_MS)) drop++;
      if (drop > 0) list.splice(0, drop);
      const slot = emptySlot(second);
      list.push(slot);
      return slot;
    }
    if (expired(second, last.second * SLOT_MS)) return undefined;
    // Late outcomes (long requests finishing after newer ones) land in their own second.
    for (let i = list.length - 1; i >= 0; i--) {
      const slot = list[i];
      if (slot === undefined) break;
      if (slot.second === second) return slot;
      if (slot.second < second) {
        const inserted = emptySlot(second);
        list.splice(i + 1, 0, inserted);
        return inserted;
      }
    }
    const first = emptySlot(second);
    list.unshift(first);
    return first;
  }

  return {
    record(outcome) {
      let targets = byRoute.get(outcome.routeId);
      if (targets === undefined) {
        targets = { legacy: [], service: [] };
        byRoute.set(outcome.routeId, targets);
      }
      const slot = slotFor(targets[outcome.target], slotSecond(outcome.at));
      if (slot === undefined) return;
      slot.requests++;
      if (isErrorOutcome(outcome)) slot.errors++;
      const transport = outcome.transportError || outcome.status === 0;
      if (transport) {
        slot.transportFailures++;
        slot.tailTransportFailures++;
      } else {
        slot.tailTransportFailures = 0;
      }
      if (outcome.edgeDelayed === true) slot.edgeDelayed++;
      const bucket = latencyBucket(outcome.upstreamMs ?? outcome.latencyMs);
      slot.latency[bucket] = (slot.latency[bucket] ?? 0) + 1;
    },

    recordSlot(routeId, target, added) {
      let targets = byRoute.get(routeId);
      if (targets === undefined) {
        targets = { legacy: [], service: [] };
        byRoute.set(routeId, targets);
      }
      const slot = slotFor(targets[target], added.second);
      if (slot === undefined) return;
      // Outcomes of this slot come after those already counted: its tail extends the run only if it failed whole.
      const addedTail = tailOf(added);
      slot.tailTransportFailures = addedTail === added.requests ? slot.tailTransportFailures + addedTail : addedTail;
      slot.requests += added.requests;
      slot.errors += added.errors;
      slot.transportFailures += added.transportFailures;
      slot.edgeDelayed += added.edgeDelayed ?? 0;
      const n = Math.min(added.latency.length, LATENCY_BUCKET_COUNT);
      for (let i = 0; i < n; i++) slot.latency[i] = (slot.latency[i] ?? 0) + (added.latency[i] ?? 0);
    },

    stats(routeId, windowMs, now) {
      const targets = byRoute.get(routeId);
      return statsFromSlots(routeId, targets ?? { legacy: [], service: [] }, windowMs, now);
    },

    prune(now) {
      for (const [routeId, targets] of byRoute) {
        for (const target of ['legacy', 'service'] as const) {
          const list = targets[target];
          let drop = 0;
          while (drop < list.length && expired(list[drop]?.second ?? 0, now)) drop++;
          if (drop > 0) list.splice(0, drop);
        }
        if (targets.legacy.length === 0 && targets.service.length === 0) byRoute.delete(routeId);
      }
    },

    slotsAt(routeId, second) {
      const targets = byRoute.get(routeId);
      const find = (list: readonly MutableSlot[] | undefined): OutcomeSlot | undefined => {
        if (list === undefined) return undefined;
        // Newest last, and callers ask about recent seconds: search from the end.
        for (let i = list.length - 1; i >= 0; i--) {
          const slot = list[i];
          if (slot === undefined || slot.second < second) return undefined;
          if (slot.second === second) return slot;
        }
        return undefined;
      };
      const legacy = find(targets?.legacy);
      const service = find(targets?.service);
      return { ...(legacy ? { legacy } : {}), ...(service ? { service } : {}) };
    },

    slots(routeId) {
      const targets = byRoute.get(routeId);
      const copy = (list: readonly MutableSlot[] | undefined): OutcomeSlot[] =>
        (list ?? []).map((s) => ({ ...s, latency: [...s.latency] }));
      return { legacy: copy(targets?.legacy), service: copy(targets?.service) };
    },

    routes() {
      return [...byRoute.keys()];
    },
  };
}

export function emptySlot(second: number): MutableSlot {
  return {
    second,
    requests: 0,
    errors: 0,
    transportFailures: 0,
    latency: new Array<number>(LATENCY_BUCKET_COUNT).fill(0),
    tailTransportFailures: 0,
    edgeDelayed: 0,
  };
}
