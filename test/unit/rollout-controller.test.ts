// The rollout controller with fake stores and an injected clock: it advances a healthy service step by step,
// rolls back a failing one and keeps it there, holds without data, obeys people, leaves advancing to the lease
// holder, and, blind, never advances but still rolls back on its own evidence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import type { RolloutPolicy, RouteTable } from '../../src/config/types.ts';
import { createRolloutController, type RolloutController } from '../../src/controller/rollout-controller.ts';
import { EdgeError } from '../../src/core/errors.ts';
import type { Outcome, RouteRolloutState, Verdict } from '../../src/core/types.ts';
import {
  createFakeAuditLog,
  createFakeStateStore,
  type FakeAuditLog,
  type FakeStateStore,
} from '../support/fake-state-store.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { TEST_ROLLOUT, testTable } from '../support/route-table-fixtures.ts';

const T0 = 1_700_000_000_000;
const ROUTE = 'agents-read';
const FAST: RolloutPolicy = {
  ...TEST_ROLLOUT,
  stepIntervalMs: 10_000,
  minRequests: 20,
  windowMs: 5_000,
  evaluateEveryMs: 1_000,
  minSamples: 20,
};

function fastTable(
  routes: { id: string; mode?: 'legacy' | 'shadow' | 'canary' | 'service' }[],
  hash = 'hash-1',
): RouteTable {
  const base = testTable(routes.map((r) => ({ id: r.id, path: `/api/${r.id}/*`, mode: r.mode ?? 'canary' })));
  return { ...base, rollout: FAST, routes: base.routes.map((r) => ({ ...r, rollout: FAST })), hash };
}

interface Harness {
  controller: RolloutController;
  store: FakeStateStore;
  audit: FakeAuditLog;
  metrics: EdgeMetrics;
  logs: CapturedLog;
  writeBacks: { routeId: string; flag: string; verdict: Verdict }[];
  clock: { now: number };
  setTable(table: RouteTable): void;
  state(routeId?: string): RouteRolloutState | undefined;
}

function harness(
  options: {
    store?: FakeStateStore;
    clock?: { now: number };
    instanceId?: string;
    /** How many write-backs fail before they succeed (Infinity: all). */
    writeBackFailures?: number;
  } = {},
): Harness {
  const clock = options.clock ?? { now: T0 };
  const store = options.store ?? createFakeStateStore({ clock: () => clock.now });
  const audit = createFakeAuditLog();
  const metrics = createMetrics({ processMetrics: false });
  const logs = captureLog('debug');
  const writeBacks: Harness['writeBacks'] = [];
  let table = fastTable([{ id: ROUTE }]);
  const controller = createRolloutController({
    store,
    audit,
    metrics,
    log: logs.log,
    instanceId: options.instanceId ?? 'replica-a',
    clock: () => clock.now,
    getTable: () => table,
    leaseTtlMs: 5_000,
    writeBack: async (routeId, flag, verdict) => {
      writeBacks.push({ routeId, flag, verdict });
      if (writeBacks.length <= (options.writeBackFailures ?? 0)) throw new Error('unleash said 503');
    },
  });
  return {
    controller,
    store,
    audit,
    metrics,
    logs,
    writeBacks,
    clock,
    setTable: (next) => {
      table = next;
    },
    state: (routeId = ROUTE) => store.get(routeId),
  };
}

interface TrafficShape {
  legacyPerSecond?: number;
  servicePerSecond?: number;
  serviceStatus?: (i: number) => number;
  serviceLatencyMs?: number;
  serviceTransportError?: boolean;
  routeId?: string;
}

/** Records one second of outcomes into `store`, then moves the clock to the end of that second. */
function oneSecond(store: FakeStateStore, clock: { now: number }, shape: TrafficShape): void {
  const legacy = shape.legacyPerSecond ?? 60;
  const service = shape.servicePerSecond ?? 20;
  const routeId = shape.routeId ?? ROUTE;
  const start = clock.now;
  const record = (o: Omit<Outcome, 'routeId'>) => store.recordOutcome({ routeId, ...o });
  for (let i = 0; i < legacy; i++) {
    record({ target: 'legacy', status: 200, latencyMs: 5, transportError: false, at: start + (i * 1000) / legacy });
  }
  for (let i = 0; i < service; i++) {
    const transportError = shape.serviceTransportError ?? false;
    record({
      target: 'service',
      status: transportError ? 0 : (shape.serviceStatus?.(i) ?? 200),
      latencyMs: shape.serviceLatencyMs ?? 6,
      transportError,
      at: start + (i * 1000) / service,
    });
  }
  clock.now = start + 1000;
}

