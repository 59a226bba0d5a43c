// What a verdict carries beyond its outcome: every rule's figure and threshold, figures without histograms for the
// audit trail, and the rule label the verdicts metric uses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIDENCE, failingRule, judge } from '../../src/core/judge.ts';
import { DEFAULT_POLICY, windowStats } from '../support/judge-fixtures.ts';

const NOW = 1_700_000_000_000;

test('a verdict lists every rule with its value and threshold, in a fixed order', () => {
  const v = judge(windowStats({ requests: 300, errors: 30 }, { requests: 1000, errors: 5 }), DEFAULT_POLICY, NOW);
  assert.deepEqual(
    v.checks.map((c) => c.rule),
    ['min_samples', 'consecutive_failures', 'error_rate', 'error_rate_increase', 'p99', 'p99_ratio'],
  );
  const errorRate = v.checks.find((c) => c.rule === 'error_rate');
  assert.equal(errorRate?.value, 0.1);
  assert.equal(errorRate?.threshold, 0.02);
  assert.equal(errorRate?.passed, false);
  const increase = v.checks.find((c) => c.rule === 'error_rate_increase');
  assert.equal(increase?.value, 0.1 - 0.005);
  assert.equal(increase?.threshold, 0.01);
  assert.equal(v.at, NOW);
  assert.equal(v.routeId, 'agents-read');
  assert.equal(CONFIDENCE, 0.99);
});

test('rules that could not run say so and do not count as failures', () => {
  const v = judge(windowStats({ requests: 5, errors: 0 }, { requests: 1000, errors: 0 }), DEFAULT_POLICY, NOW);
  const errorRate = v.checks.find((c) => c.rule === 'error_rate');
  assert.equal(errorRate?.passed, true);
  assert.equal(errorRate?.value, null);
  assert.match(errorRate?.detail ?? '', /^not evaluated: too few service requests \(5 < 20\)/);
});

test('the figures keep counts and p99 but leave the histograms out of the audit trail', () => {
  const stats = windowStats({ requests: 300, errors: 3 }, { requests: 900, errors: 1 });
  assert.ok(stats.service.latencyCounts, 'the fixture has histograms');
  const v = judge(stats, DEFAULT_POLICY, NOW);
  assert.deepEqual(v.figures.service, {
    requests: 300,
    errors: 3,
    p99Ms: stats.service.p99Ms,
    consecutiveTransportFailures: 0,
  });
  assert.equal('latencyCounts' in v.figures.legacy, false);
  assert.equal(JSON.stringify(v).length < 3000, true, 'a verdict stays small enough for an audit row');
});

test('the metric rule label is the first failing rule, min_samples when holding, none when healthy', () => {
  const critical = judge(
    windowStats({ requests: 300, errors: 60, consecutiveTransportFailures: 9 }, { requests: 1000, errors: 5 }),
    DEFAULT_POLICY,
    NOW,
  );
  assert.equal(failingRule(critical), 'consecutive_failures');
  const slow = judge(
    windowStats({ requests: 300, errors: 0, latencies: { '505': 300 } }, { requests: 1000, errors: 0 }),
    DEFAULT_POLICY,
    NOW,
  );
  assert.equal(failingRule(slow), 'p99_ratio');
  const hold = judge(windowStats({ requests: 2, errors: 0 }, { requests: 1000, errors: 0 }), DEFAULT_POLICY, NOW);
  assert.equal(failingRule(hold), 'min_samples');
  const healthy = judge(windowStats({ requests: 300, errors: 0 }, { requests: 1000, errors: 0 }), DEFAULT_POLICY, NOW);
  assert.equal(healthy.outcome, 'healthy');
  assert.equal(failingRule(healthy), 'none');
});

test('a shared failure holds with the rule label inconclusive', () => {
  const v = judge(windowStats({ requests: 300, errors: 150 }, { requests: 1200, errors: 600 }), DEFAULT_POLICY, NOW);
  assert.equal(v.outcome, 'insufficient_data');
  assert.equal(failingRule(v), 'inconclusive');
});
