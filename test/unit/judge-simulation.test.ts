// Whole rollouts with the default policy (10 → 50 % in 5-minute steps, then holding 10 minutes), second by second,
// through the real outcome window, sequential judge and rollout machine, on a fixed seed at a size that fits CI.
// The full-size run (1,000 rollouts per scenario) is `node --import tsx scripts/judge-simulation.ts`; the README
// has its table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorScenarios, runScenario, type ScenarioSummary } from '../support/rollout-simulation.ts';

const ROLLOUTS = 12;
const SEED = 2026;

function byName(name: string): ScenarioSummary {
  const s = floorScenarios().find((x) => x.name === name);
  assert.ok(s, name);
  return runScenario(s, ROLLOUTS, SEED);
}

test('A/A at 100 req/s: no false rollback; every rollout reaches 50 %', () => {
  const r = byName('A/A');
  assert.equal(r.rolledBack, 0, JSON.stringify([...r.reasons]));
  assert.equal(r.reachedHolding, ROLLOUTS);
});

test('A/A with common-mode stalls (about one a minute, up to 1 s, both sides): no false rollback', () => {
  const r = byName('A/A with common-mode stalls');
  assert.equal(r.rolledBack, 0, JSON.stringify([...r.reasons]));
  assert.equal(r.reachedHolding, ROLLOUTS);
});

test('service errors +2 points over a 0.5 % monolith: every rollout rolled back, early', () => {
  const r = byName('service errors +2 points');
  assert.equal(r.rolledBack, ROLLOUTS);
  assert.equal(r.reachedHolding, 0, 'caught before the last step');
  assert.ok((r.medianServiceRequestsBeforeRollback ?? Number.POSITIVE_INFINITY) < 5000, JSON.stringify(r));
});

test('service latency +300 ms: every rollout rolled back within its first minute', () => {
  const r = byName('service latency +300 ms');
  assert.equal(r.rolledBack, ROLLOUTS);
  assert.ok((r.medianSecondsToRollback ?? Number.POSITIVE_INFINITY) < 60, JSON.stringify(r));
});

test('5 req/s: no advance without enough evidence, no rollback on noise (with and without stalls)', () => {
  for (const name of ['A/A at 5 req/s', 'A/A at 5 req/s with stalls']) {
    const r = byName(name);
    assert.equal(r.rolledBack, 0, `${name}: ${JSON.stringify([...r.reasons])}`);
    assert.equal(r.advancesWithoutEvidence, 0, name);
  }
});
