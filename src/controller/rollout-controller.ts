// The rollout controller: the loop that reads the outcome windows, asks the judge, moves each route through the
// state machine and stores the result where every replica reads it.
//
// Who may do what, and why:
// - Advancing is done by one replica only, the lease holder, on the fleet-wide window: two replicas judging the
//   same evidence would race to take the same step.
// - A replica that cannot see the shared store ("blind") never advances: it cannot know what the fleet did.
//   It may still roll back on its own local evidence, because sending users back to the monolith is always safe
//   and waiting for the store could mean minutes of errors. That rollback is applied to this replica only
//   (`applyLocal`), audited at once (the audit log buffers), and written through by the store when it is back
//   (unless the fleet's shared state moved on meanwhile: then the fleet wins).
// - Every stored change goes through compareAndSet on the route's revision; on a conflict the store is re-read and
//   the events are re-applied to the newer state, so a person's command and the leader's tick never overwrite
//   each other.

import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { AuditLog, StateStore } from '../adapters/ports.ts';
import type { RouteConfig, RouteTable } from '../config/types.ts';
import { diffCheck, diffGate, withDiffCheck } from '../core/diff-judge.ts';
import { type Counters, SLOT_MS as DIFF_SLOT_MS, slotOf, summarize } from '../core/diff-tally.ts';
import { EdgeError, isEdgeError } from '../core/errors.ts';
import type { RecordedSecond } from '../core/judge-replay.ts';
import type { OutcomeSlot } from '../core/outcome-window.ts';
import { JUDGED_PHASES, type RolloutCommandName, type RolloutEvent, transition } from '../core/rollout-machine.ts';
import { failingRule, SequentialJudge } from '../core/sequential-judge.ts';
import type { Actor, RouteRolloutState, RouteWindowStats, Verdict } from '../core/types.ts';
import {
  announceRemoval,
  announceTransition,
  evidenceOf,
  type StoredChange,
  setJudgeGauges,
  setRouteGauges,
} from './transition-effects.ts';

/** The state store, with the own-evidence extras both edge stores provide (used when the options don't say). */
export type ControllerStateStore = StateStore & {
  localWindowStats?(routeId: string, windowMs: number, now: number): RouteWindowStats;
  applyLocal?(state: RouteRolloutState): void;
};

export interface RolloutControllerOptions {
  readonly store: ControllerStateStore;
  readonly audit: AuditLog;
  readonly metrics: EdgeMetrics;
  readonly log: Logger;
  /** Names this replica as lease holder, in logs and in the audit. */
  readonly instanceId: string;
  readonly clock?: () => number;
  readonly getTable: () => RouteTable;
  /** Turns the route's flag off in Unleash after an automatic rollback. Fire and forget: failures are logged. */
  readonly writeBack?: (routeId: string, flag: string, verdict: Verdict) => Promise<void>;
  /** How long the lease outlives a silent holder; another replica takes over after it. Default 5 s. */
  readonly leaseTtlMs?: number;
  /** Milliseconds between ticks. Default: the smallest `evaluateEvery` in the route table. */
  readonly tickMs?: number;
  /** This replica's own window, judged when the shared store is unreachable (rollback only). Default: the store's. */
  readonly localStats?: (routeId: string, windowMs: number, now: number) => RouteWindowStats;
  /** Puts a state into this replica's local view only (the store's last-known cache) while blind. Default: the store's. */
  readonly applyLocal?: (state: RouteRolloutState) => void;
  /**
   * The shadow comparison counters of a route (the diff store), fleet-wide. Without it gated routes stay in shadow
   * and the `diff` rule is not applied.
   */
  readonly diffCounters?: (routeId: string) => Promise<Counters>;
  /** Keeps every second the lease holder's judge learns, for `rf-edge judge replay`. Must not throw or wait. */
  readonly recordSecond?: (record: RecordedSecond) => void;
}

