// The judge's recorded evidence: a lossless line per second, and a replay that re-runs the judge over it under
// today's or a candidate policy, so a policy change is tried on real seconds before routes.yaml changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeRecordedSecond,
  encodeRecordedSecond,
  type RecordedSecond,
  replayJudge,
} from '../../src/core/judge-replay.ts';
import { DEFAULT_POLICY, JUDGE_T0_SECOND, recordedSeconds, slotOf } from '../support/judge-fixtures.ts';

const seconds = (n: number, serviceMs: string, from = JUDGE_T0_SECOND): RecordedSecond[] =>
  recordedSeconds('agents-read', n, serviceMs, from);

test('a recorded second survives its line: counts, tails, edge-delayed requests and the histogram', () => {
  const r: RecordedSecond = {
    routeId: 'agents-read',
    second: JUDGE_T0_SECOND,
    service: slotOf(JUDGE_T0_SECOND, {
      requests: 7,
      errors: 3,
      transportFailures: 2,
      edgeDelayed: 1,
      latencies: { '5': 4, '900': 3 },
    }),
  };
  const back = decodeRecordedSecond(encodeRecordedSecond(r));
  assert.ok(back);
  assert.equal(back.legacy, undefined);
  assert.deepEqual(
    { ...back.service, latency: back.service?.latency.filter((c) => c > 0) },
    { ...r.service, latency: r.service?.latency.filter((c) => c > 0) },
  );
  for (const bad of [
    '',
    '{',
    '{"r":"x"}',
    '{"r":"x","s":1,"svc":[1,2]}',
    '{"r":"x","s":1,"svc":[1,0,0,0,0,{"a":1}]}',
  ]) {
    assert.equal(decodeRecordedSecond(bad), null, bad);
  }
});

test('replay: a healthy service is never rolled back; a slow one is, at the second it would have been', () => {
  const fine = replayJudge('agents-read', seconds(300, '52'), DEFAULT_POLICY);
  assert.equal(fine.rolledBackAt, null);
  assert.equal(fine.lines.length, 300);
  assert.equal(fine.lines.at(-1)?.outcome, 'healthy');
  assert.equal(fine.lines[0]?.outcome, 'insufficient_data', 'the first second is not enough to pass');

  const slow = replayJudge(
    'agents-read',
    [...seconds(60, '50'), ...seconds(60, '80', JUDGE_T0_SECOND + 60)],
    DEFAULT_POLICY,
  );
  assert.ok(slow.rolledBackAt !== null && slow.rolledBackAt >= JUDGE_T0_SECOND + 60, String(slow.rolledBackAt));
  assert.equal(slow.lines.at(-1)?.second, slow.rolledBackAt, 'the replay stops at the rollback');
  assert.ok(['latency', 'p99_ratio'].includes(slow.lines.at(-1)?.rule ?? ''), slow.lines.at(-1)?.reason);
});

test('replay under a candidate policy: a wider latency margin keeps the same seconds healthy', () => {
  const records = [...seconds(60, '50'), ...seconds(120, '60', JUDGE_T0_SECOND + 60)];
  assert.notEqual(replayJudge('agents-read', records, DEFAULT_POLICY).rolledBackAt, null);
  const wider = replayJudge('agents-read', records, { ...DEFAULT_POLICY, maxLatencyIncrease: 0.5, maxP99Ratio: 3 });
  assert.equal(wider.rolledBackAt, null, wider.lines.at(-1)?.reason);
  assert.equal(replayJudge('other-route', records, DEFAULT_POLICY).lines.length, 0);
});
