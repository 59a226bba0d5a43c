// What a sequential verdict carries beyond its outcome: the numbers behind it (per side, the bounds and margins,
// the contaminated seconds), figures small enough for an audit row, the metric label, and restarts per step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALPHA, failingRule, SequentialJudge } from '../../src/core/sequential-judge.ts';
import { DEFAULT_POLICY, JUDGE_T0_SECOND, judgePhases, slotOf } from '../support/judge-fixtures.ts';

const healthy = {
  seconds: 60,
  service: { requests: 20, latencies: { '50': 20 } },
  legacy: { requests: 80, latencies: { '50': 80 } },
};

test('a verdict lists every rule in a fixed order, with the evidence behind it', () => {
  const stall = {
    seconds: 1,
    service: { requests: 20, latencies: { '900': 20 } },
    legacy: { requests: 80, latencies: { '900': 80 } },
  };
  const verdicts = judgePhases([healthy, stall, { ...healthy, seconds: 10 }]);
  const v = verdicts[verdicts.length - 1];
  assert.ok(v);
  assert.deepEqual(
    v.checks.map((c) => c.rule),
    [
      'min_samples',
      'consecutive_failures',
      'error_burst',
      'error_rate',
      'error_rate_increase',
      'p99',
      'p99_ratio',
      'latency',
    ],
  );
  const ev = v.evidence;
  assert.ok(ev);
  assert.equal(ev.service.requests, 70 * 20);
  assert.equal(ev.legacy.requests, 70 * 80);
  assert.equal(ev.contaminated.seconds, 1);
  assert.equal(ev.contaminated.byReason.common_latency, 1);
  assert.deepEqual(ev.contaminated.recent, [{ second: JUDGE_T0_SECOND + 60, reason: 'common_latency' }]);
  assert.equal(ev.errorRate.margin, DEFAULT_POLICY.maxErrorRateIncrease);
  assert.ok(ev.errorRate.service.upper > 0 && ev.errorRate.service.lower === 0);
  assert.equal(ev.latency.margin, 0.1);
  assert.equal(ev.latency.rejectAt, 1 / ALPHA);
  assert.equal(ev.latency.pairedSeconds, 70);
  assert.ok(ev.service.p50Ms !== null && ev.service.p50Ms >= 50 && ev.service.p50Ms < 56);
  assert.equal(failingRule(v), 'none');
});

test('the figures and evidence stay small enough for an audit row (no histograms, no slots)', () => {
  const v = judgePhases([healthy]).at(-1);
  assert.ok(v);
  assert.equal('latencyCounts' in v.figures.service, false);
  assert.equal('seconds' in v.figures.legacy, false);
  assert.ok(JSON.stringify(v).length < 6000, `${JSON.stringify(v).length} characters`);
});

test('the metric label: the first failing rule, min_samples or inconclusive when holding', () => {
  const hold = judgePhases([{ seconds: 2, service: { requests: 2 }, legacy: { requests: 10 } }]).at(-1);
  assert.ok(hold);
  assert.equal(failingRule(hold), 'min_samples');
  const stalls = judgePhases([
    healthy,
    {
      seconds: 10,
      service: { requests: 20, latencies: { '900': 20 } },
      legacy: { requests: 80, latencies: { '900': 80 } },
    },
  ]).at(-1);
  assert.ok(stalls);
  assert.equal(failingRule(stalls), 'inconclusive');
});

test('restart starts the tests over but keeps learning seconds in order; old seconds are ignored', () => {
  const judge = new SequentialJudge('r', JUDGE_T0_SECOND);
  for (let s = 0; s < 30; s++) {
    const second = JUDGE_T0_SECOND + s;
    judge.observe(
      second,
      slotOf(second, { requests: 20, errors: 2 }),
      slotOf(second, { requests: 80 }),
      DEFAULT_POLICY,
    );
  }
  assert.equal(judge.verdict(DEFAULT_POLICY, (JUDGE_T0_SECOND + 30) * 1000).outcome, 'unhealthy');
  judge.restart(JUDGE_T0_SECOND + 30);
  // A second from before the restart is not learnt again.
  judge.observe(JUDGE_T0_SECOND + 29, slotOf(0, { requests: 20, errors: 20 }), undefined, DEFAULT_POLICY);
  const fresh = judge.verdict(DEFAULT_POLICY, (JUDGE_T0_SECOND + 30) * 1000);
  assert.equal(fresh.evidence?.service.requests, 0);
  assert.equal(fresh.outcome, 'insufficient_data');
});