export interface RolloutControllerStatus {
  readonly leader: boolean;
  readonly blind: boolean;
  readonly lastTickAt: number | null;
  /** Routes this replica rolled back on its own while blind, not yet written to the shared store. */
  readonly pendingLocal: readonly string[];
}

export interface RolloutController {
  start(): void;
  /** Stops ticking and waits for a tick in progress. The store and the audit log stay open (the caller owns them). */
  stop(): Promise<void>;
  /** One pass over every route; `start()` runs it on a timer, tests call it directly. */
  tick(): Promise<void>;
  /** Brings every route's state in line with a (re)loaded route table; removes the state of removed routes. */
  applyConfig(table: RouteTable): Promise<void>;
  /** A person's command. Throws EdgeError RF_ROUTE_NOT_FOUND, RF_VALIDATION, RF_TRANSITION_REFUSED, RF_STATE_STORE. */
  command(
    routeId: string,
    command: RolloutCommandName,
    options: { actor: Actor; reason: string; weight?: number },
  ): Promise<RouteRolloutState>;
  isLeader(): boolean;
  status(): RolloutControllerStatus;
  /** The route's latest verdict from this replica's judge (the lease holder's, or this one's while blind). */
  lastVerdict(routeId: string): Verdict | undefined;
}

const DEFAULT_LEASE_TTL_MS = 5000;
const CAS_ATTEMPTS = 5;
const SLOT_MS = 1000;
/** A tick that comes a little early still evaluates: timers drift, and skipping would halve the judge's rate. */
const DUE_SLACK = 0.9;
/**
 * How long after a second ends the judge waits before learning it: replicas flush their outcomes to Redis in
 * batches (every 200 ms by default). The hard guards read the live window meanwhile, so this delays no rollback.
 */
const SETTLE_MS = 500;

interface PendingLocal {
  /** When this replica rolled the route back on its own. */
  readonly at: number;
}

/** A rollback's flag write-back to Unleash that has not landed yet. */
interface PendingWriteBack {
  readonly flag: string;
  readonly verdict: Verdict;
  attempts: number;
  /** When the next try is due (clock ms). */
  nextAt: number;
  inFlight: boolean;
}

/** Waits after the 1st, 2nd, … failed write-back; the last one repeats for as long as the route stays rolled back. */
const WRITE_BACK_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000] as const;