/** `seconds` seconds of traffic, with a controller tick at the end of each. */
async function run(h: Harness, seconds: number, shape: TrafficShape = {}, tickers = [h.controller]): Promise<void> {
  for (let s = 0; s < seconds; s++) {
    oneSecond(h.store, h.clock, shape);
    for (const c of tickers) await c.tick();
  }
}

/** Lets write-back promises settle (they are not awaited by the controller). */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs second after second (ticking, letting write-backs settle) until `done`, at most two minutes. */
async function secondsUntil(h: Harness, done: () => boolean, shape: TrafficShape = {}): Promise<void> {
  for (let s = 0; s < 120 && !done(); s++) {
    await run(h, 1, shape);
    await settled();
  }
  assert.ok(done(), 'not reached within two minutes of ticks');
}

async function gauge(metrics: EdgeMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  const data = await metric?.get();
  const match = data?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value;
}

const halfFail = (i: number) => (i % 2 === 0 ? 503 : 200);

describe('advancing', () => {
  test('a healthy service goes 10 → 20 → 30 → 40 → 50, each step after stepInterval and minRequests, then holds', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    assert.equal(h.state()?.phase, 'canary');
    assert.equal(h.state()?.weight, 10);

    await run(h, 90);

    const steps = h.store.writes.filter((w, i, all) => i === 0 || all[i - 1]?.weight !== w.weight);
    assert.deepEqual(
      steps.map((w) => w.weight),
      [10, 20, 30, 40, 50],
    );
    for (let i = 1; i < steps.length; i++) {
      const onStep = (steps[i]?.since ?? 0) - (steps[i - 1]?.since ?? 0);
      assert.ok(onStep >= FAST.stepIntervalMs, `step ${i} lasted ${onStep} ms`);
    }
    const final = h.state();
    assert.equal(final?.phase, 'holding');
    assert.equal(final?.weight, 50);
    assert.equal(final?.updatedBy, 'judge');
    assert.match(final?.reason ?? '', /advanced to step 5\/5 \(50%\)/);

    const judged = h.audit.events.filter((e) => e.actor === 'judge');
    assert.deepEqual(
      judged.map((e) => `${e.from}:${e.fromWeight}→${e.to}:${e.toWeight}`),
      ['canary:10→canary:20', 'canary:20→canary:30', 'canary:30→canary:40', 'canary:40→holding:50'],
    );
    const evidence = judged[0]?.evidence as Verdict;
    assert.equal(evidence.outcome, 'healthy');
    assert.ok(evidence.figures.service.requests >= FAST.minSamples);
    assert.equal(judged[0]?.configHash, 'hash-1');

    assert.equal(await gauge(h.metrics, 'rf_edge_route_weight_percent', { route: ROUTE }), 50);
    assert.equal(await gauge(h.metrics, 'rf_edge_route_state', { route: ROUTE, phase: 'holding' }), 1);
    assert.equal(await gauge(h.metrics, 'rf_edge_route_state', { route: ROUTE, phase: 'canary' }), 0);
    assert.equal(
      await gauge(h.metrics, 'rf_edge_transitions_total', { route: ROUTE, from: 'canary', to: 'holding' }),
      1,
    );
    assert.ok(
      ((await gauge(h.metrics, 'rf_edge_verdicts_total', { route: ROUTE, outcome: 'healthy', rule: 'none' })) ?? 0) >
        50,
    );
    const transitions = h.logs.events('rollout.transition');
    assert.ok(transitions.some((l) => l.to === 'holding' && l.toWeight === 50 && String(l.reason).includes('healthy')));
  });

  test('too little traffic holds the step however long it lasts', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    // The evidence adds up over the step (a sequential test): only a service that gets nothing holds for good.
    await run(h, 60, { servicePerSecond: 0 });
    assert.equal(h.state()?.weight, 10);
    assert.equal(h.state()?.phase, 'canary');
    const held = await gauge(h.metrics, 'rf_edge_verdicts_total', {
      route: ROUTE,
      outcome: 'insufficient_data',
      rule: 'min_samples',
    });
    assert.ok((held ?? 0) >= 55, `insufficient_data verdicts: ${held}`);
  });

  test('a step needs minRequests service requests even when healthy and old enough', async () => {
    const h = harness();
    const table = fastTable([{ id: ROUTE }]);
    const strict = { ...FAST, minRequests: 100_000 };
    const strictTable = { ...table, routes: table.routes.map((r) => ({ ...r, rollout: strict })) };
    h.setTable(strictTable);
    await h.controller.applyConfig(strictTable);
    await run(h, 40);
    assert.equal(h.state()?.weight, 10);
    assert.ok((h.state()?.stepRequests ?? 0) > 500, `counted ${h.state()?.stepRequests} service requests`);
  });
});

