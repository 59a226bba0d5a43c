// In-memory fakes of the StateStore and AuditLog ports, for unit tests of the rollout controller only (integration
// tests use the real stores). The fake store separates what the "shared" store holds from this replica's cache, so
// a test can make it blind, hold a lease for someone else, or write behind the controller's back.
import type { AuditLog, StateStore } from '../../src/adapters/ports.ts';
import { EdgeError } from '../../src/core/errors.ts';
import { createOutcomeWindow, type OutcomeWindow } from '../../src/core/outcome-window.ts';
import type { AuditEvent, Outcome, RouteRolloutState, RouteWindowStats } from '../../src/core/types.ts';

export interface FakeStateStore extends StateStore {
  /** While true: healthy() is false and every shared-store call rejects with RF_STATE_STORE. */
  blind: boolean;
  /** The fleet-wide window (what Redis would sum) and this replica's own. recordOutcome feeds both. */
  readonly fleetWindow: OutcomeWindow;
  readonly localWindow: OutcomeWindow;
  /** What the shared store holds (the cache may differ while blind). */
  readonly shared: Map<string, RouteRolloutState>;
  /** Every successful compareAndSet, in order. */
  readonly writes: RouteRolloutState[];
  /** Called before each compareAndSet: a test can write a newer state here to force a conflict. */
  beforeCompareAndSet: ((next: RouteRolloutState) => void) | null;
  leaseHolder: string | null;
  /** Another writer stores `state` (the cache follows, as pub/sub would). */
  writeBehindTheBack(state: RouteRolloutState): void;
  localWindowStats(routeId: string, windowMs: number, now: number): RouteWindowStats;
  applyLocal(state: RouteRolloutState): void;
  /** The store sees again: writes back what applyLocal put in the cache when it is still the newest. */
  heal(): void;
}

export function createFakeStateStore(options: { clock: () => number; retainMs?: number }): FakeStateStore {
  const cache = new Map<string, RouteRolloutState>();
  const shared = new Map<string, RouteRolloutState>();
  const localOnly = new Set<string>();
  const listeners = new Set<(state: RouteRolloutState) => void>();
  const fleetWindow = createOutcomeWindow({ retainMs: options.retainMs ?? 120_000 });
  const localWindow = createOutcomeWindow({ retainMs: options.retainMs ?? 120_000 });
  let leaseExpiresAt = 0;

  const blindError = () => new EdgeError('RF_STATE_STORE', 'fake store is blind');
  const emit = (state: RouteRolloutState) => {
    for (const listener of listeners) listener(state);
  };

  const store: FakeStateStore = {
    blind: false,
    fleetWindow,
    localWindow,
    shared,
    writes: [],
    beforeCompareAndSet: null,
    leaseHolder: null,
    get: (routeId) => cache.get(routeId),
    all: () => cache,
    async load() {
      if (store.blind) throw blindError();
      for (const [routeId, state] of shared) if (!localOnly.has(routeId)) cache.set(routeId, state);
    },
    async compareAndSet(next, expectedRevision) {
      if (store.blind) throw blindError();
      store.beforeCompareAndSet?.(next);
      const current = shared.get(next.routeId);
      if ((current?.revision ?? -1) !== expectedRevision) return false;
      shared.set(next.routeId, next);
      cache.set(next.routeId, next);
      localOnly.delete(next.routeId);
      store.writes.push(next);
      emit(next);
      return true;
    },
    async remove(routeId) {
      if (store.blind) throw blindError();
      shared.delete(routeId);
      cache.delete(routeId);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    recordOutcome(outcome: Outcome) {
      fleetWindow.record(outcome);
      localWindow.record(outcome);
    },
    async windowStats(routeId, windowMs, now) {
      if (store.blind) throw blindError();
      return fleetWindow.stats(routeId, windowMs, now);
    },
    async acquireLease(holder, ttlMs) {
      if (store.blind) throw blindError();
      const now = options.clock();
      if (store.leaseHolder === null || store.leaseHolder === holder || now >= leaseExpiresAt) {
        store.leaseHolder = holder;
        leaseExpiresAt = now + ttlMs;
        return true;
      }
      return false;
    },
    healthy: () => !store.blind,
    async close() {},
    writeBehindTheBack(state) {
      shared.set(state.routeId, state);
      cache.set(state.routeId, state);
      emit(state);
    },
    localWindowStats: (routeId, windowMs, now) => localWindow.stats(routeId, windowMs, now),
    applyLocal(state) {
      const current = cache.get(state.routeId);
      if (current && current.revision >= state.revision) return;
      cache.set(state.routeId, state);
      localOnly.add(state.routeId);
      emit(state);
    },
    heal() {
      store.blind = false;
      for (const routeId of localOnly) {
        const local = cache.get(routeId);
        const sharedState = shared.get(routeId);
        if (local && (sharedState?.revision ?? -1) < local.revision) shared.set(routeId, local);
        else if (sharedState) cache.set(routeId, sharedState);
      }
      localOnly.clear();
    },
  };
  return store;
}

export interface FakeAuditLog extends AuditLog {
  readonly events: AuditEvent[];
}

export function createFakeAuditLog(): FakeAuditLog {
  const events: AuditEvent[] = [];
  return {
    events,
    append(event) {
      events.push(event);
    },
    async history(routeId, limit = 100) {
      return events
        .filter((e) => e.routeId === routeId)
        .reverse()
        .slice(0, limit);
    },
    pending: () => 0,
    async flush() {},
    async close() {},
  };
}
