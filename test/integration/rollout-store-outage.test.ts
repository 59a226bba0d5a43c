// Issue 4 evidence (g): Redis and PostgreSQL cut off mid-rollout (TCP relays the test cuts and restores; the
// machine's servers keep running for everyone else). Users notice nothing; the controller, blind, holds the step
// however long the cut lasts and carries on once the stores are back; and a person's rollback during a cut works at
// once on this edge and still reaches Redis and PostgreSQL afterwards, so no audit event is lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisUrl } from '../support/databases.ts';
import {
  assertRouteHolds,
  auditTrail,
  createRolloutFixture,
  explained,
  type LoadDriver,
  ROUTE_ID,
  type RolloutEdge,
  type RolloutFixture,
  SERVICE,
  sleep,
  startLoad,
  tally,
  until,
  untilHealthyVerdict,
  untilRoute,
} from '../support/rollout-harness.ts';

describe('Redis and PostgreSQL cut off mid-rollout', () => {
  let fixture: RolloutFixture;
  let edge: RolloutEdge;
  let load: LoadDriver;
  let redis: Redis;

  before(async () => {
    fixture = await createRolloutFixture({ label: 'outage', redis: true, postgres: true, relays: true });
    edge = await fixture.startEdge();
    load = startLoad({ port: edge.port, rate: 150, users: 'outage' });
    redis = new Redis(redisUrl(), { lazyConnect: true });
    await redis.connect();
  });
  after(async () => {
    await load?.stop();
    await redis?.quit();
    await fixture?.cleanup();
  });

  const rows = () => auditTrail(fixture.database ?? assert.fail('no database'));
  const storedState = async () => {
    const json = await redis.hget(`${fixture.redisPrefix}state`, ROUTE_ID);
    return json === null ? undefined : (JSON.parse(json) as { phase: string; weight: number });
  };
  const cut = () => {
    fixture.redisRelay?.cut();
    fixture.pgRelay?.cut();
  };
  const restore = () => {
    fixture.redisRelay?.restore();
    fixture.pgRelay?.restore();
  };
  const blind = async () => !(await edge.admin.routes()).stores.state;

  test('blind for longer than several step intervals: traffic flows, the step holds, and it advances after', async (t) => {
    await explained([edge], async () => {
      // Healthy verdicts on the first step: left alone, it would advance within a few seconds.
      await untilHealthyVerdict(edge);

      const cutAt = Date.now();
      cut();
      const noticedMs = await until('the edge to notice', async () => (await blind()) && Date.now() - cutAt, 5000);
      // Read once blind: from here on nothing may move it.
      const held = await edge.admin.route();
      const states = await assertRouteHolds(edge.admin, held);
      assert.ok(await blind(), 'still blind at the end of the cut');
      const restoreAt = Date.now();
      restore();

      await load.settled(restoreAt);
      const during = tally(load.samples, cutAt, restoreAt);
      assert.ok(during.total > 100, `${during.total} requests during the cut`);
      assert.equal(during.failed, 0, 'no request failed during the cut');
      assert.ok(during.service > 0, 'users on the step kept reaching the service');
      assert.ok(edge.logs.events('rollout.store_blind').length >= 1, 'the controller said it went blind');

      const next = await untilRoute(edge.admin, 'the next step after restore', (r) => r.weight > held.weight, 30_000);
      const advancedMs = Date.now() - restoreAt;
      assert.equal(next.updatedBy, 'judge');
      assert.ok(edge.logs.events('rollout.store_restored').length >= 1);

      t.diagnostic(
        `blind ${noticedMs} ms after the cut; held ${held.weight}% for ${restoreAt - cutAt} ms (${states.join(', ')})`,
      );
      t.diagnostic(
        `${during.total} requests during the cut, ${during.failed} failed; next step ${next.weight}% ${advancedMs} ms after restore`,
      );
    });
  });

  test('a rollback during the cut works at once and reaches Redis and PostgreSQL after restore', async (t) => {
    await explained([edge], async () => {
      const before = await edge.admin.route();
      assert.equal(before.phase, 'canary');
      const rowsBefore = await until(
        'the audit trail to catch up',
        async () => {
          const r = await rows();
          return r.length === edge.logs.events('rollout.transition').length && r;
        },
        10_000,
      );

      const cutAt = Date.now();
      cut();
      await until('the edge to notice', blind, 5000);
      const answer = await edge.admin.command('rollback', 'incident: stop the canary');
      const answeredAt = Date.now();
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(
        [(answer.body as { phase: string }).phase, (answer.body as { weight: number }).weight],
        ['rolled_back', 0],
      );
      const routes = await edge.admin.routes();
      assert.ok(routes.stores.auditPending >= 1, 'the audit event waits in the buffer');
      await sleep(1500);
      assert.equal((await storedState())?.phase, before.phase, 'Redis did not hear of it yet');
      assert.equal((await rows()).length, rowsBefore.length, 'PostgreSQL did not get it yet');
      const restoreAt = Date.now();
      restore();

      await load.settled(restoreAt);
      const duringCut = tally(load.samples, cutAt, restoreAt);
      assert.equal(duringCut.failed, 0);
      assert.equal(tally(load.samples, answeredAt).service, 0, 'nobody reached the service after the rollback');

      // The local rollback becomes the fleet's state, and its audit row lands: none lost.
      const sharedMs = await until(
        'Redis to hold the rollback',
        async () => (await storedState())?.phase === 'rolled_back' && Date.now() - restoreAt,
        10_000,
      );
      const after = await until(
        'the rollback row in PostgreSQL',
        async () => {
          const r = await rows();
          return r.length > rowsBefore.length && r;
        },
        30_000,
      );
      const storedMs = Date.now() - restoreAt;
      assert.deepEqual(after.at(-1), { to_phase: 'rolled_back', to_weight: 0, actor: 'admin:rollout-test' });
      assert.equal(after.length, rowsBefore.length + 1);
      assert.equal(after.length, edge.logs.events('rollout.transition').length, 'one row per logged transition');
      assert.equal((await edge.admin.routes()).stores.auditPending, 0);
      await load.settled();
      assert.equal(tally(load.samples).failed, 0, 'no request failed in the whole test');

      t.diagnostic(
        `rollback answered ${answeredAt - cutAt} ms into the cut; in Redis ${sharedMs} ms and in PostgreSQL ${storedMs} ms after restore`,
      );
      t.diagnostic(`audit rows: ${after.map((r) => `${r.to_phase} ${r.to_weight} ${r.actor}`).join('; ')}`);
      t.diagnostic(
        `requests through the edge: ${tally(load.samples).total}, ${SERVICE} answered ${tally(load.samples).service}`,
      );
    });
  });
});