describe('rolling back', () => {
  test('50% 5xx at step 20 rolls back to 0% with an audit row, metric, log line and write-back, and it stays', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await run(h, 15);
    assert.equal(h.state()?.weight, 20);

    const faultAt = h.clock.now;
    await run(h, 3, { serviceStatus: halfFail });
    const rolledBack = h.state();
    assert.equal(rolledBack?.phase, 'rolled_back');
    assert.equal(rolledBack?.weight, 0);
    assert.equal(rolledBack?.updatedBy, 'judge');
    assert.ok((rolledBack?.since ?? 0) - faultAt <= 3_000);

    const row = h.audit.events.find((e) => e.to === 'rolled_back');
    assert.ok(row, 'an audit row for the rollback');
    assert.equal(row.from, 'canary');
    assert.equal(row.fromWeight, 20);
    assert.equal(row.toWeight, 0);
    assert.equal(row.actor, 'judge');
    const verdict = row.evidence as Verdict;
    // Half the service's answers failing against none of the monolith's is the hard guard's case: at once.
    assert.equal(verdict.outcome, 'critical');
    assert.ok(verdict.figures.service.errors > 0);
    assert.ok(verdict.checks.some((c) => c.rule === 'error_burst' && !c.passed && c.threshold === 0.1));
    assert.match(
      row.reason,
      /^last 5 s: service errors \d+\/\d+ vs monolith 0\/\d+; the service is at least \d+\.\d+% worse/,
    );

    assert.equal(await gauge(h.metrics, 'rf_edge_rollbacks_total', { route: ROUTE, actor: 'judge' }), 1);
    assert.equal(await gauge(h.metrics, 'rf_edge_route_weight_percent', { route: ROUTE }), 0);
    const line = h.logs.events('rollout.transition').find((l) => l.to === 'rolled_back');
    assert.equal(line?.level, 'warn');
    assert.equal(line?.reason, row.reason);
    assert.equal(h.writeBacks.length, 1);
    assert.deepEqual([h.writeBacks[0]?.routeId, h.writeBacks[0]?.flag], [ROUTE, `raptorflow.${ROUTE}`]);

    await run(h, 60); // healthy again: still rolled back until a person resumes
    assert.equal(h.state()?.phase, 'rolled_back');
    assert.equal(h.audit.events.filter((e) => e.to === 'rolled_back').length, 1);
  });

  test('a burst of transport failures rolls back on the next tick, before the window fills', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await run(h, 1, { servicePerSecond: 6, serviceTransportError: true });
    assert.equal(h.state()?.phase, 'rolled_back');
    const verdict = h.audit.events.find((e) => e.to === 'rolled_back')?.evidence as Verdict;
    assert.equal(verdict.outcome, 'critical');
    assert.match(h.state()?.reason ?? '', /failed 6 times in a row/);
  });

  test('a failed write-back is logged and the rollback stands', async () => {
    const h = harness({ writeBackFailures: Number.POSITIVE_INFINITY });
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await run(h, 6, { serviceStatus: () => 500 });
    await settled();
    assert.equal(h.state()?.phase, 'rolled_back');
    const failed = h.logs.events('rollout.write_back_failed');
    assert.ok(failed.length >= 1);
    assert.equal(failed[0]?.level, 'warn');
    assert.equal(failed[0]?.attempts, 1);
    assert.equal(failed[0]?.retryInMs, 1000);
  });

  test('a failed write-back is tried again on later ticks (1 s, then 2 s) until Unleash takes it', async () => {
    const h = harness({ writeBackFailures: 2 });
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await secondsUntil(h, () => h.writeBacks.length === 1, { serviceStatus: () => 500 });
    assert.equal(h.state()?.phase, 'rolled_back');
    const rolledBackAt = h.clock.now;
    await secondsUntil(h, () => h.logs.events('rollout.write_back_done').length === 1);
    assert.equal(h.writeBacks.length, 3, 'two failures, then the write that landed');
    assert.ok(h.clock.now - rolledBackAt >= 3000, `retried after 1 s and 2 s (${h.clock.now - rolledBackAt} ms)`);
    assert.deepEqual(
      h.logs.events('rollout.write_back_failed').map((l) => [l.attempts, l.retryInMs, l.level]),
      [
        [1, 1000, 'warn'],
        [2, 2000, 'debug'],
      ],
    );
    assert.equal(h.logs.events('rollout.write_back_done')[0]?.attempts, 3);
    await run(h, 90);
    assert.equal(h.writeBacks.length, 3, 'nothing more once it landed');
    assert.equal(h.state()?.phase, 'rolled_back');
  });

  test('a person resuming the route drops a pending write-back: the flag is never switched off after that', async () => {
    const h = harness({ writeBackFailures: Number.POSITIVE_INFINITY });
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await secondsUntil(h, () => h.writeBacks.length === 1, { serviceStatus: () => 500 });
    await h.controller.command(ROUTE, 'resume', { actor: 'admin:ops', reason: 'fixed the service' });
    const tries = h.writeBacks.length;
    await run(h, 10);
    await settled();
    assert.equal(h.writeBacks.length, tries, 'no write-back after the resume');
    const dropped = h.logs.events('rollout.write_back_dropped');
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]?.phase, h.state()?.phase);
    assert.notEqual(h.state()?.phase, 'rolled_back');
  });
});