export function createRolloutController(options: RolloutControllerOptions): RolloutController {
  const { store, audit, metrics, log, instanceId, getTable } = options;
  const clock = options.clock ?? Date.now;
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const effects = { audit, metrics, log, instanceId };
  const localStats =
    options.localStats ??
    (store.localWindowStats
      ? (routeId: string, windowMs: number, now: number) => store.localWindowStats?.(routeId, windowMs, now)
      : undefined);
  const applyLocal =
    options.applyLocal ?? (store.applyLocal ? (s: RouteRolloutState) => store.applyLocal?.(s) : undefined);

  let leader = false;
  let blind = false;
  let lastTickAt: number | null = null;
  let appliedHash: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let ticking: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;
  const lastEvaluated = new Map<string, number>();
  /** Per route: service requests are counted up to (not including) this second boundary. */
  const countedUntil = new Map<string, number>();
  const pendingLocal = new Map<string, PendingLocal>();
  /**
   * Per route, the sequential judge of the current step and the `since` it judges. Fleet evidence (leader) and this
   * replica's own evidence (blind) are kept apart: they are different samples.
   */
  const judges = new Map<string, { judge: SequentialJudge; since: number }>();
  const localJudges = new Map<string, { judge: SequentialJudge; since: number }>();
  const lastVerdicts = new Map<string, Verdict>();
  /** Per route: the rollback write-back still to land in Unleash (retried on ticks while the route stays back). */
  const pendingWriteBacks = new Map<string, PendingWriteBack>();

  function setBlind(next: boolean, err?: unknown): void {
    if (next === blind) return;
    blind = next;
    if (next) {
      log.warn(
        { event: 'rollout.store_blind', err, instance: instanceId },
        'state store unreachable: not advancing any route; rolling back on local evidence only',
      );
    } else {
      log.info({ event: 'rollout.store_restored', instance: instanceId }, 'state store reachable again');
    }
  }

  function setLeader(next: boolean): void {
    if (next !== leader) {
      log.info(
        { event: next ? 'rollout.lease_acquired' : 'rollout.lease_lost', instance: instanceId },
        next ? 'this replica now runs the rollout controller' : 'this replica no longer runs the rollout controller',
      );
      // A new leader starts counting step requests afresh: what it counted in an earlier term may be stale. Its
      // judges start fresh sequences too (still valid: a sequence may start at any time).
      if (next) {
        countedUntil.clear();
        judges.clear();
      }
    }
    leader = next;
    metrics.leader.set(next ? 1 : 0);
  }

  /**
   * Applies `events` in order to the stored state and writes the result with compareAndSet, re-reading and
   * re-applying on conflict. Returns the state after the events. Throws RF_TRANSITION_REFUSED when the machine
   * refuses an event, and whatever the store throws when it is blind.
   */
  async function applyEvents(
    route: RouteConfig,
    events: readonly RolloutEvent[],
    table: RouteTable,
    now: number,
  ): Promise<{ state: RouteRolloutState | undefined; changes: StoredChange[] }> {
    for (let attempt = 1; ; attempt++) {
      const before = store.get(route.id);
      let current = before;
      const changes: StoredChange[] = [];
      for (const event of events) {
        const result = transition(current, event, route, now);
        if (!result.ok) {
          throw new EdgeError('RF_TRANSITION_REFUSED', result.message, {
            details: { routeId: route.id, event: event.type, phase: current?.phase ?? null },
          });
        }
        if (result.changed) {
          changes.push({ from: current, to: result.state, event });
          current = result.state;
        }
      }
      if (changes.length === 0 || current === undefined) return { state: current, changes: [] };
      if (await store.compareAndSet(current, before?.revision ?? -1)) {
        for (const change of changes) announceTransition(effects, change, route, table, now);
        return { state: current, changes };
      }
      if (attempt >= CAS_ATTEMPTS) {
        throw new EdgeError(
          'RF_STATE_STORE',
          `route ${route.id} kept changing under us; gave up after ${attempt} tries`,
        );
      }
      // Another writer got there first: re-read what it wrote before applying our events again.
      await store.load();
    }
  }

  function isRollbackVerdict(verdict: Verdict): boolean {
    return verdict.outcome === 'critical' || verdict.outcome === 'unhealthy';
  }

  /**
   * Turns the route's flag off in Unleash after an automatic rollback, so its UI and every other consumer of the flag
   * agree with the edge. Not awaited: the local rollback is done; Unleash catching up must never delay or undo it.
   * A failed write is tried again on later ticks (1 s, 2 s, 5 s, … then every minute) for as long as the route stays
   * rolled back: a person resuming it (or any other move) drops the retry, so a late write can never switch off a
   * flag someone has since relied on again.
   */
  function writeBackRollback(route: RouteConfig, verdict: Verdict): void {
    if (options.writeBack === undefined || route.flag === null) return;
    const pending: PendingWriteBack = { flag: route.flag, verdict, attempts: 0, nextAt: clock(), inFlight: false };
    pendingWriteBacks.set(route.id, pending);
    attemptWriteBack(route.id, pending);
  }

  function attemptWriteBack(routeId: string, pending: PendingWriteBack): void {
    const writeBack = options.writeBack;
    if (writeBack === undefined) return;
    pending.inFlight = true;
    pending.attempts++;
    const { flag, attempts } = pending;
    writeBack(routeId, flag, pending.verdict).then(
      () => {
        pending.inFlight = false;
        if (pendingWriteBacks.get(routeId) === pending) pendingWriteBacks.delete(routeId);
        log.info({ event: 'rollout.write_back_done', routeId, flag, attempts }, `flag ${flag} turned off in Unleash`);
      },
      (err: unknown) => {
        pending.inFlight = false;
        if (pendingWriteBacks.get(routeId) !== pending) return;
        const retryInMs = WRITE_BACK_RETRY_MS[Math.min(attempts, WRITE_BACK_RETRY_MS.length) - 1] ?? 60_000;
        pending.nextAt = clock() + retryInMs;
        // The first failure and every tenth at warn; Unleash being down for an hour must not flood the log.
        const level = attempts === 1 || attempts % 10 === 0 ? 'warn' : 'debug';
        log[level](
          { event: 'rollout.write_back_failed', routeId, flag, attempts, retryInMs, err },
          `could not turn flag ${flag} off in Unleash; the rollback stands locally, trying again in ${retryInMs / 1000} s`,
        );
      },
    );
  }

  /** Each tick: failed write-backs that are due, for routes still rolled back; the others are dropped. */
  function retryWriteBacks(now: number): void {
    for (const [routeId, pending] of pendingWriteBacks) {
      if (pending.inFlight || pending.nextAt > now) continue;
      const phase = store.get(routeId)?.phase;
      // A blind replica's own rollback is still rolled back while it waits to be written through (pendingLocal).
      if (phase !== 'rolled_back' && !pendingLocal.has(routeId)) {
        pendingWriteBacks.delete(routeId);
        log.info(
          { event: 'rollout.write_back_dropped', routeId, flag: pending.flag, attempts: pending.attempts, phase },
          `no longer turning flag ${pending.flag} off in Unleash: route ${routeId} is ${phase ?? 'gone'} now`,
        );
        continue;
      }
      attemptWriteBack(routeId, pending);
    }
  }

  /**
   * A blind replica's own rollback: this replica's view only, audited now, written through the store later.
   * Returns the new state, or undefined when there was nothing to roll back.
   */
  function rollBackLocally(
    route: RouteConfig,
    event: RolloutEvent,
    table: RouteTable,
    now: number,
  ): RouteRolloutState | undefined {
    const base = store.get(route.id);
    const result = transition(base, event, route, now);
    if (!result.ok || !result.changed) return undefined;
    if (applyLocal) {
      applyLocal(result.state);
    } else {
      log.error(
        { event: 'rollout.local_rollback_unapplied', routeId: route.id },
        'no applyLocal: the rollback is recorded but this replica keeps serving its last known weight',
      );
    }
    pendingLocal.set(route.id, { at: now });
    announceTransition(effects, { from: base, to: result.state, event }, route, table, now, true);
    return result.state;
  }

  /**
   * Once the store is back, it writes a blind replica's rollbacks through (the store re-asserts what `applyLocal`
   * put in its cache when its revision is still the newest). If the fleet moved on meanwhile, the fleet's state
   * wins: the leader judged the whole fleet's evidence, this replica only its own. Either way, say which.
   */
  function settleLocalRollbacks(): void {
    for (const [routeId, pending] of pendingLocal) {
      const current = store.get(routeId);
      if (current?.phase === 'rolled_back') {
        log.info(
          { event: 'rollout.local_rollback_shared', routeId, revision: current.revision },
          'the rollback this replica made while blind is now the shared state',
        );
      } else {
        log.warn(
          { event: 'rollout.local_rollback_superseded', routeId, phase: current?.phase, localAt: pending.at },
          'the shared state moved on while this replica was blind; its local rollback was replaced',
        );
      }
      pendingLocal.delete(routeId);
    }
  }

  /** Service requests since the last count, on whole seconds at least one second old (late outcomes land). */
  async function freshServiceRequests(route: RouteConfig, state: RouteRolloutState, now: number): Promise<number> {
    const upTo = Math.floor(now / SLOT_MS) * SLOT_MS - SLOT_MS;
    const stepStart = Math.floor(state.since / SLOT_MS) * SLOT_MS + SLOT_MS;
    const from = Math.max(countedUntil.get(route.id) ?? upTo, stepStart);
    countedUntil.set(route.id, Math.max(from, upTo));
    if (upTo <= from) return 0;
    const span = Math.min(upTo - from, route.rollout.windowMs);
    const stats = await store.windowStats(route.id, span, upTo - 1);
    return stats.service.requests;
  }

  /**
   * Feeds the settled seconds of `stats` to the route's judge and asks it for a verdict. The judge's own advances
   * keep the evidence (the previous step's seconds are about the same service, as in `evidenceWindowMs`); a
   * person's move, a config edit or a resume starts a new sequence at the step's first second.
   */
  function judgeWith(
    map: Map<string, { judge: SequentialJudge; since: number }>,
    route: RouteConfig,
    state: RouteRolloutState | undefined,
    stats: RouteWindowStats,
    now: number,
  ): Verdict {
    const since = state?.since ?? now;
    const fromSecond = Math.floor(since / SLOT_MS);
    let entry = map.get(route.id);
    if (entry === undefined) {
      entry = { judge: new SequentialJudge(route.id, fromSecond), since };
      map.set(route.id, entry);
    } else if (entry.since !== since) {
      if (state?.updatedBy !== 'judge') entry.judge.restart(fromSecond);
      entry.since = since;
    }
    const settled = Math.floor((now - SETTLE_MS) / SLOT_MS) - 1;
    const bySecond = new Map<number, { service?: OutcomeSlot; legacy?: OutcomeSlot }>();
    for (const slot of stats.service.seconds ?? []) bySecond.set(slot.second, { service: slot });
    for (const slot of stats.legacy.seconds ?? []) {
      const seen = bySecond.get(slot.second);
      if (seen) seen.legacy = slot;
      else bySecond.set(slot.second, { legacy: slot });
    }
    const seconds = [...bySecond.keys()].filter((s) => s <= settled).sort((a, b) => a - b);
    for (const second of seconds) {
      const pair = bySecond.get(second);
      if (second > entry.judge.lastSecond && map === judges) {
        options.recordSecond?.({ routeId: route.id, second, ...pair });
      }
      entry.judge.observe(second, pair?.service, pair?.legacy, route.rollout);
    }
    return entry.judge.verdict(route.rollout, now, stats);
  }

  function recordVerdict(verdict: Verdict): void {
    lastVerdicts.set(verdict.routeId, verdict);
    // The diff rule lives beside the judge (core/diff-judge): name it when it is what failed.
    const diffFailed = verdict.checks.some((c) => c.rule === 'diff' && !c.passed);
    const rule = failingRule(verdict);
    metrics.verdicts.inc({
      route: verdict.routeId,
      outcome: verdict.outcome,
      rule: diffFailed && (rule === 'none' || rule === 'inconclusive') ? 'diff' : rule,
    });
    setJudgeGauges(metrics, verdict);
    log.debug(
      { event: 'rollout.verdict', routeId: verdict.routeId, outcome: verdict.outcome, reason: verdict.reason },
      verdict.reason,
    );
  }

  /**
   * How far back the judge looks. Outcomes from before a person (resume, set-weight) or a config edit put the route
   * on its current step are stale: they show the service as it was before whatever was fixed, often the very
   * failures that rolled it back, and would roll a resumed route back again at its first tick. The judge's own
   * advances keep the whole window (the previous step's evidence is about the same service), and so does a paused
   * route, still judged on what it serves. Windows are whole seconds: the second the step began in is kept (a
   * resumed route had no service traffic before it), so a burst of failures right after the start still counts.
   */
  function evidenceWindowMs(route: RouteConfig, state: RouteRolloutState | undefined, now: number): number {
    const full = route.rollout.windowMs;
    if (state === undefined || state.updatedBy === 'judge' || state.phase === 'paused') return full;
    const stepSecond = Math.floor(state.since / SLOT_MS) * SLOT_MS;
    return Math.min(full, Math.max(now - stepSecond + 1, 0));
  }

  async function judgeAsLeader(route: RouteConfig, state: RouteRolloutState, table: RouteTable, now: number) {
    const automaticCanary = state.phase === 'canary' && !state.manualWeight;
    let stats: RouteWindowStats;
    let fresh = 0;
    try {
      [stats, fresh] = await Promise.all([
        store.windowStats(route.id, evidenceWindowMs(route, state, now), now),
        automaticCanary ? freshServiceRequests(route, state, now) : Promise.resolve(0),
      ]);
    } catch (err) {
      setBlind(true, err);
      judgeOnLocalEvidence(route, table, now);
      return;
    }
    let verdict = judgeWith(judges, route, state, stats, now);
    const shadow = route.shadow;
    if (shadow?.gate && options.diffCounters) {
      try {
        const counters = await options.diffCounters(route.id);
        // As for the judge's own window: after a person (resume, set-weight) put the route where it is, comparisons
        // from before are stale (often the very ones that rolled it back); whole slots after that moment count.
        const from =
          state.updatedBy === 'judge'
            ? now - shadow.window
            : Math.max(now - shadow.window, slotOf(state.since) + DIFF_SLOT_MS);
        const summary = summarize(counters, from, diffThresholds(route));
        verdict = withDiffCheck(verdict, diffCheck(summary, shadow, route.rollout.minSamples));
      } catch (err) {
        // The store being away is already reported (rollout.store_blind, diff.flush_failed); this says what it costs.
        log.debug(
          { event: 'rollout.diff_unavailable', routeId: route.id, err },
          'diff rule skipped: comparisons unreadable',
        );
      }
    }
    recordVerdict(verdict);
    const events: RolloutEvent[] = [];
    if (fresh > 0) events.push({ type: 'tick_requests', count: fresh });
    events.push({ type: 'verdict', verdict });
    try {
      const { changes } = await applyEvents(route, events, table, now);
      if (changes.some((c) => c.to.phase === 'rolled_back' && c.event.type === 'verdict')) {
        writeBackRollback(route, verdict);
      }
    } catch (err) {
      if (isRollbackVerdict(verdict)) {
        setBlind(true, err);
        if (rollBackLocally(route, { type: 'verdict', verdict }, table, now)) writeBackRollback(route, verdict);
      } else {
        log.warn({ event: 'rollout.tick_write_failed', routeId: route.id, err }, 'could not store the route state');
      }
    }
  }

  function diffThresholds(route: RouteConfig) {
    const noise = route.shadow?.noise;
    return { relative: noise?.relativeThreshold ?? 0.2, absolute: noise?.absoluteThreshold ?? 0.001 };
  }

  /** A gated route in shadow: has it compared enough answers, matching often enough, to start its first step? */
  async function judgeGate(route: RouteConfig, state: RouteRolloutState, table: RouteTable, now: number) {
    const shadow = route.shadow;
    if (!shadow || !options.diffCounters) return;
    const counters = await options.diffCounters(route.id);
    // What was compared since the route entered shadow counts (from the start of that time slot).
    const summary = summarize(counters, slotOf(state.since), diffThresholds(route));
    const gate = diffGate(summary, shadow);
    log.debug(
      { event: 'rollout.shadow_gate', routeId: route.id, outcome: gate.outcome, reason: gate.reason },
      gate.reason,
    );
    if (gate.outcome !== 'pass') return;
    await applyEvents(
      route,
      [
        {
          type: 'diff_gate',
          reason: gate.reason,
          evidence: { gate: gate.check, summary: { ...summary, fields: summary.fields.slice(0, 20) } },
        },
      ],
      table,
      now,
    );
  }

  function judgeOnLocalEvidence(route: RouteConfig, table: RouteTable, now: number): void {
    const state = store.get(route.id);
    const stats = localStats?.(route.id, evidenceWindowMs(route, state, now), now);
    if (stats === undefined || pendingLocal.has(route.id)) return;
    const verdict = judgeWith(localJudges, route, state, stats, now);
    recordVerdict(verdict);
    if (!isRollbackVerdict(verdict)) return;
    if (rollBackLocally(route, { type: 'verdict', verdict }, table, now)) writeBackRollback(route, verdict);
  }

  function due(route: RouteConfig, now: number): boolean {
    const last = lastEvaluated.get(route.id);
    if (last !== undefined && now - last < route.rollout.evaluateEveryMs * DUE_SLACK) return false;
    lastEvaluated.set(route.id, now);
    return true;
  }

  async function runTick(): Promise<void> {
    const now = clock();
    const table = getTable();
    lastTickAt = now;

    let sight = store.healthy();
    let holds = false;
    let leaseError: unknown;
    if (sight) {
      try {
        holds = await store.acquireLease(instanceId, leaseTtlMs);
      } catch (err) {
        sight = false;
        leaseError = err;
      }
    }
    setBlind(!sight, leaseError);
    setLeader(sight && holds);

    if (!blind) {
      if (appliedHash !== table.hash) await applyConfig(table);
      if (pendingLocal.size > 0) settleLocalRollbacks();
    }

    for (const route of table.routes) {
      if (route.mode !== 'canary') continue;
      const state = store.get(route.id);
      if (state?.phase === 'shadow' && route.shadow?.gate && leader && !blind && due(route, now)) {
        try {
          await judgeGate(route, state, table, now);
        } catch (err) {
          log.warn(
            { event: 'rollout.shadow_gate_failed', routeId: route.id, err },
            'the shadow gate could not be judged',
          );
        }
        continue;
      }
      if (state === undefined || !JUDGED_PHASES.has(state.phase)) continue;
      if (!blind && !leader) continue;
      if (!due(route, now)) continue;
      try {
        if (blind) judgeOnLocalEvidence(route, table, now);
        else await judgeAsLeader(route, state, table, now);
      } catch (err) {
        log.error({ event: 'rollout.tick_failed', routeId: route.id, err }, 'judging the route failed');
      }
    }

    if (pendingWriteBacks.size > 0) retryWriteBacks(now);

    const inTable = new Set(table.routes.map((r) => r.id));
    for (const [routeId, state] of store.all()) if (inTable.has(routeId)) setRouteGauges(metrics, state, now);
  }

  async function applyConfig(table: RouteTable): Promise<void> {
    const now = clock();
    let failed = false;
    for (const route of table.routes) {
      try {
        await applyEvents(route, [{ type: 'config' }], table, now);
      } catch (err) {
        failed = true;
        log.warn(
          { event: 'rollout.config_apply_failed', routeId: route.id, err },
          'could not bring the route state in line with the route table; will retry',
        );
      }
    }

    const known = new Set(table.routes.map((r) => r.id));
    const removed = [...store.all().keys()].filter((id) => !known.has(id));
    if (removed.length > 0) {
      // Only the lease holder forgets removed routes, so a fleet reloading the same file writes one audit row each.
      let mayRemove = false;
      try {
        mayRemove = store.healthy() && (await store.acquireLease(instanceId, leaseTtlMs));
      } catch (err) {
        failed = true;
        log.warn({ event: 'rollout.config_apply_failed', err }, 'could not check the lease to remove routes');
      }
      for (const routeId of mayRemove ? removed : []) {
        const before = store.get(routeId);
        if (before === undefined) continue; // a concurrent apply removed it already
        try {
          await store.remove(routeId);
        } catch (err) {
          failed = true;
          log.warn({ event: 'rollout.route_remove_failed', routeId, err }, 'could not remove the route state');
          continue;
        }
        lastEvaluated.delete(routeId);
        countedUntil.delete(routeId);
        judges.delete(routeId);
        localJudges.delete(routeId);
        lastVerdicts.delete(routeId);
        pendingLocal.delete(routeId);
        announceRemoval(effects, before, table, now);
      }
    }
    appliedHash = failed ? null : table.hash;
  }

  async function command(
    routeId: string,
    name: RolloutCommandName,
    opts: { actor: Actor; reason: string; weight?: number },
  ): Promise<RouteRolloutState> {
    const table = getTable();
    const route = table.routes.find((r) => r.id === routeId);
    if (route === undefined) throw new EdgeError('RF_ROUTE_NOT_FOUND', `no route ${routeId} in the route table`);
    let event: RolloutEvent;
    if (name === 'set_weight') {
      const weight = opts.weight;
      if (weight === undefined || !Number.isInteger(weight) || weight < 0 || weight > 100) {
        throw new EdgeError('RF_VALIDATION', `weight must be an integer from 0 to 100, got ${String(weight)}`);
      }
      event = { type: 'set_weight', actor: opts.actor, reason: opts.reason, weight };
    } else {
      event = { type: name, actor: opts.actor, reason: opts.reason };
    }
    const now = clock();
    // A route whose config never reached the store (it was blind at load) gets its starting state first.
    const events: RolloutEvent[] = store.get(routeId) === undefined ? [{ type: 'config' }, event] : [event];
    try {
      const { state } = await applyEvents(route, events, table, now);
      if (state === undefined) throw new EdgeError('RF_STATE_STORE', `route ${routeId} has no state`);
      return state;
    } catch (err) {
      if (isEdgeError(err) && (err.code === 'RF_TRANSITION_REFUSED' || err.code === 'RF_ROUTE_NOT_FOUND')) {
        log.info(
          { event: 'rollout.command_refused', routeId, command: name, actor: opts.actor, reason: err.message },
          err.message,
        );
        throw err;
      }
      if (name === 'rollback' && (blind || !store.healthy())) {
        // An emergency brake must work when the store does not: this replica stops at once, the fleet follows
        // when the store is back.
        setBlind(true, err);
        const state = rollBackLocally(route, event, table, now) ?? store.get(routeId);
        if (state !== undefined) return state;
      }
      if (isEdgeError(err)) throw err;
      throw new EdgeError('RF_STATE_STORE', `the ${name} of route ${routeId} could not be stored`, {
        cause: err,
        details: { evidence: evidenceOf(event, route) },
      });
    }
  }

  function schedule(): void {
    if (!running) return;
    const table = getTable();
    const every = Math.min(table.rollout.evaluateEveryMs, ...table.routes.map((r) => r.rollout.evaluateEveryMs));
    const delay = Math.min(Math.max(options.tickMs ?? every, 50), 60_000);
    timer = setTimeout(() => {
      timer = null;
      tick().finally(schedule);
    }, delay);
    timer.unref();
  }

  function tick(): Promise<void> {
    if (ticking) return ticking;
    ticking = runTick()
      .catch((err: unknown) => {
        log.error({ event: 'rollout.tick_failed', err }, 'controller tick failed');
      })
      .finally(() => {
        ticking = null;
      });
    return ticking;
  }

  return {
    start() {
      if (running) return;
      running = true;
      unsubscribe = store.onChange((state) => setRouteGauges(metrics, state, clock()));
      schedule();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      unsubscribe?.();
      unsubscribe = null;
      if (ticking) await ticking;
    },
    tick,
    applyConfig,
    command,
    isLeader: () => leader,
    status: () => ({ leader, blind, lastTickAt, pendingLocal: [...pendingLocal.keys()] }),
    lastVerdict: (routeId) => lastVerdicts.get(routeId),
  };
}
