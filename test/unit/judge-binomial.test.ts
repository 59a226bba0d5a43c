// The exact binomial statistics under the judge's error-rate and latency rules, against values computed by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { binomialUpperTail, rateLowerBound, rateUpperBound } from '../../src/core/binomial-test.ts';

const close = (actual: number, expected: number, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} should be within ${tolerance} of ${expected}`);

describe('binomialUpperTail: P(X ≥ k) for X ~ Binomial(n, p)', () => {
  test('matches closed forms', () => {
    close(binomialUpperTail(1, 3, 0.02), 1 - 0.98 ** 3);
    close(binomialUpperTail(3, 3, 0.5), 0.125);
    close(binomialUpperTail(5, 10, 0.5), 638 / 1024);
    close(binomialUpperTail(20, 20, 0.01), 1e-40, 1e-50);
  });
  test('edges: k ≤ 0 is certain, k > n impossible, p at 0 or 1', () => {
    assert.equal(binomialUpperTail(0, 10, 0.3), 1);
    assert.equal(binomialUpperTail(11, 10, 0.3), 0);
    assert.equal(binomialUpperTail(1, 10, 0), 0);
    assert.equal(binomialUpperTail(10, 10, 1), 1);
  });
  test('stays accurate for a million trials', () => {
    // Mean 5000, sd ≈ 70.5: 5000 or more is a little over one half.
    const p = binomialUpperTail(5000, 1_000_000, 0.005);
    assert.ok(p > 0.49 && p < 0.51, String(p));
  });
});

describe('Clopper–Pearson bounds', () => {
  test('one event in three: the 99% lower bound solves 1 − (1 − p)³ = 0.01', () => {
    close(rateLowerBound(1, 3, 0.99), 1 - 0.99 ** (1 / 3), 1e-12);
  });
  test('no event in n: the upper bound solves (1 − p)ⁿ = α', () => {
    close(rateUpperBound(0, 100, 0.99), 1 - 0.01 ** (1 / 100), 1e-12);
  });
  test('bracket the observed rate, and tighten as the sample grows', () => {
    for (const [x, n] of [
      [3, 30],
      [30, 300],
      [300, 3000],
    ] as const) {
      const low = rateLowerBound(x, n, 0.99);
      const high = rateUpperBound(x, n, 0.99);
      assert.ok(low < x / n && x / n < high, `${low} < ${x / n} < ${high}`);
    }
    assert.ok(rateLowerBound(300, 3000, 0.99) > rateLowerBound(30, 300, 0.99));
    assert.ok(rateLowerBound(30, 300, 0.99) > rateLowerBound(3, 30, 0.99));
  });
  test('nothing seen means nothing known', () => {
    assert.equal(rateLowerBound(0, 50, 0.99), 0);
    assert.equal(rateUpperBound(0, 0, 0.99), 1);
    assert.equal(rateUpperBound(50, 50, 0.99), 1);
  });
});
