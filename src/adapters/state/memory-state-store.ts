// The embedded default: one process, state in memory, persisted to <dataDir>/rollout-state.json so a restart
// resumes the same step. Writes are debounced (a burst of transitions costs one write) and atomic (temp file,
// fsync, rename), so a crash mid-write leaves the previous file intact instead of a truncated one.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeError } from '../../core/errors.ts';
import { createOutcomeWindow } from '../../core/outcome-window.ts';
import type { RouteRolloutState } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import { createChangeListeners, type EdgeStateStore } from './edge-state-store.ts';
import { checkWrite, decodeRouteState } from './state-codec.ts';

export const STATE_FILE_NAME = 'rollout-state.json';
const FILE_FORMAT_VERSION = 1;
/** Five minutes: five times the default judge window. */
export const DEFAULT_MAX_WINDOW_MS = 300_000;

export interface MemoryStateStoreOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** Delay that coalesces a burst of changes into one file write. */
  readonly persistDelayMs?: number;
  /** Longest judge window anyone asks for; older outcome slots are dropped. */
  readonly maxWindowMs?: number;
}

interface StateFile {
  readonly version: number;
  readonly savedAt: string;
  readonly routes: readonly RouteRolloutState[];
}

export function createMemoryStateStore(options: MemoryStateStoreOptions): EdgeStateStore {
  const { dataDir, log } = options;
  const persistDelayMs = options.persistDelayMs ?? 50;
  const file = join(dataDir, STATE_FILE_NAME);
  const states = new Map<string, RouteRolloutState>();
  const listeners = createChangeListeners(log);
  const maxWindowMs = options.maxWindowMs ?? DEFAULT_MAX_WINDOW_MS;
  const window = createOutcomeWindow({ retainMs: maxWindowMs });
  let warnedLongWindow = false;

  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  // Writes run one after another on this chain, so two never race for the same temp-file-then-rename.
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  function schedulePersist(delayMs = persistDelayMs): void {
    dirty = true;
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      chain = chain.then(writeIfDirty);
    }, delayMs);
  }

  async function writeIfDirty(): Promise<void> {
    if (!dirty) return;
    dirty = false;
    const body: StateFile = {
      version: FILE_FORMAT_VERSION,
      savedAt: new Date().toISOString(),
      routes: [...states.values()],
    };
    const temp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    try {
      await mkdir(dataDir, { recursive: true });
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      if (failures > 0) log.info({ event: 'state.persist_recovered', file }, 'rollout state written again');
      failures = 0;
    } catch (err) {
      failures += 1;
      await rm(temp, { force: true }).catch(() => undefined);
      // Memory stays the truth while the disk refuses; keep retrying, slower each time, so a restart loses little.
      log.error({ event: 'state.persist_failed', err, file, failures }, 'could not write the rollout state file');
      if (!closed) schedulePersist(Math.min(persistDelayMs * 2 ** failures, 10_000));
      else dirty = true;
    }
  }

  async function flushNow(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    chain = chain.then(writeIfDirty);
    await chain;
  }

  async function readStateFile(): Promise<RouteRolloutState[]> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new EdgeError('RF_STATE_STORE', `could not read ${file}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      // Keep the unreadable file for a person to inspect, and start clean rather than refuse to serve.
      const aside = `${file}.corrupt-${Date.now()}`;
      await rename(file, aside).catch(() => undefined);
      log.error({ event: 'state.file_corrupt', err, file, movedTo: aside }, 'rollout state file is not JSON');
      return [];
    }
    const routes =
      typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { routes?: unknown }).routes)
        ? ((parsed as { routes: unknown[] }).routes as unknown[])
        : null;
    if (!routes) {
      log.error({ event: 'state.file_corrupt', file }, 'rollout state file has no routes array; starting empty');
      return [];
    }
    const result: RouteRolloutState[] = [];
    for (const entry of routes) {
      const decoded = decodeRouteState(entry);
      if (decoded.ok) result.push(decoded.state);
      else log.warn({ event: 'state.entry_invalid', file, problem: decoded.problem }, 'skipping a bad route state');
    }
    return result;
  }

  function put(state: RouteRolloutState): void {
    states.set(state.routeId, state);
    schedulePersist();
    listeners.emit(state);
  }

  return {
    kind: 'memory',
    get: (routeId) => states.get(routeId),
    all: () => states,
    async load() {
      const loaded = await readStateFile();
      states.clear();
      for (const state of loaded) states.set(state.routeId, state);
      log.info({ event: 'state.loaded', file, routes: loaded.length }, 'rollout state loaded');
    },
    async compareAndSet(next, expectedRevision) {
      if (closed) throw new EdgeError('RF_SHUTTING_DOWN', 'state store is closed');
      const refused = checkWrite(next, expectedRevision);
      if (refused) throw refused;
      const current = states.get(next.routeId);
      if ((current?.revision ?? -1) !== expectedRevision) return false;
      put(next);
      return true;
    },
    async remove(routeId) {
      if (states.delete(routeId)) schedulePersist();
    },
    onChange: (listener) => listeners.add(listener),
    recordOutcome(outcome) {
      try {
        window.record(outcome);
      } catch (err) {
        log.error({ event: 'state.outcome_failed', err }, 'could not record an outcome');
      }
    },
    async windowStats(routeId, windowMs, now) {
      if (windowMs > maxWindowMs && !warnedLongWindow) {
        warnedLongWindow = true;
        log.warn(
          { event: 'state.window_too_long', windowMs, maxWindowMs },
          'a window longer than the store keeps outcomes for was asked; it covers only the most recent part',
        );
      }
      window.prune(now);
      return window.stats(routeId, windowMs, now);
    },
    localWindowStats: (routeId, windowMs, now) => window.stats(routeId, windowMs, now),
    applyLocal(state) {
      const current = states.get(state.routeId);
      if (current && current.revision >= state.revision) return;
      put(state);
    },
    async acquireLease() {
      return true;
    },
    healthy: () => true,
    async close() {
      if (closed) return;
      closed = true;
      await flushNow();
    },
  };
}