describe('manual commands', () => {
  const ops = { actor: 'admin:ops' as const, reason: 'maintenance window' };

  test('pause holds a healthy route; resume continues; set-weight pins; promote takes it to 100%', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));

    const paused = await h.controller.command(ROUTE, 'pause', ops);
    assert.equal(paused.phase, 'paused');
    assert.equal(paused.updatedBy, 'admin:ops');
    await run(h, 30);
    assert.equal(h.state()?.phase, 'paused');
    assert.equal(h.state()?.weight, 10);

    const again = await h.controller.command(ROUTE, 'pause', ops);
    assert.equal(again.revision, paused.revision, 'pausing a paused route changes nothing');

    await h.controller.command(ROUTE, 'resume', ops);
    await run(h, 15);
    assert.equal(h.state()?.weight, 20);

    const pinned = await h.controller.command(ROUTE, 'set_weight', { ...ops, weight: 35 });
    assert.deepEqual([pinned.phase, pinned.weight, pinned.manualWeight], ['canary', 35, true]);
    await run(h, 30);
    assert.equal(h.state()?.weight, 35, 'the controller does not move a pinned weight');

    const promoted = await h.controller.command(ROUTE, 'promote', ops);
    assert.deepEqual([promoted.phase, promoted.weight], ['promoted', 100]);

    const audited = h.audit.events.filter((e) => e.actor === 'admin:ops').map((e) => `${e.to}:${e.toWeight}`);
    assert.deepEqual(audited, ['paused:10', 'canary:10', 'canary:35', 'promoted:100']);
    assert.deepEqual(h.audit.events.at(-1)?.evidence, { command: 'promote', actor: 'admin:ops', reason: ops.reason });
    assert.equal(h.audit.events.at(-1)?.reason, 'maintenance window');
  });

  test('a paused or pinned route still rolls back on failure, and resume restarts it from the first step', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await h.controller.command(ROUTE, 'set_weight', { ...ops, weight: 40 });
    await h.controller.command(ROUTE, 'pause', ops);
    await run(h, 4, { serviceStatus: halfFail });
    assert.equal(h.state()?.phase, 'rolled_back');

    const resumed = await h.controller.command(ROUTE, 'resume', ops);
    assert.deepEqual(
      [resumed.phase, resumed.stepIndex, resumed.weight, resumed.manualWeight],
      ['canary', 0, 10, false],
    );
  });

  test('refusals and bad input are coded errors', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await h.controller.command(ROUTE, 'promote', ops);
    await assert.rejects(h.controller.command(ROUTE, 'resume', ops), (err: unknown) => {
      assert.ok(err instanceof EdgeError);
      assert.equal(err.code, 'RF_TRANSITION_REFUSED');
      assert.equal(err.status, 409);
      assert.match(err.message, /is promoted/);
      return true;
    });
    await assert.rejects(h.controller.command('nope', 'pause', ops), { code: 'RF_ROUTE_NOT_FOUND' });
    await assert.rejects(h.controller.command(ROUTE, 'set_weight', { ...ops, weight: 150 }), { code: 'RF_VALIDATION' });
    await assert.rejects(h.controller.command(ROUTE, 'set_weight', ops), { code: 'RF_VALIDATION' });
    assert.equal(h.state()?.phase, 'promoted');
    assert.equal(h.logs.events('rollout.command_refused').length, 1);
  });

  test('a command racing another writer is re-applied to the newer state', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    let raced = false;
    h.store.beforeCompareAndSet = (next) => {
      if (raced) return;
      raced = true;
      const current = h.store.shared.get(ROUTE);
      if (current) h.store.writeBehindTheBack({ ...current, weight: 20, stepIndex: 1, revision: next.revision });
    };
    const paused = await h.controller.command(ROUTE, 'pause', ops);
    assert.equal(raced, true);
    assert.equal(paused.phase, 'paused');
    assert.equal(paused.weight, 20, 'paused on top of the other writer’s step, not over it');
    assert.equal(h.store.shared.get(ROUTE)?.revision, paused.revision);
  });

  test('a manual rollback while the store is blind still takes effect on this replica', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    h.store.blind = true;
    const state = await h.controller.command(ROUTE, 'rollback', ops);
    assert.equal(state.phase, 'rolled_back');
    assert.equal(h.state()?.phase, 'rolled_back');
    assert.equal(h.store.shared.get(ROUTE)?.phase, 'canary');
    await assert.rejects(h.controller.command(ROUTE, 'resume', ops), { code: 'RF_STATE_STORE' });
    h.store.heal();
    assert.equal(h.store.shared.get(ROUTE)?.phase, 'rolled_back');
  });
});

