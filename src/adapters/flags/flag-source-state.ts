// The part every flag source shares: its state (file, bootstrap, live, stale since …) mirrored into the metrics,
// and the change listeners the router and validate hang on it.

import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FlagSourceState } from '../ports.ts';

const STATES: readonly FlagSourceState[] = ['file', 'bootstrap', 'live', 'stale'];

export interface FlagSourceStatus {
  readonly state: FlagSourceState;
  readonly staleSince: number | null;
  readonly lastUpdate: number | null;
}

export interface FlagSourceTracker {
  status(): FlagSourceStatus;
  /** Moves to `state`; `stale` keeps the first moment it went stale until the source is live again. */
  set(state: FlagSourceState): void;
  /** Flag data changed (a reload, a fetch that brought news): stamps lastUpdate and tells the listeners. */
  changed(): void;
  /** Flag data confirmed current (e.g. a 304 from Unleash) without a change. */
  touched(): void;
  onChange(listener: () => void): () => void;
}

export function createFlagSourceTracker(options: {
  initial: FlagSourceState;
  metrics: EdgeMetrics;
  log: Logger;
  now: () => number;
}): FlagSourceTracker {
  const { metrics, log, now } = options;
  let state = options.initial;
  let staleSince: number | null = null;
  let lastUpdate: number | null = null;
  const listeners = new Set<() => void>();

  const publish = () => {
    for (const s of STATES) metrics.flagSourceState.set({ state: s }, s === state ? 1 : 0);
    metrics.flagStaleSince.set(staleSince === null ? 0 : staleSince / 1000);
  };
  publish();

  return {
    status: () => ({ state, staleSince, lastUpdate }),
    set(next) {
      if (next === 'stale') staleSince ??= now();
      else staleSince = null;
      if (next === state) return publish();
      const from = state;
      state = next;
      publish();
      const fields = { event: 'flags.state_changed', from, to: next, staleSince };
      if (next === 'stale') log.warn(fields, 'flag source lost Unleash: serving the last known flags');
      else log.info(fields, `flag source is ${next}`);
    },
    changed() {
      lastUpdate = now();
      for (const listener of listeners) {
        try {
          listener();
        } catch (err) {
          // A faulty listener must not stop the others from hearing about the change.
          log.error({ event: 'flags.listener_failed', err }, 'a flag change listener threw');
        }
      }
    },
    touched() {
      lastUpdate = now();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
