// The windowed outcome counters the judge reads: what counts as an error, the sliding window, p99 from the shared
// histogram, the run of transport failures, and merging slots from several replicas.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createOutcomeWindow, mergeSlots, type OutcomeSlot, statsFromSlots } from '../../src/core/outcome-window.ts';
import type { Outcome } from '../../src/core/types.ts';

const T0 = 1_700_000_000_000; // a whole second
const ROUTE = 'agents-read';

function outcome(at: number, overrides: Partial<Outcome> = {}): Outcome {
  return { routeId: ROUTE, target: 'service', status: 200, latencyMs: 10, transportError: false, at, ...overrides };
}

describe('errors', () => {
  test('5xx and transport failures are errors; 4xx, 3xx and 2xx are not', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    for (const status of [200, 204, 301, 304, 400, 404, 429, 499]) w.record(outcome(T0, { status }));
    for (const status of [500, 502, 503, 504]) w.record(outcome(T0, { status }));
    w.record(outcome(T0, { status: 0, transportError: true }));
    const s = w.stats(ROUTE, 60_000, T0 + 500).service;
    assert.equal(s.requests, 13);
    assert.equal(s.errors, 5);
  });

  test('legacy and service are counted apart, per route', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    w.record(outcome(T0, { target: 'legacy', status: 500 }));
    w.record(outcome(T0, { target: 'legacy' }));
    w.record(outcome(T0));
    w.record(outcome(T0, { routeId: 'other', status: 503 }));
    const stats = w.stats(ROUTE, 60_000, T0);
    assert.deepEqual([stats.legacy.requests, stats.legacy.errors], [2, 1]);
    assert.deepEqual([stats.service.requests, stats.service.errors], [1, 0]);
    assert.equal(stats.routeId, ROUTE);
    assert.equal(stats.windowMs, 60_000);
    assert.equal(w.stats('other', 60_000, T0).service.errors, 1);
    assert.equal(w.stats('unknown', 60_000, T0).service.requests, 0);
  });
});

describe('the sliding window', () => {
  test('counts the seconds after now − window up to now, the current partial second included', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    for (let s = 0; s < 10; s++) w.record(outcome(T0 + s * 1000 + 100));
    assert.equal(w.stats(ROUTE, 5_000, T0 + 9_500).service.requests, 5); // seconds 5..9
    assert.equal(w.stats(ROUTE, 10_000, T0 + 9_500).service.requests, 10);
    assert.equal(w.stats(ROUTE, 5_000, T0 + 20_000).service.requests, 0);
    assert.equal(w.stats(ROUTE, 5_000, T0 + 3_500).service.requests, 4); // a window in the past: seconds 0..3
  });

  test('keeps memory bounded to the retention and prune forgets quiet routes', () => {
    const w = createOutcomeWindow({ retainMs: 5_000 });
    for (let s = 0; s < 100; s++) w.record(outcome(T0 + s * 1000));
    assert.equal(w.slots(ROUTE).service.length, 5);
    w.record(outcome(T0 + 10_000)); // older than the retention: dropped
    assert.equal(w.stats(ROUTE, 100_000, T0 + 99_000).service.requests, 5);
    w.prune(T0 + 200_000);
    assert.deepEqual(w.routes(), []);
  });

  test('late outcomes land in their own second', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    w.record(outcome(T0 + 5_000));
    w.record(outcome(T0 + 2_000, { status: 500 }));
    w.record(outcome(T0 + 3_000));
    assert.deepEqual(
      w.slots(ROUTE).service.map((s) => s.second * 1000 - T0),
      [2_000, 3_000, 5_000],
    );
    assert.equal(w.stats(ROUTE, 3_000, T0 + 5_000).service.errors, 0); // seconds 3..5
    assert.equal(w.stats(ROUTE, 4_000, T0 + 5_000).service.errors, 1); // seconds 2..5
  });
});

describe('p99', () => {
  test('comes from the shared histogram: within one bucket (~10 %) above the true value', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    for (let i = 1; i <= 1000; i++) w.record(outcome(T0, { latencyMs: i }));
    const p99 = w.stats(ROUTE, 60_000, T0).service.p99Ms;
    assert.ok(p99 !== null && p99 >= 990 && p99 <= 990 * 1.1, String(p99));
  });

  test('is null with no requests, and the histogram is handed to the judge', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    w.record(outcome(T0, { latencyMs: 120 }));
    const stats = w.stats(ROUTE, 60_000, T0);
    assert.equal(stats.legacy.p99Ms, null);
    assert.equal(
      stats.service.latencyCounts?.reduce((a, b) => a + b, 0),
      1,
    );
  });
});

