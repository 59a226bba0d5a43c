// The fallback decision against test/cases/fallback/, the stage of a transport error, and the retry budget.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  type BodyReplay,
  DEFAULT_FALLBACK,
  decideFallback,
  type FailureStage,
  type FallbackPolicy,
  RetryBudget,
  stageOfError,
} from '../../src/core/fallback-policy.ts';

interface Case {
  name: string;
  stage: FailureStage;
  method: string;
  idempotencyKey?: boolean;
  body: BodyReplay;
  budget?: boolean;
  policy?: Partial<FallbackPolicy>;
  expect: { fallback: boolean; why?: string };
}

const { cases } = JSON.parse(readFileSync(new URL('../cases/fallback/decisions.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

describe('fallback decisions', () => {
  for (const c of cases) {
    test(c.name, () => {
      let asked = false;
      const decision = decideFallback({
        stage: c.stage,
        method: c.method,
        hasIdempotencyKey: c.idempotencyKey ?? false,
        body: c.body,
        policy: { ...DEFAULT_FALLBACK, ...c.policy },
        budget: () => {
          asked = true;
          return c.budget ?? true;
        },
      });
      assert.deepEqual(decision, c.expect.fallback ? { fallback: true } : { fallback: false, why: c.expect.why });
      // The budget is only spent on a fallback that would otherwise happen.
      assert.equal(asked, c.expect.fallback || c.expect.why === 'budget_exhausted');
    });
  }
});

test('connect errors are "not sent"; resets and timeouts after sending are not', () => {
  for (const code of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH'])
    assert.equal(stageOfError(code), 'not_sent');
  for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', undefined]) {
    assert.equal(stageOfError(code), 'no_response');
  }
});

test('the retry budget: at least minPerSecond, else the ratio of the busier of this and the last second', () => {
  const T = 1_700_000_000_000;
  const budget = new RetryBudget(0.2, 3);
  // A quiet route: 3 a second, whatever the ratio says.
  budget.noteRequest(T);
  assert.deepEqual(
    [budget.tryTake(T), budget.tryTake(T), budget.tryTake(T), budget.tryTake(T)],
    [true, true, true, false],
  );
  // 100 requests in a second: 20 fallbacks in that second, and in the next (the last second's traffic counts).
  for (let i = 0; i < 100; i++) budget.noteRequest(T + 1000);
  let taken = 0;
  while (budget.tryTake(T + 1000)) taken++;
  assert.equal(taken, 20);
  taken = 0;
  while (budget.tryTake(T + 2000)) taken++;
  assert.equal(taken, 20);
  // After a quiet second, back to the floor.
  taken = 0;
  while (budget.tryTake(T + 4000)) taken++;
  assert.equal(taken, 3);
});
