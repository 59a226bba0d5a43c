// The anytime-valid tools under the judge: bounds that hold at every look, and a betting test that stays quiet under
// its null however long it runs, yet rejects a real shift quickly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BettingTest, rateBounds } from '../../src/core/confidence-sequence.ts';
import { createRandom } from '../support/rollout-simulation.ts';

test('rate bounds bracket the observed rate, tighten with more trials, and say nothing without trials', () => {
  assert.deepEqual(rateBounds(0, 0, 0.01), { lower: 0, upper: 1 });
  const small = rateBounds(5, 100, 1e-4);
  const large = rateBounds(50, 1000, 1e-4);
  assert.ok(small.lower < 0.05 && small.upper > 0.05);
  assert.ok(large.lower < 0.05 && large.upper > 0.05);
  assert.ok(large.upper - large.lower < small.upper - small.lower);
  assert.equal(rateBounds(0, 300, 1e-4).lower, 0);
  assert.equal(rateBounds(300, 300, 1e-4).upper, 1);
});

test('rate bounds stay true at every one of 20,000 looks in 200 runs at 0.5 % (α = 1 %)', () => {
  const random = createRandom(7);
  let misses = 0;
  for (let run = 0; run < 200; run++) {
    let events = 0;
    let missed = false;
    for (let n = 1; n <= 20_000; n++) {
      if (random() < 0.005) events++;
      // Checking every 100th look keeps the test fast; the bound is valid at all of them at once.
      if (n % 100 !== 0 || missed) continue;
      const b = rateBounds(events, n, 0.01);
      if (b.lower > 0.005 || b.upper < 0.005) missed = true;
    }
    if (missed) misses++;
  }
  // Ville: at most 1 % of runs ever leave the bounds; the mixture is conservative, so usually none do.
  assert.ok(misses <= 6, `${misses} of 200 runs left the bounds`);
});

test('the betting test stays under 1/α for a whole day of seconds at its null, and rejects a shift in seconds', () => {
  const random = createRandom(11);
  const quiet = new BettingTest();
  let peak = 0;
  for (let s = 0; s < 86_400; s++) {
    quiet.observe(random() < 0.5 ? 1 : 0, 0.5);
    peak = Math.max(peak, quiet.evidence());
  }
  assert.ok(peak < 1e4, `peak evidence ${peak}`);
  const shifted = new BettingTest();
  let seconds = 0;
  while (shifted.evidence() < 1e4 && seconds < 1000) {
    shifted.observe(1, 0.5);
    seconds++;
  }
  assert.ok(seconds <= 30, `rejected after ${seconds} s`);
  assert.equal(shifted.observations(), seconds);
});
