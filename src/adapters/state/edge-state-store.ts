// What the edge needs from a state store beyond the shared port: the controller's own-evidence path for when the
// shared store is unreachable. Both stores implement it, so the controller never asks which one it has.
import type { RouteRolloutState, RouteWindowStats } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { StateStore } from '../ports.ts';

export interface EdgeStateStore extends StateStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Window stats from this process's outcomes only. The fleet-wide `windowStats` needs the shared store; this does
   * not, so a replica cut off from Redis can still see its own evidence and roll back on it.
   */
  localWindowStats(routeId: string, windowMs: number, now: number): RouteWindowStats;
  /**
   * Puts `state` into the local cache without the shared store (a rollback decided while blind). Ignored unless its
   * revision is newer than the cached one. The Redis store writes it back on reconnect unless Redis moved on.
   */
  applyLocal(state: RouteRolloutState): void;
}

/** Listener fan-out that keeps one throwing listener from breaking the store or the other listeners. */
export function createChangeListeners(log: Logger) {
  const listeners = new Set<(state: RouteRolloutState) => void>();
  return {
    add(listener: (state: RouteRolloutState) => void): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    emit(state: RouteRolloutState): void {
      for (const listener of listeners) {
        try {
          listener(state);
        } catch (err) {
          log.error({ event: 'state.listener_failed', err, routeId: state.routeId }, 'a state change listener threw');
        }
      }
    },
  };
}
