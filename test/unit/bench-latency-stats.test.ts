import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LatencySamples, quantileOfSorted, summariseLatencies } from '../../bench/latency-stats.ts';

describe('bench latency percentiles', () => {
  test('nearest rank: p50 of 1..100 is 50, p99 is 99, p100 is the max', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantileOfSorted(sorted, 0.5), 50);
    assert.equal(quantileOfSorted(sorted, 0.99), 99);
    assert.equal(quantileOfSorted(sorted, 1), 100);
  });

  test('a quantile is always a latency some request had, never an interpolation', () => {
    assert.equal(quantileOfSorted([1, 10], 0.5), 1);
    assert.equal(quantileOfSorted([1, 10], 0.51), 10);
    assert.equal(quantileOfSorted([7], 0.001), 7);
  });

  test('one slow request in a thousand shows in the max only', () => {
    const samples = [...Array.from({ length: 999 }, () => 1), 250];
    const summary = summariseLatencies(samples);
    assert.equal(summary.count, 1000);
    assert.equal(summary.p50Ms, 1);
    assert.equal(summary.p99Ms, 1);
    assert.equal(summary.p999Ms, 1);
    assert.equal(summary.maxMs, 250);
    assert.equal(summary.meanMs, (999 + 250) / 1000);
  });

  test('samples are summarised in order whatever order they arrived in', () => {
    const summary = summariseLatencies([5, 3, 9, 1, 7]);
    assert.equal(summary.p50Ms, 5);
    assert.equal(summary.maxMs, 9);
  });

  test('the sample buffer keeps every sample past its initial capacity', () => {
    const samples = new LatencySamples();
    const n = 200_000;
    for (let i = 0; i < n; i++) samples.add(i % 1000);
    assert.equal(samples.count, n);
    const summary = samples.summary();
    assert.equal(summary.count, n);
    assert.equal(summary.maxMs, 999);
    assert.equal(summary.p50Ms, 499);
  });

  test('no samples: every figure is NaN, not zero', () => {
    const summary = new LatencySamples().summary();
    assert.equal(summary.count, 0);
    assert.ok(Number.isNaN(summary.p99Ms));
    assert.ok(Number.isNaN(summary.meanMs));
  });
});
