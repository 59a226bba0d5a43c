// Issue 4 evidence (f): an edge restarted mid-rollout resumes the same step — not the first one — and carries on
// from it. Embedded mode (state file and audit lines in DATA_DIR) and Redis mode (state in Redis: the restarted
// edge gets a fresh DATA_DIR, so the step can only have come from Redis; audit trail in PostgreSQL).
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  createRolloutFixture,
  type EdgeStartOptions,
  explained,
  type RolloutFixture,
  type RolloutFixtureOptions,
  shareMatches,
  sleep,
  startLoad,
  tallyWithin,
  until,
  untilRoute,
} from '../support/rollout-harness.ts';

interface Restart {
  readonly fixture: RolloutFixtureOptions;
  /** Options of the edge started after the first one closed. */
  readonly second: (first: { dataDir: string }) => EdgeStartOptions;
}

async function restartMidRollout(
  f: RolloutFixture,
  how: Restart,
  diagnostic: (message: string) => void,
): Promise<void> {
  const first = await f.startEdge();
  const load = startLoad({ port: first.port, rate: 150, users: 'before-restart' });
  const seen = await explained([first], () =>
    untilRoute(first.admin, 'step 20 %', (r) => r.weight === 20, 30_000).finally(() => load.stop()),
  );
  await first.close();
  const closedAt = Date.now();

  const second = await f.startEdge(how.second({ dataDir: first.dataDir }));
  const restartedMs = Date.now() - closedAt;
  const resumed = await second.admin.route();
  // PostgreSQL's history answers once the new edge's audit writer has checked the schema (a few ms after start).
  const history = await until(
    'the audit trail',
    async () => {
      const events = await second.admin.history();
      return events.length > 0 && events;
    },
    5000,
  );
  const last = history.at(-1);
  assert.ok(last);
  // The state the first edge left behind is the one the second serves: same step, same start of step.
  assert.deepEqual(
    [resumed.phase, resumed.weight, resumed.stepIndex, resumed.since],
    [last.to, last.toWeight, history.filter((e) => e.to !== 'rolled_back').length - 1, last.at],
  );
  assert.ok(resumed.weight >= seen.weight, `resumed at ${resumed.weight}%, had reached ${seen.weight}% before`);
  assert.ok(Date.parse(last.at) < closedAt, 'the restart itself wrote no transition');
  assert.ok(second.logs.events('rollout.transition').length === 0, 'no transition at start');

  // Users are split at the resumed step at once, and the rollout goes on from it.
  const load2 = startLoad({ port: second.port, rate: 150, users: 'after-restart' });
  await explained([first, second], async () => {
    const next = await untilRoute(second.admin, 'the next step', (r) => r.weight > resumed.weight, 30_000);
    const advance = (await second.admin.history()).at(-1);
    assert.deepEqual([advance?.fromWeight, advance?.toWeight, advance?.actor], [resumed.weight, next.weight, 'judge']);
    const advancedAt = Date.parse(advance?.at ?? '');
    await load2.settled(advancedAt);
    const onResumedStep = tallyWithin(load2.samples, 0, advancedAt);
    assert.ok(onResumedStep.total > 50, `${onResumedStep.total} requests on the resumed step`);
    assert.ok(
      shareMatches(onResumedStep, resumed.weight),
      `${onResumedStep.servicePercent.toFixed(1)}% on the service at ${resumed.weight}%`,
    );
    diagnostic(
      `restarted in ${restartedMs} ms at ${resumed.phase} ${resumed.weight}% (step ${resumed.stepIndex + 1}); ` +
        `${onResumedStep.servicePercent.toFixed(1)}% of ${onResumedStep.total} requests on the service; then ${next.weight}%`,
    );
  }).finally(() => load2.stop());
  await sleep(0);
}

describe('restart mid-rollout', () => {
  let fixture: RolloutFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  test('embedded mode: the same step from DATA_DIR', async (t) => {
    const how: Restart = { fixture: { label: 'restart-file' }, second: ({ dataDir }) => ({ dataDir }) };
    fixture = await createRolloutFixture(how.fixture);
    await restartMidRollout(fixture, how, (m) => t.diagnostic(m));
  });

  test('Redis mode: the same step from Redis, whatever DATA_DIR holds', async (t) => {
    const how: Restart = { fixture: { label: 'restart-redis', redis: true, postgres: true }, second: () => ({}) };
    fixture = await createRolloutFixture(how.fixture);
    await restartMidRollout(fixture, how, (m) => t.diagnostic(m));
  });
});