describe('many replicas', () => {
  /** Two replicas over one shared store and clock, both with ROUTE loaded. */
  async function twoReplicas() {
    const clock = { now: T0 };
    const store = createFakeStateStore({ clock: () => clock.now });
    const a = harness({ store, clock, instanceId: 'replica-a' });
    const b = harness({ store, clock, instanceId: 'replica-b' });
    await a.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await b.controller.applyConfig(fastTable([{ id: ROUTE }]));
    return { store, a, b };
  }

  test('a replica without the lease never advances; it takes over once the lease lapses', async () => {
    const { store, a, b } = await twoReplicas();

    await run(a, 1, {}, [a.controller, b.controller]);
    assert.equal(a.controller.isLeader(), true);
    assert.equal(b.controller.isLeader(), false);

    // Only a's lease keeps being renewed... until a stops: b alone ticks with healthy traffic.
    await run(b, 3, {}, [b.controller]);
    assert.equal(b.controller.isLeader(), false, 'the lease has not lapsed yet');
    const writesBefore = store.writes.length;
    await run(b, 30, {}, [b.controller]);
    assert.equal(b.controller.isLeader(), true, 'took over after the lease ttl');
    assert.ok(store.writes.length > writesBefore);

    const takenBy = b.logs.events('rollout.lease_acquired');
    assert.equal(takenBy.length, 1);
    assert.equal(
      a.audit.events.filter((e) => e.actor === 'judge').length,
      0,
      'a took no step after it stopped ticking',
    );
    const taken = b.audit.events.filter((e) => e.actor === 'judge').map((e) => e.toWeight);
    assert.ok(taken.length >= 2, `b advanced: ${taken.join(', ')}`);
    assert.deepEqual(taken, [20, 30, 40, 50].slice(0, taken.length), 'step by step, none skipped or repeated');
    assert.equal(store.get(ROUTE)?.weight, taken.at(-1));
  });

  test('while a leader runs, the other replica takes no step at all', async () => {
    const { store, a, b } = await twoReplicas();
    await run(a, 50, {}, [a.controller, b.controller]);
    assert.equal(store.get(ROUTE)?.weight, 50);
    assert.equal(b.audit.events.filter((e) => e.actor === 'judge').length, 0);
    assert.deepEqual(
      a.audit.events.filter((e) => e.actor === 'judge').map((e) => e.toWeight),
      [20, 30, 40, 50],
      'each step taken once',
    );
  });
});

