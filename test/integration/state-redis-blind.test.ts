// A replica cut off from Redis (through a TCP relay the test cuts and restores; the machine's Redis keeps
// running for everyone else): it keeps serving its last known state, refuses shared writes, keeps its own
// evidence, and catches up when the link returns.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import { createRedisStateStore, type RedisStateStore } from '../../src/adapters/state/index.ts';
import { EdgeError } from '../../src/core/errors.ts';
import { deleteRedisKeys, REDIS_HOST, REDIS_PORT, redisUrl, uniqueRedisPrefix } from '../support/databases.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { nextState, outcome, routeState } from '../support/state-fixtures.ts';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { waitFor } from '../support/wait.ts';

const prefix = uniqueRedisPrefix('blind');

function isStoreError(err: unknown): boolean {
  return err instanceof EdgeError && err.code === 'RF_STATE_STORE';
}

async function storeUp(metrics: EdgeMetrics): Promise<number | undefined> {
  const { values } = await metrics.storeHealthy.get();
  return values.find((v) => v.labels.store === 'state')?.value;
}

describe('Redis state store while Redis is unreachable', () => {
  let relay: TcpRelay;
  let blind: RedisStateStore;
  let blindLog: CapturedLog;
  let blindMetrics: EdgeMetrics;
  let peer: RedisStateStore;

  before(async () => {
    relay = await startTcpRelay(REDIS_HOST, REDIS_PORT);
    blindLog = captureLog();
    blindMetrics = createMetrics({ processMetrics: false });
    blind = createRedisStateStore({
      url: redisUrl(relay.port),
      keyPrefix: prefix,
      instanceId: 'blind-replica',
      log: blindLog.log,
      metrics: blindMetrics,
      flushIntervalMs: 50,
      resyncIntervalMs: 300,
    });
    peer = createRedisStateStore({
      url: redisUrl(),
      keyPrefix: prefix,
      instanceId: 'peer-replica',
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
      flushIntervalMs: 50,
    });
    await Promise.all([blind.load(), peer.load()]);
  });

  after(async () => {
    await Promise.all([blind.close(), peer.close()]);
    await relay.close();
    await deleteRedisKeys(prefix);
  });

  test('serves, refuses shared writes, keeps its own window, then catches up after the link returns', async () => {
    assert.equal(blind.healthy(), true);
    assert.equal(await storeUp(blindMetrics), 1);
    const rolling = routeState({ routeId: 'rolling', stepIndex: 1, weight: 20, revision: 4 });
    const other = routeState({ routeId: 'other', revision: 0 });
    const contested = routeState({ routeId: 'contested', revision: 2 });
    for (const s of [rolling, other, contested]) assert.equal(await blind.compareAndSet(s, -1), true);
    await waitFor('the peer to see all three', () => peer.all().size === 3, 3000);

    relay.cut();
    await waitFor('the replica to notice', () => !blind.healthy(), 3000);
    assert.equal(await storeUp(blindMetrics), 0);
    assert.equal(blindLog.events('state.redis_down').length, 1);

    // Traffic goes on with the last known state.
    assert.deepEqual(blind.get('rolling'), rolling);
    assert.equal(blind.all().size, 3);
    // Nothing shared moves while blind.
    await assert.rejects(blind.compareAndSet(nextState(rolling, { weight: 30, stepIndex: 2 }), 4), isStoreError);
    await assert.rejects(blind.windowStats('rolling', 5000, Date.now()), isStoreError);
    await assert.rejects(blind.remove('other'), isStoreError);
    assert.equal(await blind.acquireLease('blind-replica', 5000), false);

    // Outcomes keep being counted; the replica's own window sees them.
    const now = Date.now();
    assert.doesNotThrow(() => {
      for (let i = 0; i < 40; i++) {
        blind.recordOutcome(outcome({ routeId: 'rolling', at: now, status: i % 2 === 0 ? 502 : 200 }));
      }
    });
    const own = blind.localWindowStats('rolling', 5000, now);
    assert.equal(own.service.requests, 40);
    assert.equal(own.service.errors, 20);

    // It rolls back on its own evidence, locally.
    const rolledBack = nextState(rolling, { phase: 'rolled_back', stepIndex: -1, weight: 0, updatedBy: 'judge' });
    blind.applyLocal(rolledBack);
    assert.deepEqual(blind.get('rolling'), rolledBack);

    // Meanwhile the fleet moves on without it: one change it will have missed, and one that conflicts with a
    // local decision on the same revision.
    assert.equal(await peer.compareAndSet(nextState(other, { weight: 20, stepIndex: 1 }), 0), true);
    const peerContested = nextState(contested, { weight: 50, stepIndex: 4, phase: 'holding' });
    assert.equal(await peer.compareAndSet(peerContested, 2), true);
    blind.applyLocal(nextState(contested, { phase: 'rolled_back', weight: 0, stepIndex: -1 }));
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(blind.healthy(), false, 'still blind while cut, even across resync ticks');
    assert.equal(blind.get('other')?.revision, 0, 'a blind replica cannot have heard of the change');

    relay.restore();
    await waitFor('the replica to reconnect', () => blind.healthy(), 5000);
    assert.equal(await storeUp(blindMetrics), 1);
    assert.equal(blindLog.events('state.redis_down').length, 1, 'one down event per outage');
    assert.equal(blindLog.events('state.redis_up').length, 2, 'one up event at start, one after the outage');

    // The missed change arrived through the re-read.
    assert.equal(blind.get('other')?.revision, 1);
    assert.equal(blind.get('other')?.weight, 20);
    // The local rollback was newer than Redis: it is written back and reaches the fleet.
    await waitFor('the peer to see the local rollback', () => peer.get('rolling')?.phase === 'rolled_back', 1000);
    assert.deepEqual(peer.get('rolling'), rolledBack);
    // The conflicting local decision lost to the state Redis already had at that revision.
    assert.deepEqual(blind.get('contested'), peerContested);
    assert.equal(blindLog.events('state.local_superseded').length, 1);

    // Outcomes recorded while blind reach the fleet window.
    await waitFor(
      'the blind outcomes to be flushed',
      async () => {
        const fleet = await peer.windowStats('rolling', 5000, now);
        return fleet.service.requests === 40;
      },
      3000,
    );
    // And shared writes work again.
    assert.equal(await blind.compareAndSet(nextState(rolledBack, { reason: 'after the outage' }), 5), true);
  });

  test('the outbound buffer is capped while blind: the oldest seconds are dropped, the newest kept', async () => {
    const cappedMetrics = createMetrics({ processMetrics: false });
    const capped = createRedisStateStore({
      url: redisUrl(relay.port),
      keyPrefix: prefix,
      instanceId: 'capped-replica',
      log: captureLog().log,
      metrics: cappedMetrics,
      flushIntervalMs: 50,
      resyncIntervalMs: 300,
      maxBufferedSlots: 5,
    });
    try {
      await capped.load();
      relay.cut();
      await waitFor('the replica to notice', () => !capped.healthy(), 3000);
      const now = Date.now();
      // Ten different seconds, oldest first, three requests each.
      for (let s = 9; s >= 0; s--) {
        for (let i = 0; i < 3; i++) capped.recordOutcome(outcome({ routeId: 'capped', at: now - s * 1000 }));
      }
      assert.equal(capped.diagnostics().bufferedSlots, 5);
      assert.equal(capped.diagnostics().droppedSlots, 5);
      assert.equal((await cappedMetrics.outcomeSlotsDropped.get()).values[0]?.value, 5);
      relay.restore();
      await waitFor('the replica to reconnect', () => capped.healthy(), 5000);
      let fleet = await peer.windowStats('capped', 60_000, now);
      await waitFor(
        'the kept seconds to reach Redis',
        async () => {
          fleet = await peer.windowStats('capped', 60_000, now);
          return fleet.service.requests > 0 && capped.diagnostics().bufferedSlots === 0;
        },
        3000,
      );
      // Give a second flush the chance to (wrongly) add more.
      await new Promise((resolve) => setTimeout(resolve, 150));
      fleet = await peer.windowStats('capped', 60_000, now);
      assert.equal(fleet.service.requests, 15, 'only the five newest seconds were kept');
    } finally {
      relay.restore();
      await capped.close();
    }
  });

  test('a replica that starts while Redis is unreachable serves nothing, then loads the state when it returns', async () => {
    relay.cut();
    const late = createRedisStateStore({
      url: redisUrl(relay.port),
      keyPrefix: prefix,
      instanceId: 'late-replica',
      log: captureLog().log,
      metrics: createMetrics({ processMetrics: false }),
      resyncIntervalMs: 300,
    });
    try {
      await late.load();
      assert.equal(late.healthy(), false);
      assert.equal(late.all().size, 0);
      relay.restore();
      await waitFor('the replica to connect', () => late.healthy(), 5000);
      assert.deepEqual(late.get('other'), peer.get('other'));
    } finally {
      relay.restore();
      await late.close();
    }
  });
});
