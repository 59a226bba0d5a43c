// Shared state for many replicas. Redis is the meeting point, never a dependency of the request path:
// - route state lives in the hash <prefix>state; each replica keeps a local copy that `get` reads synchronously,
//   kept fresh by pub/sub on <prefix>events and healed by a full re-read every couple of seconds;
// - outcomes are counted locally and flushed every ~200 ms into one-second slot hashes shared by the fleet;
// - a lease key elects the replica that runs the controller;
// - when Redis is unreachable ("blind") the replica keeps serving its last known state, refuses shared writes,
//   keeps its own window for own-evidence rollbacks, and writes such local decisions back once Redis returns.
import { createHash, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { EdgeError } from '../../core/errors.ts';
import { createOutcomeWindow, type OutcomeSlot, SLOT_MS, statsFromSlots } from '../../core/outcome-window.ts';
import type { RouteRolloutState, RouteWindowStats, Target } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import { createChangeListeners, type EdgeStateStore } from './edge-state-store.ts';
import { createOutcomeBuffer, slotFromHash, type TakenBatch, tailField } from './outcome-buffer.ts';
import {
  ACQUIRE_LEASE_LUA,
  COMPARE_AND_SET_LUA,
  RELEASE_LEASE_LUA,
  REMOVE_LUA,
  SET_IF_NEWER_LUA,
} from './redis-scripts.ts';
import { checkWrite, encodeRouteState, parseRouteState } from './state-codec.ts';

export interface RedisStateStoreOptions {
  readonly url: string;
  /** Prepended to every key and channel, e.g. `rf-edge:`; lets several fleets (or tests) share one Redis. */
  readonly keyPrefix: string;
  /** Names this replica in pub/sub messages and logs. */
  readonly instanceId: string;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** How often buffered outcomes go to Redis. */
  readonly flushIntervalMs?: number;
  /** How often the whole state is re-read (heals missed pub/sub messages) and the connections are probed. */
  readonly resyncIntervalMs?: number;
  /** Longest judge window the fleet keeps slots for; slot keys expire after it. */
  readonly maxWindowMs?: number;
  /** Cap on outcome slots buffered while Redis is unreachable; the oldest are dropped beyond it. */
  readonly maxBufferedSlots?: number;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

export interface RedisStateStoreDiagnostics {
  readonly bufferedSlots: number;
  readonly droppedSlots: number;
  readonly pendingLocal: number;
  readonly blindSince: number | null;
}

export interface RedisStateStore extends EdgeStateStore {
  readonly kind: 'redis';
  diagnostics(): RedisStateStoreDiagnostics;
}

type StateMessage =
  | { readonly v: 1; readonly kind: 'set'; readonly origin: string; readonly state: RouteRolloutState }
  | { readonly v: 1; readonly kind: 'remove'; readonly origin: string; readonly routeId: string };

interface CachedState {
  readonly state: RouteRolloutState;
  /** The exact JSON stored in Redis, so a resync can tell a changed entry from an unchanged one cheaply. */
  readonly json: string;
}

interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const SCRIPTS = {
  compareAndSet: script(COMPARE_AND_SET_LUA),
  setIfNewer: script(SET_IF_NEWER_LUA),
  remove: script(REMOVE_LUA),
  acquireLease: script(ACQUIRE_LEASE_LUA),
  releaseLease: script(RELEASE_LEASE_LUA),
} as const;

const TARGETS: readonly Target[] = ['legacy', 'service'];
/** Extra life for slot keys beyond the longest window, so a slot never expires while a window still covers it. */
const SLOT_TTL_SLACK_MS = 10_000;

function isTimeout(err: unknown): boolean {
  return err instanceof Error && /timed out/i.test(err.message);
}

export function createRedisStateStore(options: RedisStateStoreOptions): RedisStateStore {
  const { url, keyPrefix, instanceId, log, metrics } = options;
  const flushIntervalMs = options.flushIntervalMs ?? 200;
  const resyncIntervalMs = options.resyncIntervalMs ?? 2000;
  const maxWindowMs = options.maxWindowMs ?? 300_000;
  const maxBufferedSlots = options.maxBufferedSlots ?? 10_000;
  const slotTtlMs = maxWindowMs + SLOT_TTL_SLACK_MS;

  const keys = {
    state: `${keyPrefix}state`,
    events: `${keyPrefix}events`,
    leader: `${keyPrefix}leader`,
    epoch: `${keyPrefix}epoch`,
    window: (routeId: string, target: Target, second: number) => `${keyPrefix}win:${routeId}:${target}:${second}`,
  };

  // Fail fast instead of queueing: with the offline queue off and no per-request retries, a call made while the
  // connection is down rejects at once, and one made on a dead connection rejects after commandTimeout. The
  // clients still reconnect on their own. TCP keepalive notices a silently dead peer between calls.
  const clientOptions: RedisOptions = {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // The subscriber re-subscribes itself (see heal) so the subscription is confirmed before the re-read.
    autoResubscribe: false,
    keepAlive: 5000,
    noDelay: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  };
  const cmd = new Redis(url, { ...clientOptions, connectionName: `rf-edge:${instanceId}` });
  const sub = new Redis(url, { ...clientOptions, connectionName: `rf-edge:${instanceId}:sub` });

  const cache = new Map<string, CachedState>();
  const states = new Map<string, RouteRolloutState>();
  /** States decided while blind, to write back when Redis returns (unless Redis moved past them). */
  const pendingLocal = new Map<string, CachedState>();
  const listeners = createChangeListeners(log);
  const ownWindow = createOutcomeWindow({ retainMs: maxWindowMs });
  let dropLogged = false;
  const outbound = createOutcomeBuffer({
    maxSlots: maxBufferedSlots,
    onDrop: () => {
      metrics.outcomeSlotsDropped.inc();
      if (dropLogged) return;
      dropLogged = true;
      log.warn(
        { event: 'state.outcomes_dropped', maxBufferedSlots },
        'outcome buffer full while Redis is unreachable; dropping the oldest slots',
      );
    },
  });
  const tailFieldName = tailField(instanceId);
  const warnedEntries = new Set<string>();
  let warnedLongWindow = false;

  let healthy = false;
  let reportedHealthy: boolean | null = null;
  // Connections come up one by one during load(); only its outcome is worth a log line.
  let loaded = false;
  let blindSince: number | null = Date.now();
  let lastError: unknown;
  let subscribed = false;
  let knownEpoch: string | null = null;
  let previousSnapshot: Record<string, string> = {};
  let leaseHolder: string | null = null;
  let closed = false;
  let healing: Promise<void> | null = null;
  let flushing: Promise<void> | null = null;
  let flushTimer: NodeJS.Timeout | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;

  metrics.storeHealthy.set({ store: 'state' }, 0);

  function setHealthy(next: boolean, err?: unknown): void {
    healthy = next;
    if (next) {
      blindSince = null;
      dropLogged = false;
    } else if (blindSince === null) {
      blindSince = Date.now();
    }
    metrics.storeHealthy.set({ store: 'state' }, next ? 1 : 0);
    if (reportedHealthy === next || closed || !loaded) return;
    reportedHealthy = next;
    if (next) {
      log.info({ event: 'state.redis_up', keyPrefix, routes: cache.size }, 'Redis reachable; shared state in sync');
    } else {
      log.warn(
        { event: 'state.redis_down', err: err ?? lastError, keyPrefix },
        'Redis unreachable; serving the last known state and refusing shared writes until it returns',
      );
    }
  }

  async function runScript(client: Redis, s: LuaScript, keyList: string[], args: string[]): Promise<unknown> {
    try {
      return await client.evalsha(s.sha, keyList.length, ...keyList, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(s.lua, keyList.length, ...keyList, ...args);
    }
  }

  function blindError(what: string): EdgeError {
    return new EdgeError('RF_STATE_STORE', `Redis is unreachable; ${what} waits until it returns`, {
      cause: lastError,
    });
  }

  function adopt(routeId: string, json: string, state: RouteRolloutState): void {
    cache.set(routeId, { state, json });
    states.set(routeId, state);
    listeners.emit(state);
  }

  function forget(routeId: string): void {
    cache.delete(routeId);
    states.delete(routeId);
  }

  /** Parses a stored entry, warning once per distinct bad value instead of on every resync. */
  function decodeStored(routeId: string, json: string): RouteRolloutState | null {
    const decoded = parseRouteState(json);
    if (decoded.ok && decoded.state.routeId === routeId) return decoded.state;
    const marker = `${routeId}\u0000${json}`;
    if (!warnedEntries.has(marker)) {
      warnedEntries.add(marker);
      log.warn(
        {
          event: 'state.entry_invalid',
          routeId,
          problem: decoded.ok ? 'routeId does not match its field' : decoded.problem,
        },
        'ignoring a malformed route state in Redis',
      );
    }
    return null;
  }

  function message(m: StateMessage): string {
    return JSON.stringify(m);
  }

  function onMessage(channel: string, text: string): void {
    if (channel !== keys.events) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      log.warn({ event: 'state.message_invalid' }, 'ignoring a state message that is not JSON');
      return;
    }
    const m = parsed as Partial<{ v: number; kind: string; routeId: unknown; state: unknown }>;
    if (m.kind === 'remove' && typeof m.routeId === 'string') {
      if (!pendingLocal.has(m.routeId)) forget(m.routeId);
      return;
    }
    if (m.kind !== 'set' || typeof m.state !== 'object' || m.state === null) return;
    const routeId = (m.state as { routeId?: unknown }).routeId;
    if (typeof routeId !== 'string') return;
    const json = JSON.stringify(m.state);
    const state = decodeStored(routeId, json);
    if (!state) return;
    const pending = pendingLocal.get(routeId);
    if (pending) {
      if (state.revision <= pending.state.revision) return;
      pendingLocal.delete(routeId);
      log.warn(
        { event: 'state.local_superseded', routeId, localRevision: pending.state.revision, revision: state.revision },
        'a newer shared state replaced the one this replica decided while blind',
      );
    }
    const current = cache.get(routeId);
    if (current && current.state.revision >= state.revision) return;
    adopt(routeId, encodeRouteState(state), state);
  }

  /**
   * One atomic snapshot of the epoch and every route state. The epoch is a random id the first replica to meet an
   * empty Redis writes; a different one later means Redis lost its data (restart without persistence, FLUSHALL),
   * and every replica then writes back the last state it knew rather than let the fleet forget its rollouts.
   * Reading both in one MULTI keeps a wipe from landing between "same epoch" and "no routes".
   */
  async function readSnapshot(): Promise<{ epoch: string; stored: Record<string, string> }> {
    const result = await cmd.multi().set(keys.epoch, randomUUID(), 'NX').get(keys.epoch).hgetall(keys.state).exec();
    const epoch = result?.[1]?.[1];
    const stored = result?.[2]?.[1];
    if (typeof epoch !== 'string' || typeof stored !== 'object' || stored === null) {
      throw new Error('could not read the shared state');
    }
    return { epoch, stored: stored as Record<string, string> };
  }

  /** Writes back states decided while blind; where Redis moved past one, takes what Redis has. */
  async function reassertPending(): Promise<void> {
    for (const [routeId, entry] of [...pendingLocal]) {
      const written = await runScript(
        cmd,
        SCRIPTS.setIfNewer,
        [keys.state, keys.events],
        [
          routeId,
          String(entry.state.revision),
          entry.json,
          message({ v: 1, kind: 'set', origin: instanceId, state: entry.state }),
        ],
      );
      // Something newer may have replaced the entry while the script ran (a pub/sub message, another applyLocal).
      if (pendingLocal.get(routeId) !== entry) continue;
      pendingLocal.delete(routeId);
      if (written === 1) {
        log.info(
          { event: 'state.local_reasserted', routeId, revision: entry.state.revision },
          'wrote back a state this replica decided while Redis was unreachable',
        );
        continue;
      }
      log.warn(
        { event: 'state.local_superseded', routeId, localRevision: entry.state.revision },
        'Redis already holds a state at least as new as the one this replica decided while blind; taking it',
      );
      const json = await cmd.hget(keys.state, routeId);
      const state = json === null ? null : decodeStored(routeId, json);
      if (json !== null && state && cache.get(routeId)?.json !== json) adopt(routeId, json, state);
    }
  }

  /**
   * Brings the local copy in line with a snapshot. A pub/sub message handled while the snapshot was in flight can
   * be newer than the snapshot, so going backwards (an older revision, a route gone) needs two snapshots in a row
   * that agree; that still heals a missed removal or a route re-created from scratch, one resync later.
   */
  function applySnapshot(stored: Record<string, string>): void {
    for (const [routeId, json] of Object.entries(stored)) {
      if (pendingLocal.has(routeId)) continue;
      const cached = cache.get(routeId);
      if (cached?.json === json) continue;
      const state = decodeStored(routeId, json);
      if (!state) continue;
      if (cached && cached.state.revision > state.revision && previousSnapshot[routeId] !== json) continue;
      adopt(routeId, json, state);
    }
    for (const routeId of [...cache.keys()]) {
      if (routeId in stored || pendingLocal.has(routeId) || routeId in previousSnapshot) continue;
      forget(routeId);
    }
    previousSnapshot = stored;
  }

  async function doHeal(): Promise<void> {
    if (closed) return;
    if (cmd.status !== 'ready' || sub.status !== 'ready') {
      setHealthy(false);
      return;
    }
    try {
      // Subscribe before the snapshot: a change published after the SUBSCRIBE is confirmed arrives as a message,
      // one published before it is in the snapshot. Nothing falls between.
      if (!subscribed) {
        await sub.subscribe(keys.events);
        subscribed = true;
      }
      const { epoch, stored } = await readSnapshot();
      if (knownEpoch !== null && epoch !== knownEpoch) {
        log.warn(
          { event: 'state.redis_data_lost', routes: cache.size },
          'Redis lost its data; writing back the last known state of every route',
        );
        for (const [routeId, entry] of cache) if (!pendingLocal.has(routeId)) pendingLocal.set(routeId, entry);
      }
      knownEpoch = epoch;
      applySnapshot(stored);
      if (pendingLocal.size > 0) await reassertPending();
      // A half-open subscriber would silently miss every change; a PING proves it answers.
      await sub.ping();
      setHealthy(true);
    } catch (err) {
      lastError = err;
      setHealthy(false, err);
      if (isTimeout(err) && !closed) {
        // A peer that stopped answering without closing (a dropped link): reconnect rather than wait for TCP.
        log.warn({ event: 'state.redis_stalled', err }, 'Redis stopped answering; reconnecting');
        cmd.disconnect(true);
        sub.disconnect(true);
      }
    }
  }

  function heal(): Promise<void> {
    if (!healing) {
      healing = doHeal().finally(() => {
        healing = null;
      });
    }
    return healing;
  }

  async function doFlush(): Promise<void> {
    if (outbound.size() === 0) return;
    if (!healthy) {
      // Slots older than the longest window are of no use to anyone; while blind, shed them.
      outbound.shedBefore(Math.floor((Date.now() - maxWindowMs) / SLOT_MS));
      return;
    }
    const batch: TakenBatch = outbound.take();
    // MULTI makes the batch all-or-nothing, so a batch put back after a failure is not counted twice.
    const tx = cmd.multi();
    for (const slot of batch.slots) {
      const key = keys.window(slot.routeId, slot.target, slot.second);
      tx.hincrby(key, 'n', slot.requests);
      if (slot.errors > 0) tx.hincrby(key, 'e', slot.errors);
      if (slot.transportFailures > 0) tx.hincrby(key, 'f', slot.transportFailures);
      if (slot.edgeDelayed > 0) tx.hincrby(key, 'd', slot.edgeDelayed);
      for (const [bucket, count] of slot.latency) tx.hincrby(key, `h${bucket}`, count);
      tx.hset(key, tailFieldName, String(batch.tails.get(slot) ?? 0));
      tx.pexpire(key, slotTtlMs);
    }
    try {
      await tx.exec();
    } catch (err) {
      lastError = err;
      outbound.putBack(batch);
      log.debug({ event: 'state.outcome_flush_failed', err }, 'outcomes kept for the next flush');
    }
  }

  function flushOutcomes(): Promise<void> {
    if (!flushing) {
      flushing = doFlush().finally(() => {
        flushing = null;
      });
    }
    return flushing;
  }

  for (const client of [cmd, sub]) {
    client.on('error', (err: unknown) => {
      lastError = err;
      log.debug({ event: 'state.redis_error', err }, 'Redis connection error');
    });
    client.on('close', () => {
      if (client === sub) subscribed = false;
      setHealthy(false);
    });
    client.on('ready', () => {
      void heal();
    });
  }
  sub.on('message', onMessage);

  return {
    kind: 'redis',
    get: (routeId) => states.get(routeId),
    all: () => states,
    async load() {
      const connected = await Promise.allSettled([cmd.connect(), sub.connect()]);
      for (const result of connected) if (result.status === 'rejected') lastError = result.reason;
      // A heal started by a 'ready' event may have run before both connections were up; run one with both.
      await healing;
      await heal();
      loaded = true;
      setHealthy(healthy, lastError);
      if (!closed && !flushTimer) {
        flushTimer = setInterval(() => void flushOutcomes(), flushIntervalMs);
        flushTimer.unref();
        resyncTimer = setInterval(() => void heal(), resyncIntervalMs);
        resyncTimer.unref();
      }
    },
    async compareAndSet(next, expectedRevision) {
      const refused = checkWrite(next, expectedRevision);
      if (refused) throw refused;
      if (closed) throw new EdgeError('RF_SHUTTING_DOWN', 'state store is closed');
      if (!healthy) throw blindError('a state change');
      const json = encodeRouteState(next);
      let result: unknown;
      try {
        result = await runScript(
          cmd,
          SCRIPTS.compareAndSet,
          [keys.state, keys.events],
          [
            next.routeId,
            String(expectedRevision),
            json,
            message({ v: 1, kind: 'set', origin: instanceId, state: next }),
          ],
        );
      } catch (err) {
        lastError = err;
        throw new EdgeError('RF_STATE_STORE', `Redis did not take the state of ${next.routeId}`, { cause: err });
      }
      const [written, storedJson] = Array.isArray(result) ? result : [0, ''];
      if (written === 1) {
        pendingLocal.delete(next.routeId);
        const current = cache.get(next.routeId);
        // The pub/sub echo of this write may already have been applied; announce each revision once.
        if (!current || current.state.revision < next.revision) adopt(next.routeId, json, next);
        return true;
      }
      // Lost the race: learn the winner now rather than at the next message or resync.
      if (typeof storedJson === 'string' && storedJson !== '' && !pendingLocal.has(next.routeId)) {
        const stored = decodeStored(next.routeId, storedJson);
        if (stored && cache.get(next.routeId)?.json !== storedJson) adopt(next.routeId, storedJson, stored);
      }
      return false;
    },
    async remove(routeId) {
      if (closed) throw new EdgeError('RF_SHUTTING_DOWN', 'state store is closed');
      if (!healthy) throw blindError('removing a route');
      try {
        await runScript(
          cmd,
          SCRIPTS.remove,
          [keys.state, keys.events],
          [routeId, message({ v: 1, kind: 'remove', origin: instanceId, routeId })],
        );
      } catch (err) {
        lastError = err;
        throw new EdgeError('RF_STATE_STORE', `Redis did not remove ${routeId}`, { cause: err });
      }
      pendingLocal.delete(routeId);
      forget(routeId);
    },
    onChange: (listener) => listeners.add(listener),
    recordOutcome(outcome) {
      try {
        ownWindow.record(outcome);
        outbound.add(outcome);
      } catch (err) {
        log.error({ event: 'state.outcome_failed', err }, 'could not record an outcome');
      }
    },
    async windowStats(routeId, windowMs, now): Promise<RouteWindowStats> {
      if (!healthy) throw blindError('the fleet-wide window');
      if (windowMs > maxWindowMs && !warnedLongWindow) {
        warnedLongWindow = true;
        log.warn(
          { event: 'state.window_too_long', windowMs, maxWindowMs },
          'a window longer than the store keeps slots for was asked; it covers only the most recent part',
        );
      }
      const span = Math.min(windowMs, maxWindowMs);
      // The seconds `slotInWindow` accepts: starting after now - span, not after now.
      const first = Math.floor((now - span) / SLOT_MS) + 1;
      const last = Math.floor(now / SLOT_MS);
      const pipeline = cmd.pipeline();
      for (const target of TARGETS) {
        for (let second = first; second <= last; second++) pipeline.hgetall(keys.window(routeId, target, second));
      }
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (err) {
        lastError = err;
        throw new EdgeError('RF_STATE_STORE', `could not read the window of ${routeId}`, { cause: err });
      }
      const failed = replies?.find(([err]) => err !== null);
      if (!replies || failed) {
        throw new EdgeError('RF_STATE_STORE', `could not read the window of ${routeId}`, { cause: failed?.[0] });
      }
      const perTarget = last - first + 1;
      const slotsOf = (index: number): OutcomeSlot[] => {
        const slots: OutcomeSlot[] = [];
        for (let i = 0; i < perTarget; i++) {
          const hash = replies[index * perTarget + i]?.[1];
          if (!hash || typeof hash !== 'object') continue;
          const slot = slotFromHash(first + i, hash as Record<string, string>);
          if (slot) slots.push(slot);
        }
        return slots;
      };
      return statsFromSlots(routeId, { legacy: slotsOf(0), service: slotsOf(1) }, windowMs, now);
    },
    localWindowStats: (routeId, windowMs, now) => {
      ownWindow.prune(now);
      return ownWindow.stats(routeId, windowMs, now);
    },
    applyLocal(state) {
      const current = cache.get(state.routeId);
      if (current && current.state.revision >= state.revision) return;
      const entry: CachedState = { state, json: encodeRouteState(state) };
      pendingLocal.set(state.routeId, entry);
      adopt(state.routeId, entry.json, state);
      log.warn(
        { event: 'state.applied_locally', routeId: state.routeId, revision: state.revision, phase: state.phase },
        'route state changed on this replica alone; it goes to Redis once Redis is reachable',
      );
      if (healthy) {
        reassertPending().catch((err: unknown) => {
          lastError = err;
          log.warn({ event: 'state.local_reassert_failed', err }, 'will retry on the next resync');
        });
      }
    },
    async acquireLease(holder, ttlMs) {
      if (!healthy || closed) return false;
      try {
        const held = (await runScript(cmd, SCRIPTS.acquireLease, [keys.leader], [holder, String(ttlMs)])) === 1;
        if (held) leaseHolder = holder;
        return held;
      } catch (err) {
        lastError = err;
        log.warn({ event: 'state.lease_failed', err, holder }, 'could not take or renew the controller lease');
        return false;
      }
    },
    healthy: () => healthy,
    diagnostics: () => ({
      bufferedSlots: outbound.size(),
      droppedSlots: outbound.dropped(),
      pendingLocal: pendingLocal.size,
      blindSince,
    }),
    async close() {
      if (closed) return;
      if (flushTimer) clearInterval(flushTimer);
      if (resyncTimer) clearInterval(resyncTimer);
      await flushing;
      await flushOutcomes().catch(() => undefined);
      if (healthy && leaseHolder !== null) {
        // Hand the lease over now rather than make the next leader wait out the ttl.
        await runScript(cmd, SCRIPTS.releaseLease, [keys.leader], [leaseHolder]).catch(() => undefined);
      }
      closed = true;
      await Promise.allSettled([quit(cmd), quit(sub)]);
      metrics.storeHealthy.set({ store: 'state' }, 0);
    },
  };
}

async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 500).unref()),
    ]);
  }
  // Also stops any reconnect loop still running.
  client.disconnect();
}
