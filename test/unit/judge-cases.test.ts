// The sequential judge against the table-driven cases in test/cases/judge/: runs of seconds, then the outcome of
// the last verdict, the exact set of failing rules, and the words a person reads in the reason.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { RolloutPolicy } from '../../src/config/types.ts';
import type { VerdictOutcome } from '../../src/core/types.ts';
import { DEFAULT_POLICY, judgePhases, type PhaseSpec } from '../support/judge-fixtures.ts';

interface JudgeCase {
  name: string;
  policy?: Partial<RolloutPolicy>;
  phases: PhaseSpec[];
  expect: {
    outcome: VerdictOutcome;
    failed: string[];
    reason?: string[];
    /** No verdict before the last one may have been a rollback (critical/unhealthy). */
    neverBefore?: boolean;
  };
}

const dir = new URL('../cases/judge/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('the judge has case files', () => {
  assert.ok(files.length >= 2, 'expected JSON case files in test/cases/judge');
});

for (const file of files) {
  const { cases } = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { cases: JudgeCase[] };
  describe(`judge cases: ${file}`, () => {
    for (const c of cases) {
      test(c.name, () => {
        const verdicts = judgePhases(c.phases, { ...DEFAULT_POLICY, ...c.policy });
        const verdict = verdicts[verdicts.length - 1];
        assert.ok(verdict, 'at least one second');
        const failed = verdict.checks.filter((check) => !check.passed).map((check) => check.rule);
        assert.equal(verdict.outcome, c.expect.outcome, verdict.reason);
        assert.deepEqual([...failed].sort(), [...c.expect.failed].sort(), verdict.reason);
        for (const words of c.expect.reason ?? []) {
          assert.ok(verdict.reason.includes(words), `reason "${verdict.reason}" should include "${words}"`);
        }
        if (c.expect.neverBefore) {
          const early = verdicts.slice(0, -1).find((v) => v.outcome === 'critical' || v.outcome === 'unhealthy');
          assert.equal(early, undefined, early?.reason);
        }
      });
    }
  });
}
