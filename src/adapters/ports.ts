// The small interfaces the edge talks to the outside world through. Each has an in-memory/file implementation
// (the embedded default, used by `npm start` with nothing installed) and a real one (Unleash, Redis, PostgreSQL).
// Failures of the outside world are reported as events/logs and never thrown into the request path.

import type { AuditEvent, FlagEvaluator, Outcome, RouteRolloutState, RouteWindowStats } from '../core/types.ts';

export type FlagSourceState = 'file' | 'bootstrap' | 'live' | 'stale';

export interface FlagSource {
  /** Synchronous and in-memory: the request path calls it. */
  readonly evaluate: FlagEvaluator;
  /** Names of flags the source knows (for validate and for `no_flag_data`). */
  knownFlags(): ReadonlySet<string>;
  /**
   * The flag's own rollout percentage as its definition states it (the ceiling of the share it can admit):
   * 0 when the flag is off, null when the source does not know the flag. Constraints are not counted.
   */
  rolloutPercent(flag: string): number | null;
  status(): { readonly state: FlagSourceState; readonly staleSince: number | null; readonly lastUpdate: number | null };
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called after every change of flag data (refresh, file edit). */
  onChange(listener: () => void): () => void;
}

export interface StateStore {
  /** Last known state of a route, from local memory. Synchronous: the request path reads it. */
  get(routeId: string): RouteRolloutState | undefined;
  all(): ReadonlyMap<string, RouteRolloutState>;
  /** Reads persisted state into memory (on start). */
  load(): Promise<void>;
  /**
   * Writes `next` if the stored revision still equals `expectedRevision` (-1: the route has no state yet).
   * Resolves false when another writer got there first; rejects (EdgeError RF_STATE_STORE) when the store is blind.
   */
  compareAndSet(next: RouteRolloutState, expectedRevision: number): Promise<boolean>;
  /** Forget a route removed from routes.yaml. */
  remove(routeId: string): Promise<void>;
  /** Called when any replica changes a route's state (including this one). */
  onChange(listener: (state: RouteRolloutState) => void): () => void;
  /** Records one outcome into the windowed counters. Synchronous, buffered; never throws. */
  recordOutcome(outcome: Outcome): void;
  /** Fleet-wide window stats (all replicas) for a route. */
  windowStats(routeId: string, windowMs: number, now: number): Promise<RouteWindowStats>;
  /**
   * Try to take or renew the controller lease for `holder`; true while `holder` holds it.
   * The embedded store always grants it.
   */
  acquireLease(holder: string, ttlMs: number): Promise<boolean>;
  /** True when the shared store is reachable (always true for the embedded store). */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface AuditLog {
  /** Never throws and never waits: an event is buffered until the store takes it. */
  append(event: AuditEvent): void;
  history(routeId: string, limit?: number): Promise<readonly AuditEvent[]>;
  /** Events not yet written (buffered while the store is down). */
  pending(): number;
  /** Waits for the buffer to drain (bounded by timeoutMs). */
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}
