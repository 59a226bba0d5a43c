// Issue 4 evidence (d): when the monolith fails just like the service (a shared dependency is down), moving users
// back to the monolith would not help them, so the judge does not roll back on the relative rule; such a window is
// no evidence for the service either, so the route does not advance: it holds its step, verdict after verdict.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertRouteHolds,
  createRolloutFixture,
  explained,
  metricValue,
  ROUTE_ID,
  type RolloutEdge,
  type RolloutFixture,
  sleep,
  startLoad,
  tally,
  untilHealthyVerdict,
} from '../support/rollout-harness.ts';

describe('a failure shared by the monolith and the service', () => {
  let fixture: RolloutFixture;
  let edge: RolloutEdge;

  before(async () => {
    fixture = await createRolloutFixture({ label: 'shared', redis: true, postgres: true });
    edge = await fixture.startEdge();
  });
  after(async () => {
    await fixture?.cleanup();
  });

  test('both at 50 % 5xx: no rollback, no advance, the step holds tick after tick', async (t) => {
    const load = startLoad({ port: edge.port, rate: 150, users: 'shared' });
    await explained([edge], async () => {
      // Healthy verdicts on the first step: left alone, it would advance within a few seconds.
      await untilHealthyVerdict(edge);
      const faultAt = Date.now();
      fixture.upstreams.monolith.faults.set({ errorRate: 0.5, status: 503 });
      fixture.upstreams.service.faults.set({ errorRate: 0.5, status: 503 });
      // Once a second of failures is in the window, no verdict may move the route, whichever way.
      await sleep(1500);
      const before = await edge.admin.route();
      const transitionsBefore = (await edge.admin.history()).length;
      const inconclusiveBefore = metricValue(await edge.admin.metrics(), 'rf_edge_verdicts_total', {
        route: ROUTE_ID,
        outcome: 'insufficient_data',
        rule: 'inconclusive',
      });
      // Longer than the judge's window (5 s) and many step intervals (1 s).
      const states = await assertRouteHolds(edge.admin, before);
      const faultEnd = Date.now();

      await load.settled(faultEnd);
      const during = tally(load.samples, faultAt + 200, faultEnd);
      const serviceErrors = load.samples.filter(
        (s) => s.sentAt >= faultAt + 200 && s.sentAt < faultEnd && s.servedBy !== null && s.status === 503,
      );
      // The failure was real on both sides: users saw 5xx from the monolith, and the service's 503s were either
      // seen as such or (a GET may be sent again) answered by the failing monolith instead: both count against the
      // service for the judge.
      assert.ok(during.failed > during.total * 0.3, `${during.failed} of ${during.total} failed`);
      assert.ok(serviceErrors.some((s) => s.servedBy === 'monolith'));
      const metrics = await edge.admin.metrics();
      const fellBack = metricValue(metrics, 'rf_edge_fallbacks_total', { route: ROUTE_ID, reason: 'status' });
      assert.ok(serviceErrors.some((s) => s.servedBy === 'agents-service') || fellBack > 0, `${fellBack} fallbacks`);

      assert.equal((await edge.admin.history()).length, transitionsBefore, 'no transition while both failed');
      assert.equal(metricValue(metrics, 'rf_edge_rollbacks_total', { route: ROUTE_ID }), 0);
      const inconclusive =
        metricValue(metrics, 'rf_edge_verdicts_total', {
          route: ROUTE_ID,
          outcome: 'insufficient_data',
          rule: 'inconclusive',
        }) - inconclusiveBefore;
      assert.ok(inconclusive >= 3, `holding verdicts while both failed: ${inconclusive}`);
      const shared = edge.logs
        .events('rollout.verdict')
        .filter((l) => Date.parse(String(l['time'])) >= faultAt + 2000 && Date.parse(String(l['time'])) < faultEnd);
      assert.ok(shared.length >= 3, `${shared.length} verdicts while both failed`);
      for (const verdict of shared) {
        assert.equal(verdict['outcome'], 'insufficient_data', String(verdict['reason']));
        assert.match(String(verdict['reason']), /shared failure, holding/);
      }

      t.diagnostic(`observed for ${faultEnd - faultAt} ms: ${states.join(', ')}`);
      t.diagnostic(`${inconclusive} holding verdicts; e.g. "${String(shared.at(-1)?.['reason'])}"`);
      t.diagnostic(`users saw ${during.failed} failures of ${during.total} requests on both targets`);
    }).finally(() => load.stop());
  });
});