describe('consecutive transport failures', () => {
  test('counts the run at the end of the window and a success resets it', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    const fail = { status: 0, transportError: true };
    w.record(outcome(T0, fail));
    w.record(outcome(T0 + 10, fail));
    w.record(outcome(T0 + 20));
    w.record(outcome(T0 + 30, fail));
    w.record(outcome(T0 + 40, fail));
    assert.equal(w.stats(ROUTE, 60_000, T0 + 50).service.consecutiveTransportFailures, 2);
  });

  test('a run spans seconds, across quiet seconds', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    const fail = { status: 0, transportError: true };
    w.record(outcome(T0));
    w.record(outcome(T0 + 100, fail));
    w.record(outcome(T0 + 1_100, fail));
    w.record(outcome(T0 + 1_200, fail));
    w.record(outcome(T0 + 4_100, fail));
    assert.equal(w.stats(ROUTE, 60_000, T0 + 4_500).service.consecutiveTransportFailures, 4);
  });

  test('a 5xx is an error but not a transport failure, so it ends the run', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    w.record(outcome(T0, { status: 0, transportError: true }));
    w.record(outcome(T0 + 10, { status: 503 }));
    w.record(outcome(T0 + 20, { status: 0, transportError: true }));
    const s = w.stats(ROUTE, 60_000, T0 + 50).service;
    assert.equal(s.consecutiveTransportFailures, 1);
    assert.equal(s.errors, 3);
  });

  test('a run that left the window is forgotten', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    for (let i = 0; i < 10; i++) w.record(outcome(T0 + i, { status: 0, transportError: true }));
    assert.equal(w.stats(ROUTE, 5_000, T0 + 1_000).service.consecutiveTransportFailures, 10);
    assert.equal(w.stats(ROUTE, 5_000, T0 + 6_000).service.consecutiveTransportFailures, 0);
  });
});

describe('slots from several replicas (the Redis store shape)', () => {
  const slot = (second: number, fields: Partial<OutcomeSlot>): OutcomeSlot => ({
    second,
    requests: 0,
    errors: 0,
    transportFailures: 0,
    latency: [],
    ...fields,
  });

  test('statsFromSlots sums duplicate seconds and sparse histograms field by field', () => {
    const second = T0 / 1000;
    const a = slot(second, { requests: 3, errors: 1, latency: [0, 2, 1] });
    const b = slot(second, { requests: 2, errors: 2, latency: [0, 0, 0, 2] });
    const older = slot(second - 1, { requests: 5, latency: [5] });
    const stats = statsFromSlots(ROUTE, { legacy: [], service: [b, older, a] }, 60_000, T0 + 500);
    assert.equal(stats.service.requests, 10);
    assert.equal(stats.service.errors, 3);
    assert.deepEqual(stats.service.latencyCounts?.slice(0, 4), [5, 2, 1, 2]);
    assert.deepEqual(mergeSlots(a, b).latency, [0, 2, 1, 2]);
  });

  test('without a known tail, only whole seconds of failures make a run; replicas add up', () => {
    const second = T0 / 1000;
    const allFailed = (s: number, n: number) => slot(s, { requests: n, errors: n, transportFailures: n });
    const slots = [
      slot(second - 2, { requests: 4, errors: 2, transportFailures: 2 }), // mixed, tail unknown: ends the run
      allFailed(second - 1, 3),
      allFailed(second, 2), // replica A
      allFailed(second, 4), // replica B
    ];
    const stats = statsFromSlots(ROUTE, { legacy: [], service: slots }, 60_000, T0 + 900);
    assert.equal(stats.service.consecutiveTransportFailures, 9);
  });

  test('the in-process window and statsFromSlots over its slots agree', () => {
    const w = createOutcomeWindow({ retainMs: 60_000 });
    for (let i = 0; i < 200; i++) {
      w.record(
        outcome(T0 + i * 37, {
          target: i % 3 === 0 ? 'legacy' : 'service',
          status: i % 17 === 0 ? 502 : 200,
          latencyMs: (i * 13) % 400,
          transportError: i > 190,
        }),
      );
    }
    const now = T0 + 200 * 37;
    assert.deepEqual(statsFromSlots(ROUTE, w.slots(ROUTE), 5_000, now), w.stats(ROUTE, 5_000, now));
  });
});
