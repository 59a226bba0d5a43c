// Issue 4 evidence (a): a healthy service earns its steps 10 → 20 → 30 → 40 → 50 on the judge's verdicts, holds at
// 50 % until a person promotes it, and then gets every request of the route. Real edge (createEdge), real example
// servers, shared state in Redis and the audit trail in PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createRolloutFixture,
  explained,
  metricValue,
  misrouted,
  ROUTE_ID,
  type RolloutEdge,
  type RolloutFixture,
  SERVICE,
  shareMatches,
  sleep,
  startLoad,
  tally,
  tallyWithin,
  untilRoute,
  weightTimeline,
} from '../support/rollout-harness.ts';

describe('a healthy service through every step', () => {
  let fixture: RolloutFixture;
  let edge: RolloutEdge;

  before(async () => {
    fixture = await createRolloutFixture({ label: 'advance', redis: true, postgres: true });
    edge = await fixture.startEdge();
  });
  after(async () => {
    await fixture?.cleanup();
  });

  test('goes 10 → 20 → 30 → 40 → 50, holds at 50 until promoted, then sends every request to the service', async (t) => {
    const started = Date.now();
    const load = startLoad({ port: edge.port, rate: 150, users: 'advance' });
    await explained([edge], async () => {
      await untilRoute(edge.admin, 'holding at 50 %', (r) => r.phase === 'holding', 45_000);
      const reachedHolding = Date.now();

      // Holding is not the end of judging: the controller keeps looking, and keeps the route where it is.
      const verdictsBefore = metricValue(await edge.admin.metrics(), 'rf_edge_verdicts_total', { route: ROUTE_ID });
      for (let tick = 0; tick < 3; tick++) {
        await sleep(1000);
        const route = await edge.admin.route();
        assert.equal(route.phase, 'holding');
        assert.equal(route.weight, 50);
      }
      const verdictsAfter = metricValue(await edge.admin.metrics(), 'rf_edge_verdicts_total', { route: ROUTE_ID });
      assert.ok(
        verdictsAfter - verdictsBefore >= 2,
        `the judge kept judging while holding (${verdictsAfter - verdictsBefore} verdicts)`,
      );

      const promoted = await edge.admin.command('promote', 'all steps healthy');
      assert.equal(promoted.status, 200);
      assert.deepEqual(
        { phase: (promoted.body as { phase: string }).phase, weight: (promoted.body as { weight: number }).weight },
        { phase: 'promoted', weight: 100 },
      );
      const promotedAt = Date.now();
      await sleep(1000);
      await load.stop();

      const history = await edge.admin.history();
      const weights = history.map((e) => `${e.to}:${e.toWeight}`);
      assert.deepEqual(weights, ['canary:10', 'canary:20', 'canary:30', 'canary:40', 'holding:50', 'promoted:100']);
      const judged = history.slice(1, 5);
      for (const event of judged) {
        assert.equal(event.actor, 'judge');
        assert.equal(event.evidence?.outcome, 'healthy');
      }
      assert.equal(history[5]?.actor, 'admin:rollout-test');

      // Every user went where its sticky bucket and the weight of the moment say: bucket ≤ weight → service.
      const wrong = misrouted(load.samples, weightTimeline(history));
      assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} answers from the wrong side`);

      // And so the share of requests the service answered follows each step: counted over the requests whose whole
      // life lies inside the step (sent a moment after the change was stored, answered before the next one). A
      // machine too busy to answer 50 requests inside a step leaves that step's share to the check above.
      const shares: string[] = [];
      let checked = 0;
      for (let i = 0; i < 5; i++) {
        const from = Date.parse(history[i]?.at ?? '') + 300;
        const to = Date.parse(history[i + 1]?.at ?? '');
        const step = tallyWithin(load.samples, from, to);
        const weight = history[i]?.toWeight ?? -1;
        shares.push(`${weight}%: ${step.servicePercent.toFixed(1)}% of ${step.total}`);
        if (step.total < 50) continue;
        checked += 1;
        assert.ok(
          shareMatches(step, weight),
          `the service answered ${step.servicePercent.toFixed(1)}% of ${step.total} requests at step ${weight}%`,
        );
      }
      assert.ok(checked >= 3, `shares checked on ${checked} steps: ${shares.join(', ')}`);
      const afterPromote = tally(load.samples, promotedAt);
      assert.ok(afterPromote.total >= 50, `requests after promote (${afterPromote.total})`);
      assert.equal(afterPromote.service, afterPromote.total, 'every request after promote reached the service');
      assert.equal(tally(load.samples).failed, 0);
      assert.ok(load.samples.every((s) => s.status === 200));

      t.diagnostic(`holding reached ${((reachedHolding - started) / 1000).toFixed(1)} s after start`);
      t.diagnostic(`service share per step: ${shares.join(', ')}`);
      t.diagnostic(`after promote: ${afterPromote.service}/${afterPromote.total} on ${SERVICE}`);
    }).finally(() => load.stop());
  });
});