describe('a blind store', () => {
  test('never advances, but rolls back on local evidence, applied and audited locally, then shared', async () => {
    const h = harness();
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    await run(h, 3);
    h.store.blind = true;
    const casBefore = h.store.writes.length;

    await run(h, 40);
    assert.equal(h.state()?.weight, 10, 'no advance while blind');
    assert.equal(h.store.writes.length, casBefore);
    assert.equal(h.controller.status().blind, true);
    assert.equal(h.controller.isLeader(), false);
    assert.equal(h.logs.events('rollout.store_blind').length, 1);

    await run(h, 3, { serviceStatus: halfFail });
    assert.equal(h.state()?.phase, 'rolled_back', 'this replica serves the rollback at once');
    assert.equal(h.store.shared.get(ROUTE)?.phase, 'canary', 'the shared store could not be told yet');
    assert.deepEqual(h.controller.status().pendingLocal, [ROUTE]);
    const row = h.audit.events.find((e) => e.to === 'rolled_back');
    assert.ok(row, 'the local rollback is audited');
    assert.equal(row.actor, 'judge');
    // 50 % errors against none: the hard guard, far beyond the monolith.
    assert.equal((row.evidence as Verdict).outcome, 'critical');
    assert.equal(h.logs.events('rollout.transition').find((l) => l.to === 'rolled_back')?.local, true);
    assert.equal(h.writeBacks.length, 1);

    h.store.heal();
    await run(h, 1);
    assert.equal(h.store.shared.get(ROUTE)?.phase, 'rolled_back');
    assert.deepEqual(h.controller.status().pendingLocal, []);
    assert.equal(h.logs.events('rollout.local_rollback_shared').length, 1);
    assert.equal(h.audit.events.filter((e) => e.to === 'rolled_back').length, 1, 'audited once');
  });
});

describe('configuration', () => {
  test('routes start at their first step, keep their step across a reload, and removed routes are forgotten', async () => {
    const h = harness();
    const table = fastTable([{ id: ROUTE }, { id: 'orders', mode: 'legacy' }, { id: 'billing', mode: 'service' }]);
    h.setTable(table);
    await h.controller.applyConfig(table);
    assert.deepEqual(
      [ROUTE, 'orders', 'billing'].map((id) => `${h.state(id)?.phase}:${h.state(id)?.weight}`),
      ['canary:10', 'off:0', 'promoted:100'],
    );
    await run(h, 15);
    assert.equal(h.state()?.weight, 20);

    // A restart: a new controller on the same store resumes the step.
    const again = harness({ store: h.store, clock: h.clock });
    again.setTable(table);
    await again.controller.applyConfig(table);
    assert.equal(again.state()?.weight, 20);
    assert.equal(again.audit.events.length, 0, 'nothing changed, nothing audited');

    const smaller = fastTable([{ id: ROUTE }], 'hash-2');
    h.setTable(smaller);
    await h.controller.applyConfig(smaller);
    assert.equal(h.state('orders'), undefined);
    assert.equal(h.state('billing'), undefined);
    const removed = h.audit.events.filter((e) => e.reason === 'route removed from routes.yaml');
    assert.deepEqual(removed.map((e) => `${e.routeId}:${e.from}→${e.to}`).sort(), [
      'billing:promoted→off',
      'orders:off→off',
    ]);
    assert.equal(removed[0]?.configHash, 'hash-2');
    assert.equal(await gauge(h.metrics, 'rf_edge_route_weight_percent', { route: 'billing' }), undefined);
  });

  test('a table the store could not take is applied by a later tick', async () => {
    const h = harness();
    h.store.blind = true;
    await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
    assert.equal(h.state(), undefined);
    assert.equal(h.logs.events('rollout.config_apply_failed').length, 1);
    h.store.blind = false;
    await h.controller.tick();
    assert.equal(h.state()?.weight, 10);
  });
});

test('start() ticks on a timer and stop() ends it', async () => {
  const h = harness();
  await h.controller.applyConfig(fastTable([{ id: ROUTE }]));
  const ticking = createRolloutController({
    store: h.store,
    audit: h.audit,
    metrics: h.metrics,
    log: h.logs.log,
    instanceId: 'timer',
    clock: () => h.clock.now,
    getTable: () => fastTable([{ id: ROUTE }]),
    tickMs: 10,
  });
  ticking.start();
  const started = Date.now();
  while (ticking.status().lastTickAt === null && Date.now() - started < 2000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await ticking.stop();
  assert.equal(ticking.status().lastTickAt, h.clock.now);
  assert.equal(ticking.isLeader(), true);
});
