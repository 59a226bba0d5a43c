// Two replicas' state stores on one real Redis: they agree on route state, add up each other's outcomes, and
// elect one controller.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { createRedisStateStore, type RedisStateStore } from '../../src/adapters/state/index.ts';
import { EdgeError } from '../../src/core/errors.ts';
import type { RouteRolloutState } from '../../src/core/types.ts';
import { deleteRedisKeys, redisUrl, uniqueRedisPrefix } from '../support/databases.ts';
import { captureLog } from '../support/log-capture.ts';
import { nextState, outcome, routeState } from '../support/state-fixtures.ts';
import { waitFor } from '../support/wait.ts';

const prefix = uniqueRedisPrefix('sharing');
const stores: RedisStateStore[] = [];

function replica(instanceId: string, port?: number): RedisStateStore {
  const store = createRedisStateStore({
    url: redisUrl(port),
    keyPrefix: prefix,
    instanceId,
    log: captureLog().log,
    metrics: createMetrics({ processMetrics: false }),
    flushIntervalMs: 50,
    resyncIntervalMs: 300,
  });
  stores.push(store);
  return store;
}

describe('Redis state store shared by two replicas', () => {
  let a: RedisStateStore;
  let b: RedisStateStore;

  before(async () => {
    a = replica('replica-a');
    b = replica('replica-b');
    await Promise.all([a.load(), b.load()]);
  });

  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await deleteRedisKeys(prefix);
  });

  test('both are healthy once loaded', () => {
    assert.equal(a.healthy(), true);
    assert.equal(b.healthy(), true);
  });

  test('a compare-and-set conflict: only the first of two writers on the same revision wins', async () => {
    const first = routeState({ routeId: 'cas-route', revision: 0 });
    assert.equal(await a.compareAndSet(first, -1), true);
    // b has not heard of it yet or has: either way its write on "no state" must be refused.
    assert.equal(await b.compareAndSet(routeState({ routeId: 'cas-route', weight: 50, revision: 0 }), -1), false);

    await waitFor('b to learn revision 0', () => b.get('cas-route')?.revision === 0, 3000);
    const fromA = nextState(first, { stepIndex: 1, weight: 20 });
    const fromB = nextState(first, { phase: 'rolled_back', stepIndex: -1, weight: 0 });
    const results = await Promise.all([a.compareAndSet(fromA, 0), b.compareAndSet(fromB, 0)]);
    assert.deepEqual(
      results.filter((r) => r),
      [true],
      'exactly one of the racing writers must win',
    );
    const winner = results[0] ? fromA : fromB;
    await waitFor(
      'both to hold the winner',
      () => a.get('cas-route')?.weight === winner.weight && b.get('cas-route')?.weight === winner.weight,
      3000,
    );
    assert.deepEqual(a.get('cas-route'), winner);
    assert.deepEqual(b.get('cas-route'), winner);
  });

  test('the loser of a race learns the winning state at once', async () => {
    const base = routeState({ routeId: 'loser-route', revision: 3 });
    assert.equal(await a.compareAndSet(base, -1), true);
    const winner = nextState(base, { weight: 30, stepIndex: 2 });
    assert.equal(await a.compareAndSet(winner, 3), true);
    // b tries to write over revision 3 without having seen 4.
    const stale = nextState(base, { weight: 0, phase: 'paused', pausedFrom: 'canary' });
    assert.equal(await b.compareAndSet(stale, 3), false);
    assert.equal(b.get('loser-route')?.revision, 4);
    assert.equal(b.get('loser-route')?.weight, 30);
  });

  test('a change by one replica reaches the other within 1 s, and onChange fires once per revision', async () => {
    const seen: RouteRolloutState[] = [];
    const stop = b.onChange((state) => {
      if (state.routeId === 'pubsub-route') seen.push(state);
    });
    try {
      const state = routeState({ routeId: 'pubsub-route', weight: 40, stepIndex: 3, revision: 7 });
      const started = Date.now();
      assert.equal(await a.compareAndSet(state, -1), true);
      await waitFor('b to see the change', () => b.get('pubsub-route')?.revision === 7, 1000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 1000, `took ${elapsed} ms`);
      assert.deepEqual(b.get('pubsub-route'), state);
      // Wait past a resync so a duplicate notification would have shown up.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(
        seen.map((s) => s.revision),
        [7],
      );
    } finally {
      stop();
    }
  });

  test('a write by another replica is also announced to the writer itself', async () => {
    const seen: number[] = [];
    const stop = a.onChange((state) => {
      if (state.routeId === 'echo-route') seen.push(state.revision);
    });
    try {
      assert.equal(await a.compareAndSet(routeState({ routeId: 'echo-route', revision: 1 }), -1), true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(seen, [1]);
    } finally {
      stop();
    }
  });

  test('remove() forgets the route on every replica', async () => {
    assert.equal(await a.compareAndSet(routeState({ routeId: 'gone-route', revision: 0 }), -1), true);
    await waitFor('b to see it', () => b.get('gone-route') !== undefined, 3000);
    await b.remove('gone-route');
    assert.equal(b.get('gone-route'), undefined);
    await waitFor('a to forget it', () => a.get('gone-route') === undefined, 1000);
    assert.equal(a.all().has('gone-route'), false);
  });

  test('a write whose revision does not move forward is refused', async () => {
    await assert.rejects(
      a.compareAndSet(routeState({ routeId: 'bad-revision', revision: 2 }), 2),
      (err: unknown) => err instanceof EdgeError && err.code === 'RF_STATE_STORE',
    );
  });

  test('window stats add up the outcomes of both replicas', async () => {
    const now = Date.now();
    for (let i = 0; i < 30; i++) a.recordOutcome(outcome({ routeId: 'window-route', at: now - 1500, latencyMs: 20 }));
    for (let i = 0; i < 10; i++) {
      a.recordOutcome(outcome({ routeId: 'window-route', at: now - 500, status: 503, latencyMs: 20 }));
    }
    for (let i = 0; i < 50; i++) b.recordOutcome(outcome({ routeId: 'window-route', at: now - 200, latencyMs: 700 }));
    for (let i = 0; i < 20; i++) {
      b.recordOutcome(outcome({ routeId: 'window-route', target: 'legacy', at: now - 200, status: 404, latencyMs: 5 }));
    }
    // An outcome older than the window must not count.
    a.recordOutcome(outcome({ routeId: 'window-route', at: now - 20_000 }));

    let stats = await a.windowStats('window-route', 5000, now);
    await waitFor(
      'both replicas to flush',
      async () => {
        stats = await a.windowStats('window-route', 5000, now);
        return stats.service.requests === 90 && stats.legacy.requests === 20;
      },
      3000,
    );
    assert.equal(stats.service.requests, 90);
    assert.equal(stats.service.errors, 10);
    assert.equal(stats.legacy.errors, 0, '4xx are not errors');
    // 50 of 90 service requests took 700 ms: the p99 sits in the bucket holding 700 ms.
    assert.ok(stats.service.p99Ms !== null && stats.service.p99Ms >= 700 && stats.service.p99Ms < 800);
    assert.deepEqual(await b.windowStats('window-route', 5000, now), stats, 'both replicas read the same fleet window');

    // Each replica's own window holds only its own outcomes.
    const own = b.localWindowStats('window-route', 5000, now);
    assert.equal(own.service.requests, 50);
    assert.equal(own.legacy.requests, 20);
  });

  test('runs of transport failures from both replicas add up, and a response ends a replica’s run', async () => {
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      a.recordOutcome(outcome({ routeId: 'run-route', at: now, status: 0, transportError: true, latencyMs: 1 }));
    }
    b.recordOutcome(outcome({ routeId: 'run-route', at: now, status: 200 }));
    for (let i = 0; i < 4; i++) {
      b.recordOutcome(outcome({ routeId: 'run-route', at: now, status: 0, transportError: true, latencyMs: 1 }));
    }
    let stats = await a.windowStats('run-route', 5000, now);
    await waitFor(
      'the run to reach Redis',
      async () => {
        stats = await a.windowStats('run-route', 5000, now);
        return stats.service.requests === 8;
      },
      3000,
    );
    assert.equal(stats.service.consecutiveTransportFailures, 7);
    assert.equal(stats.service.errors, 7);

    a.recordOutcome(outcome({ routeId: 'run-route', at: now, status: 500 }));
    await waitFor(
      'a to report its run ended',
      async () => {
        stats = await a.windowStats('run-route', 5000, now);
        return stats.service.requests === 9;
      },
      3000,
    );
    assert.equal(stats.service.consecutiveTransportFailures, 4);
  });

  test('the lease: one holder at a time; the other takes over once the holder stops renewing', async () => {
    const ttl = 1000;
    assert.equal(await a.acquireLease('replica-a', ttl), true);
    assert.equal(await b.acquireLease('replica-b', ttl), false);
    // Renewal by the holder keeps it past the first ttl.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(await a.acquireLease('replica-a', ttl), true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(await b.acquireLease('replica-b', ttl), false, 'a renewed, so b must still wait');
    // a stops renewing (it died): b gets the lease within the ttl.
    await waitFor('b to take over', () => b.acquireLease('replica-b', ttl), ttl);
    assert.equal(await a.acquireLease('replica-a', ttl), false, 'the old holder must not get it back while b renews');
  });

  test('closing the holder hands the lease over at once', async () => {
    const c = replica('replica-c');
    await c.load();
    const ttl = 10_000;
    // b holds it from the test above; wait for its short ttl to lapse, then c takes a long one.
    await waitFor('c to get the lease', () => c.acquireLease('replica-c', ttl), 2500);
    assert.equal(await a.acquireLease('replica-a', ttl), false);
    await c.close();
    assert.equal(await a.acquireLease('replica-a', ttl), true, 'a released lease is free before its ttl');
  });

  test('a replica that starts later loads the current state of every route', async () => {
    const late = replica('replica-late');
    await late.load();
    assert.deepEqual(late.get('pubsub-route'), a.get('pubsub-route'));
    assert.deepEqual([...late.all().keys()].sort(), [...a.all().keys()].sort());
  });

  test('a Redis that lost its data gets the last known state back from the replicas', async () => {
    const kept = routeState({ routeId: 'survivor', phase: 'holding', stepIndex: 4, weight: 50, revision: 12 });
    assert.equal(await a.compareAndSet(kept, -1), true);
    await waitFor('b to see it', () => b.get('survivor')?.revision === 12, 3000);
    const direct = new Redis(redisUrl());
    try {
      // What a Redis restart without persistence looks like to the stores: no routes, no epoch.
      await direct.del(`${prefix}state`, `${prefix}epoch`);
      await waitFor(
        'a replica to write the routes back',
        async () => (await direct.hget(`${prefix}state`, 'survivor')) !== null,
        3000,
      );
      const stored = await direct.hget(`${prefix}state`, 'survivor');
      assert.deepEqual(JSON.parse(stored ?? 'null'), kept);
      assert.deepEqual(a.get('survivor'), kept, 'no replica forgot the route meanwhile');
      assert.deepEqual(b.get('survivor'), kept);
    } finally {
      direct.disconnect();
    }
  });
});
