// The judge must not hold the failures that caused a rollback against the route a person resumed: resumed within
// the window, the old failures are still in it (a rolled-back route sends the service nothing new to dilute them),
// and the first tick would roll the route back again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetrics } from '../../src/adapters/metrics.ts';
import type { RolloutPolicy, RouteTable } from '../../src/config/types.ts';
import { createRolloutController, type RolloutController } from '../../src/controller/rollout-controller.ts';
import type { Outcome } from '../../src/core/types.ts';
import { createFakeAuditLog, createFakeStateStore, type FakeStateStore } from '../support/fake-state-store.ts';
import { captureLog } from '../support/log-capture.ts';
import { TEST_ROLLOUT, testTable } from '../support/route-table-fixtures.ts';

const T0 = 1_700_000_000_000;
const ROUTE = 'agents-read';
const POLICY: RolloutPolicy = {
  ...TEST_ROLLOUT,
  stepIntervalMs: 1_000,
  minRequests: 10,
  windowMs: 10_000,
  evaluateEveryMs: 1_000,
  minSamples: 10,
};

function table(): RouteTable {
  const base = testTable([{ id: ROUTE, path: `/api/${ROUTE}/*`, mode: 'canary' }]);
  return { ...base, rollout: POLICY, routes: base.routes.map((r) => ({ ...r, rollout: POLICY })) };
}

interface Rig {
  readonly controller: RolloutController;
  readonly store: FakeStateStore;
  readonly clock: { now: number };
}

function rig(): Rig {
  const clock = { now: T0 };
  const store = createFakeStateStore({ clock: () => clock.now });
  const t = table();
  const controller = createRolloutController({
    store,
    audit: createFakeAuditLog(),
    metrics: createMetrics({ processMetrics: false }),
    log: captureLog('debug').log,
    instanceId: 'replica-a',
    clock: () => clock.now,
    getTable: () => t,
  });
  return { controller, store, clock };
}

/** One second of traffic on the route (the service only when `service` says so), then a tick. */
async function second(r: Rig, service: { count: number; status: number } | null): Promise<void> {
  const start = r.clock.now;
  const record = (o: Omit<Outcome, 'routeId'>) => r.store.recordOutcome({ routeId: ROUTE, ...o });
  for (let i = 0; i < 50; i++) {
    record({ target: 'legacy', status: 200, latencyMs: 5, transportError: false, at: start + i * 20 });
  }
  for (let i = 0; i < (service?.count ?? 0); i++) {
    const status = service?.status ?? 200;
    record({ target: 'service', status, latencyMs: 6, transportError: false, at: start + i * 40 });
  }
  r.clock.now = start + 1000;
  await r.controller.tick();
}

describe('evidence from before a resume', () => {
  test('a route resumed within the window is not rolled back again on the failures that rolled it back', async () => {
    const r = rig();
    await r.controller.applyConfig(table());
    await second(r, { count: 20, status: 200 });
    await second(r, { count: 20, status: 503 });
    assert.equal(r.store.get(ROUTE)?.phase, 'rolled_back');

    await second(r, null);
    const resumed = await r.controller.command(ROUTE, 'resume', { actor: 'admin:alice', reason: 'fixed' });
    assert.deepEqual([resumed.phase, resumed.weight], ['canary', 10]);
    // Two seconds later the 503s are still inside the 10 s window; only healthy answers came since the resume.
    await second(r, { count: 20, status: 200 });
    await second(r, { count: 20, status: 200 });
    assert.equal(r.store.get(ROUTE)?.phase, 'canary');
  });

  test('the resumed route is still rolled back when it fails again', async () => {
    const r = rig();
    await r.controller.applyConfig(table());
    await second(r, { count: 20, status: 503 });
    assert.equal(r.store.get(ROUTE)?.phase, 'rolled_back');
    await r.controller.command(ROUTE, 'resume', { actor: 'admin:alice', reason: 'fixed' });
    await second(r, { count: 20, status: 503 });
    assert.equal(r.store.get(ROUTE)?.phase, 'rolled_back');
    assert.equal(r.store.get(ROUTE)?.updatedBy, 'judge');
  });

  test('a step the judge advanced to still rolls back within seconds of failing', async () => {
    const r = rig();
    await r.controller.applyConfig(table());
    for (let s = 0; s < 8 && r.store.get(ROUTE)?.weight === 10; s++) await second(r, { count: 20, status: 200 });
    const advanced = r.store.get(ROUTE);
    assert.deepEqual([advanced?.weight, advanced?.updatedBy], [20, 'judge']);
    // The judge's own advance keeps the healthy seconds in the window, which dilute the failures for a moment.
    for (let s = 0; s < 3 && r.store.get(ROUTE)?.phase !== 'rolled_back'; s++) {
      await second(r, { count: 20, status: 503 });
    }
    assert.equal(r.store.get(ROUTE)?.phase, 'rolled_back');
  });
});
