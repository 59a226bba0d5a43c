// The structural differ and every noise rule against the table-driven cases in test/cases/diff/: each case lists
// the differences a person would read (`kind path`), in order. Rules go through the routes.yaml schema, so a case
// is written exactly as an operator writes the rule.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { shadowSchema } from '../../src/config/routes-schema.ts';
import { type DiffAnswer, diffAnswers } from '../../src/core/structural-diff.ts';

interface DiffCase {
  name: string;
  rules?: unknown[];
  compareHeaders?: string[];
  legacy?: unknown;
  service?: unknown;
  legacyText?: string;
  serviceText?: string;
  legacyStatus?: number;
  serviceStatus?: number;
  legacyHeaders?: string[];
  serviceHeaders?: string[];
  expect: string[];
}

function answer(status: number, headers: string[], json: unknown, text: string | undefined): DiffAnswer {
  const body = Buffer.from(text ?? JSON.stringify(json));
  const type = text === undefined ? ['content-type', 'application/json'] : ['content-type', 'text/plain'];
  return {
    status,
    headers: [...type, ...headers],
    body,
    bodyBytes: body.length,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
}

const dir = new URL('../cases/diff/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('the differ has case files', () => {
  assert.ok(files.length >= 2, 'expected JSON case files in test/cases/diff');
});

for (const file of files) {
  const { cases } = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { cases: DiffCase[] };
  describe(`diff cases: ${file}`, () => {
    for (const c of cases) {
      test(c.name, () => {
        const policy = shadowSchema.parse({ rules: c.rules ?? [] });
        const result = diffAnswers(
          answer(c.legacyStatus ?? 200, c.legacyHeaders ?? [], c.legacy, c.legacyText),
          answer(c.serviceStatus ?? 200, c.serviceHeaders ?? [], c.service, c.serviceText),
          { headers: c.compareHeaders ?? [], rules: policy.rules, maxDiffBytes: policy.maxDiffBytes },
        );
        assert.equal(result.result, 'compared');
        if (result.result !== 'compared') return;
        assert.deepEqual(
          result.differences.map((d) => `${d.kind} ${d.path}`),
          c.expect,
          JSON.stringify(result.differences),
        );
      });
    }
  });
}

describe('bodies over maxDiffBytes', () => {
  const big = (fill: string) => {
    const body = Buffer.from(fill.repeat(100));
    return {
      status: 200,
      headers: ['content-type', 'application/json'],
      body: null,
      bodyBytes: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
    };
  };
  const options = { headers: [], rules: [], maxDiffBytes: 50 };

  test('equal digests still match', () => {
    assert.deepEqual(diffAnswers(big('a'), big('a'), options), { result: 'compared', differences: [], ruled: 0 });
  });

  test('different digests are skipped with the reason, not counted either way', () => {
    const result = diffAnswers(big('a'), big('b'), options);
    assert.equal(result.result, 'skipped');
    assert.match(result.result === 'skipped' ? result.reason : '', /over maxDiffBytes 50/);
  });
});

describe('rules that cannot be written', () => {
  test('two kinds in one rule, no kind, and a bad path are refused with a sentence', () => {
    const bad = shadowSchema.safeParse({
      rules: [{ path: 'body.a', ignore: true, sameShape: true }, { path: 'body.b' }, { path: 'query.x', ignore: true }],
    });
    assert.equal(bad.success, false);
    const messages = bad.error?.issues.map((i) => i.message) ?? [];
    assert.ok(
      messages.some((m) => m.includes('exactly one of') && m.includes('ignore and sameShape')),
      messages.join(),
    );
    assert.ok(
      messages.some((m) => m.includes('must start with body, header or status')),
      messages.join(),
    );
  });
});
