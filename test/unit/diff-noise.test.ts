// Learned noise (Diffy's raw vs noise counts with relative and absolute thresholds), per-request noise
// (Diferencia's second monolith answer), the request-level mismatch rate, the gate and the canary's diff rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffCheck, diffGate, withDiffCheck } from '../../src/core/diff-judge.ts';
import {
  type ComparisonRecord,
  countComparison,
  DEFAULT_NOISE_THRESHOLDS,
  fieldVerdicts,
  MIN_NOISE_SAMPLES,
  suggestRules,
  summarize,
} from '../../src/core/diff-tally.ts';
import type { FieldDifference } from '../../src/core/structural-diff.ts';
import type { Verdict } from '../../src/core/types.ts';

const AT = 1_700_000_000_000;

function d(field: string, legacy = '1', service = '2', kind: FieldDifference['kind'] = 'value'): FieldDifference {
  return { field, path: field, kind, legacy, service };
}

/** Adds `n` comparisons into `counters`, the i-th built by `make(i)`. */
function feed(counters: Map<string, number>, n: number, make: (i: number) => Partial<ComparisonRecord>): void {
  for (let i = 0; i < n; i++) {
    const record: ComparisonRecord = {
      at: AT,
      result: 'compared',
      legacyStatus: 200,
      differences: [],
      noiseDifferences: null,
      ruled: 0,
      ...make(i),
    };
    for (const [k, v] of countComparison(record).increments) counters.set(k, (counters.get(k) ?? 0) + v);
  }
}

const verdictOf = (counters: Map<string, number>, field: string) =>
  fieldVerdicts(counters, DEFAULT_NOISE_THRESHOLDS).find((f) => f.field === field)?.verdict;

describe('learned noise', () => {
  test('a field the monolith varies on alone as often as with the service is noise', () => {
    const c = new Map<string, number>();
    feed(c, 400, (i) => ({
      differences: [d('body.at')],
      noiseDifferences: i % 4 === 0 ? [d('body.at')] : null,
    }));
    assert.equal(verdictOf(c, 'body.at'), 'noise');
  });

  test('a field only the service changes stays real, even at 5 %', () => {
    const c = new Map<string, number>();
    feed(c, 400, (i) => ({
      differences: i % 20 === 0 ? [d('body.price')] : [],
      noiseDifferences: i % 4 === 0 ? [] : null,
    }));
    assert.equal(verdictOf(c, 'body.price'), 'real');
  });

  test('a field the service changes much more often than the monolith does is real (relative threshold)', () => {
    const c = new Map<string, number>();
    // Monolith: differs on itself in 10 % of samples; service: in 60 % of comparisons.
    feed(c, 400, (i) => ({
      differences: i % 10 < 6 ? [d('body.rank')] : [],
      noiseDifferences: i % 4 === 0 ? (i % 40 === 0 ? [d('body.rank')] : []) : null,
    }));
    assert.equal(verdictOf(c, 'body.rank'), 'real');
  });

  test('a field that differs on a handful of requests only is noise (absolute threshold)', () => {
    const c = new Map<string, number>();
    feed(c, 4000, (i) => ({ differences: i === 5 ? [d('body.rare')] : [], noiseDifferences: i % 4 === 0 ? [] : null }));
    assert.equal(verdictOf(c, 'body.rare'), 'noise');
  });

  test(`nothing is noise before ${MIN_NOISE_SAMPLES} second monolith answers: the field is still learning`, () => {
    const c = new Map<string, number>();
    feed(c, 50, (i) => ({
      differences: [d('body.at')],
      noiseDifferences: i < MIN_NOISE_SAMPLES - 1 ? [d('body.at')] : null,
    }));
    assert.equal(verdictOf(c, 'body.at'), 'learning');
  });

  test('fields are learned per status: noise on 200 says nothing about the same field on 404', () => {
    const c = new Map<string, number>();
    feed(c, 200, (i) => ({ differences: [d('body.at')], noiseDifferences: i % 2 === 0 ? [d('body.at')] : null }));
    feed(c, 20, () => ({ legacyStatus: 404, differences: [d('body.at')] }));
    const verdicts = fieldVerdicts(c, DEFAULT_NOISE_THRESHOLDS).filter((f) => f.field === 'body.at');
    assert.deepEqual(
      verdicts.map((f) => [f.status, f.verdict]),
      [
        [200, 'noise'],
        [404, 'real'],
      ],
    );
  });
});

describe('mismatch rate after noise', () => {
  test('per-request noise clears a request at once; learned noise clears the rest; real fields stay', () => {
    const c = new Map<string, number>();
    feed(c, 400, (i) => ({
      differences: i % 50 === 0 ? [d('body.at'), d('body.price')] : [d('body.at')],
      noiseDifferences: i % 4 === 1 ? [d('body.at')] : null,
    }));
    const s = summarize(c, 0, DEFAULT_NOISE_THRESHOLDS);
    assert.equal(s.compared, 400);
    assert.equal(s.rawMismatches, 400);
    assert.equal(s.mismatches, 8);
    assert.deepEqual(s.mismatchFields, [{ status: 200, field: 'body.price', count: 8 }]);
  });

  test('slots before `from` are left out of the rate, not out of the learning', () => {
    const c = new Map<string, number>();
    feed(c, 100, () => ({ at: AT - 60_000, differences: [d('body.x')] }));
    feed(c, 10, () => ({ at: AT }));
    const s = summarize(c, AT - 10_000, DEFAULT_NOISE_THRESHOLDS);
    assert.equal(s.compared, 10);
    assert.equal(s.mismatches, 0);
    assert.equal(s.learning.compared, 110);
  });
});

