// Issue 4 evidence (e): two edge processes on one Redis. Exactly one runs the controller (the lease holder); a
// rollback sent to either reaches both through pub/sub and both stop sending users to the service; when the leader
// is SIGKILLed the other takes the lease once it expires and carries the rollout on from the same step; and no step
// is taken twice (the audit trail in PostgreSQL, shared by both, holds each step once).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auditTrail,
  type ChildEdge,
  createRolloutFixture,
  explained,
  type LoadDriver,
  type RolloutFixture,
  type RoutesView,
  SERVICE,
  sleep,
  startLoad,
  tally,
  until,
  untilRoute,
} from '../support/rollout-harness.ts';

const LEASE_TTL_MS = 3000;

describe('two edges on one Redis', () => {
  let fixture: RolloutFixture;
  let a: ChildEdge;
  let b: ChildEdge;

  before(async () => {
    fixture = await createRolloutFixture({ label: 'fleet', redis: true, postgres: true });
    // Started together: they race for the lease; the test finds out who won.
    [a, b] = await Promise.all([
      fixture.startChildEdge({ instanceId: 'fleet-a', leaseTtlMs: LEASE_TTL_MS }),
      fixture.startChildEdge({ instanceId: 'fleet-b', leaseTtlMs: LEASE_TTL_MS }),
    ]);
  });
  after(async () => {
    await fixture?.cleanup();
  });

  test('one leader; a rollback reaches both; the other leads after a kill; no step taken twice', async (t) => {
    const loads = new Map<ChildEdge, LoadDriver>([
      [a, startLoad({ port: a.port, rate: 90, users: 'fleet-a' })],
      [b, startLoad({ port: b.port, rate: 90, users: 'fleet-b' })],
    ]);
    const views = () => Promise.all([a.admin.routes(), b.admin.routes()]);
    const leaders = (v: readonly RoutesView[]) => v.filter((x) => x.leader).map((x) => x.instance);

    await explained([a, b], async () => {
      // Exactly one leader, and it stays the same one while both are alive.
      const first = await until(
        'exactly one leader',
        async () => {
          const current = leaders(await views());
          return current.length === 1 && current;
        },
        10_000,
      );
      for (let i = 0; i < 4; i++) {
        await sleep(500);
        assert.deepEqual(leaders(await views()), first);
      }
      const [leader, follower] = first[0] === a.instanceId ? [a, b] : [b, a];

      await untilRoute(a.admin, 'step 20 %', (r) => r.weight === 20, 30_000);

      // A rollback through the follower's admin API: both replicas apply it (the leader by pub/sub).
      const commandAt = Date.now();
      const answer = await follower.admin.command('rollback', 'fleet-wide brake');
      assert.equal(answer.status, 200);
      const seen = await Promise.all(
        [leader, follower].map(async (edge) => {
          await untilRoute(edge.admin, `rollback on ${edge.instanceId}`, (r) => r.phase === 'rolled_back', 3000);
          return Date.now() - commandAt;
        }),
      );
      const bothAt = commandAt + Math.max(...seen);
      await sleep(1000);
      for (const [edge, load] of loads) {
        await load.settled();
        const afterRollback = tally(load.samples, bothAt + 50);
        assert.ok(afterRollback.total > 20, `${afterRollback.total} requests to ${edge.instanceId} after the rollback`);
        assert.equal(afterRollback.service, 0, `${edge.instanceId} sent users to the service after the rollback`);
      }
      const lastServiceAnswer = Math.max(
        ...[...loads.values()].flatMap((l) => l.samples.filter((s) => s.servedBy === SERVICE).map((s) => s.sentAt)),
      );

      // Start again, then kill the leader mid-rollout: the follower takes over once the lease has expired.
      assert.equal((await leader.admin.command('resume', 'brake released')).status, 200);
      await untilRoute(follower.admin, 'the resume', (r) => r.phase === 'canary', 3000);
      await loads.get(leader)?.stop();
      const killAt = Date.now();
      await leader.kill();
      await until('the follower leads', async () => (await follower.admin.routes()).leader, LEASE_TTL_MS + 7000);
      const failoverMs = Date.now() - killAt;
      const carriedOn = await untilRoute(
        follower.admin,
        'step 20 % under the new leader',
        (r) => r.weight === 20,
        30_000,
      );
      assert.equal(carriedOn.updatedBy, 'judge');
      await loads.get(follower)?.stop();

      // The audit trail both wrote: every step once per run (two leaders never took the same step).
      const db = fixture.database;
      assert.ok(db);
      const rows = await auditTrail(db);
      const trail = rows.map((r) => `${r.to_phase} ${r.to_weight} ${r.actor}`);
      assert.deepEqual(trail.slice(0, 5), [
        'canary 10 config',
        'canary 20 judge',
        'rolled_back 0 admin:rollout-test',
        'canary 10 admin:rollout-test',
        'canary 20 judge',
      ]);
      // Whatever came after the last check (a tick may advance once more) still takes each step once.
      const runAfterResume = trail.slice(3);
      assert.equal(new Set(runAfterResume).size, runAfterResume.length, trail.join('; '));

      const transitions = [a, b].map((e) => e.logs.events('rollout.transition').length);
      t.diagnostic(
        `leader ${leader.instanceId}; rollback seen by leader after ${seen[0]} ms, by follower after ${seen[1]} ms`,
      );
      t.diagnostic(
        `last request answered by the service was sent ${lastServiceAnswer - commandAt} ms after the command`,
      );
      t.diagnostic(
        `failover: ${follower.instanceId} led ${failoverMs} ms after the SIGKILL (lease ${LEASE_TTL_MS} ms)`,
      );
      t.diagnostic(`audit: ${trail.join('; ')} (transitions logged by a/b: ${transitions.join('/')})`);
    }).finally(() => Promise.all([...loads.values()].map((l) => l.stop())));
  });
});
