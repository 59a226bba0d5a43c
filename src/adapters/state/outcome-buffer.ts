// The Redis store's outbound side of the windowed counters, kept pure so it can be tested without Redis.
// The request path adds outcomes here (O(1), no I/O); a timer takes the batch and turns it into HINCRBYs on
// one-second slot hashes that every replica adds into. Reading turns those hashes back into the core's
// OutcomeSlot, so stats come from the same `statsFromSlots` as the in-process window.
//
// Slot hash fields: n (requests), e (errors), f (transport failures), d (recorded while the edge's loop was
// stalled), h<i> (latency bucket i), and
// t:<instanceId>: that replica's run of transport failures at the end of the second. Counters add across
// replicas; a run does not (a success on one replica ends only its own run), so each replica owns its run field
// and overwrites it, and a reader adds the runs up as the core's `mergeSlots` does.

import { latencyBucket } from '../../core/latency-histogram.ts';
import { isErrorOutcome, type OutcomeSlot, slotSecond } from '../../core/outcome-window.ts';
import type { Outcome, Target } from '../../core/types.ts';

export interface BufferedSlot {
  readonly routeId: string;
  readonly target: Target;
  readonly second: number;
  requests: number;
  errors: number;
  transportFailures: number;
  edgeDelayed: number;
  /** Sparse: bucket index → count. */
  readonly latency: Map<number, number>;
}

export interface TakenBatch {
  readonly slots: readonly BufferedSlot[];
  /** This replica's transport-failure run at the end of each taken slot's second, by slot identity. */
  readonly tails: ReadonlyMap<BufferedSlot, number>;
}

export interface OutcomeBuffer {
  add(outcome: Outcome): void;
  /** Empties the buffer into a batch to write. */
  take(): TakenBatch;
  /** A batch that could not be written goes back in front of anything buffered since. */
  putBack(batch: TakenBatch): void;
  /** Drops slots of seconds before `second` (nobody's window reaches them any more). */
  shedBefore(second: number): void;
  size(): number;
  /** Slots dropped because the buffer was full, since creation. */
  dropped(): number;
}

function slotKey(routeId: string, target: Target, second: number): string {
  return `${routeId}\u0000${target}\u0000${second}`;
}

/** How long a replica remembers its per-second runs: outcomes arriving later than this start a new run. */
const TAIL_MEMORY_SECONDS = 30;

export function createOutcomeBuffer(options: {
  maxSlots: number;
  onDrop?: (slot: BufferedSlot) => void;
}): OutcomeBuffer {
  let slots = new Map<string, BufferedSlot>();
  // Runs outlive a flush: the next outcome of the same second continues the run the last flush reported.
  const tails = new Map<string, { second: number; tail: number }>();
  let newestSecond = Number.NEGATIVE_INFINITY;
  let dropped = 0;

  function dropOldest(): void {
    const oldest = slots.entries().next();
    if (oldest.done) return;
    slots.delete(oldest.value[0]);
    dropped += 1;
    options.onDrop?.(oldest.value[1]);
  }

  function forgetOldTails(): void {
    for (const [key, entry] of tails) if (entry.second < newestSecond - TAIL_MEMORY_SECONDS) tails.delete(key);
  }

  return {
    add(outcome) {
      const second = slotSecond(outcome.at);
      const key = slotKey(outcome.routeId, outcome.target, second);
      let slot = slots.get(key);
      if (!slot) {
        if (slots.size >= options.maxSlots) dropOldest();
        slot = {
          routeId: outcome.routeId,
          target: outcome.target,
          second,
          requests: 0,
          errors: 0,
          transportFailures: 0,
          edgeDelayed: 0,
          latency: new Map(),
        };
        slots.set(key, slot);
      }
      slot.requests += 1;
      if (isErrorOutcome(outcome)) slot.errors += 1;
      const transport = outcome.transportError || outcome.status === 0;
      if (transport) slot.transportFailures += 1;
      if (outcome.edgeDelayed === true) slot.edgeDelayed += 1;
      const bucket = latencyBucket(outcome.upstreamMs ?? outcome.latencyMs);
      slot.latency.set(bucket, (slot.latency.get(bucket) ?? 0) + 1);
      const run = tails.get(key);
      const tail = transport ? (run?.tail ?? 0) + 1 : 0;
      if (run) run.tail = tail;
      else tails.set(key, { second, tail });
      if (second > newestSecond) newestSecond = second;
    },
    take() {
      const taken = [...slots.values()];
      const tailOf = new Map<BufferedSlot, number>();
      for (const slot of taken) {
        tailOf.set(slot, tails.get(slotKey(slot.routeId, slot.target, slot.second))?.tail ?? 0);
      }
      slots = new Map();
      forgetOldTails();
      return { slots: taken, tails: tailOf };
    },
    putBack(batch) {
      const merged = new Map<string, BufferedSlot>();
      for (const slot of batch.slots) merged.set(slotKey(slot.routeId, slot.target, slot.second), slot);
      for (const [key, newer] of slots) {
        const older = merged.get(key);
        if (!older) {
          merged.set(key, newer);
          continue;
        }
        older.requests += newer.requests;
        older.errors += newer.errors;
        older.transportFailures += newer.transportFailures;
        older.edgeDelayed += newer.edgeDelayed;
        for (const [bucket, count] of newer.latency)
          older.latency.set(bucket, (older.latency.get(bucket) ?? 0) + count);
      }
      slots = merged;
      while (slots.size > options.maxSlots) dropOldest();
    },
    shedBefore(second) {
      for (const [key, slot] of slots) if (slot.second < second) slots.delete(key);
    },
    size: () => slots.size,
    dropped: () => dropped,
  };
}

/** The field that holds one replica's run; instance ids may hold any character, fields are binary-safe. */
export function tailField(instanceId: string): string {
  return `t:${instanceId}`;
}

/** Reads a slot hash written by any number of replicas back into the core's slot shape. */
export function slotFromHash(second: number, hash: Readonly<Record<string, string>>): OutcomeSlot | null {
  let requests = 0;
  let errors = 0;
  let transportFailures = 0;
  let tailTransportFailures = 0;
  let edgeDelayed = 0;
  const latency: number[] = [];
  for (const [field, value] of Object.entries(hash)) {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) continue;
    if (field === 'n') requests = n;
    else if (field === 'e') errors = n;
    else if (field === 'f') transportFailures = n;
    else if (field === 'd') edgeDelayed = n;
    else if (field.startsWith('t:')) tailTransportFailures += n;
    else if (field.startsWith('h')) {
      const bucket = Number(field.slice(1));
      if (Number.isInteger(bucket) && bucket >= 0) latency[bucket] = n;
    }
  }
  if (requests === 0) return null;
  return { second, requests, errors, transportFailures, latency, tailTransportFailures, edgeDelayed };
}