describe('suggest', () => {
  test('each noise field gets the narrowest rule its differences allow', () => {
    const c = new Map<string, number>();
    feed(c, 100, () => ({
      differences: [
        d('body.at', '"2026-01-01T00:00:00.000Z"', '"2026-01-01T00:00:03.000Z"'),
        d('body.id', '"1b4e28ba-2fa1-11d2-883f-0016d3cca427"', '"6fa459ea-ee8a-3ca4-894e-db77e160355e"'),
        d('body.score', '1.5', '1.52'),
        d('body.list', '"3 elements"', '"same elements, other order"', 'order'),
        d('body.blob', '"x"', '{"a":1}'),
      ],
      noiseDifferences: [
        d('body.at', '"2026-01-01T00:00:00.000Z"', '"2026-01-01T00:00:01.000Z"'),
        d('body.id', '"1b4e28ba-2fa1-11d2-883f-0016d3cca427"', '"6fa459ea-ee8a-3ca4-894e-db77e160355f"'),
        d('body.score', '1.5', '1.51'),
        d('body.list', '"3 elements"', '"same elements, other order"', 'order'),
        d('body.blob', '"x"', '"y"'),
      ],
    }));
    assert.deepEqual(suggestRules(c, DEFAULT_NOISE_THRESHOLDS).sort(), [
      '- { path: "body.at", timestamp: 5s }',
      '- { path: "body.blob", ignore: true }',
      '- { path: "body.id", sameShape: true }',
      '- { path: "body.list", array: unordered }',
      '- { path: "body.score", tolerance: { absolute: 0.1 } }',
    ]);
  });
});

describe('the gate and the diff rule', () => {
  const policy = { minRequests: 200, maxMismatchRate: 0.01 };
  const summary = (compared: number, mismatches: number, errors = 0) => {
    const c = new Map<string, number>();
    feed(c, compared, (i) => ({ differences: i < mismatches ? [d('body.price')] : [] }));
    return { ...summarize(c, 0, DEFAULT_NOISE_THRESHOLDS), errors };
  };

  test('the gate holds below minRequests, whatever the rate', () => {
    assert.equal(diffGate(summary(199, 0), policy).outcome, 'hold');
  });
  test('the gate passes when the rate is significantly below the limit', () => {
    const gate = diffGate(summary(1000, 2), policy);
    assert.equal(gate.outcome, 'pass', gate.reason);
  });
  test('the gate holds when the rate is below the limit but not significantly, naming the fields', () => {
    const gate = diffGate(summary(300, 2), policy);
    assert.equal(gate.outcome, 'hold');
    assert.match(gate.reason, /not significantly below 1.00%; differing fields: body.price \(2\)/);
  });
  test('copies the service did not answer count against the gate', () => {
    assert.equal(diffGate(summary(1000, 0, 40), policy).outcome, 'hold');
  });

  test('the diff rule fails on a significant excess and names the field', () => {
    const check = diffCheck(summary(400, 20), policy, 20);
    assert.equal(check.outcome, 'failed');
    assert.match(check.check.detail, /5.00% \(20\/400\) exceeds 1.00% .*body.price \(20\)/);
  });
  test('the diff rule doubts an excess that is not significant yet, and says nothing on too few comparisons', () => {
    assert.equal(diffCheck(summary(100, 2), policy, 20).outcome, 'doubtful');
    assert.equal(diffCheck(summary(10, 5), policy, 20).outcome, 'insufficient_data');
  });

  const base: Verdict = {
    routeId: 'r',
    outcome: 'healthy',
    reason: 'all good',
    checks: [],
    figures: {
      routeId: 'r',
      windowMs: 1000,
      legacy: { requests: 0, errors: 0, p99Ms: null, consecutiveTransportFailures: 0 },
      service: { requests: 0, errors: 0, p99Ms: null, consecutiveTransportFailures: 0 },
    },
    at: AT,
  };
  test('a failed diff rule makes a healthy or holding verdict unhealthy, with the check in the list', () => {
    const failed = diffCheck(summary(400, 20), policy, 20);
    for (const outcome of ['healthy', 'insufficient_data'] as const) {
      const v = withDiffCheck({ ...base, outcome }, failed);
      assert.equal(v.outcome, 'unhealthy');
      assert.match(v.reason, /^answers differ: .*body.price/);
      assert.deepEqual(
        v.checks.map((c) => [c.rule, c.passed]),
        [['diff', false]],
      );
    }
    assert.equal(withDiffCheck({ ...base, outcome: 'critical' }, failed).outcome, 'critical');
  });
  test('a doubtful diff rule holds a healthy verdict; a passed one changes nothing but the checks', () => {
    assert.equal(withDiffCheck(base, diffCheck(summary(100, 2), policy, 20)).outcome, 'insufficient_data');
    const passed = withDiffCheck(base, diffCheck(summary(1000, 0), policy, 20));
    assert.equal(passed.outcome, 'healthy');
    assert.equal(passed.reason, 'all good');
  });
});
