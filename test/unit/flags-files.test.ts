// flags/ documents: what is accepted (everything Unleash itself serves), what is refused, and where a problem is
// pointed at. Cases live in test/cases/flags-files/parse-cases.json.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { jsonErrorOffset, parseFlagsFile } from '../../src/adapters/flags/flags-files.ts';

interface ParseCase {
  name: string;
  document?: unknown;
  text?: string;
  features: string[];
  problems: Array<{ line?: number; message: string }>;
  warnings: string[];
}

const cases = JSON.parse(
  readFileSync(new URL('../cases/flags-files/parse-cases.json', import.meta.url), 'utf8'),
) as ParseCase[];

describe('parseFlagsFile', () => {
  for (const c of cases) {
    test(c.name, () => {
      const text = c.text ?? JSON.stringify(c.document, null, 2);
      const parsed = parseFlagsFile(text, 'flags/shop.json');
      assert.deepEqual(
        parsed.features.map((f) => f.name),
        c.features,
      );
      assert.equal(parsed.problems.length, c.problems.length, JSON.stringify(parsed.problems));
      c.problems.forEach((expected, i) => {
        const actual = parsed.problems[i];
        assert.ok(actual, `problem ${i}`);
        assert.equal(actual.file, 'flags/shop.json');
        assert.ok(
          actual.message.includes(expected.message),
          `"${actual.message}" should contain "${expected.message}"`,
        );
        if (expected.line !== undefined) assert.equal(actual.line, expected.line, actual.message);
      });
      assert.equal(parsed.warnings.length, c.warnings.length, JSON.stringify(parsed.warnings));
      c.warnings.forEach((expected, i) => {
        assert.ok(
          parsed.warnings[i]?.message.includes(expected),
          `${parsed.warnings[i]?.message} should contain ${expected}`,
        );
      });
    });
  }

  test('unknown keys Unleash adds are kept on the parsed feature', () => {
    const parsed = parseFlagsFile(
      JSON.stringify({
        version: 2,
        features: [{ name: 'x', enabled: true, strategies: [], lastSeenAt: null, links: [] }],
      }),
      'x.json',
    );
    assert.deepEqual(parsed.features[0], { name: 'x', enabled: true, strategies: [], lastSeenAt: null, links: [] });
  });

  test('the repository flags/ directory is valid', () => {
    const text = readFileSync(new URL('../../flags/raptorflow.json', import.meta.url), 'utf8');
    const parsed = parseFlagsFile(text, 'flags/raptorflow.json');
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.warnings, []);
    assert.deepEqual(
      parsed.features.map((f) => f.name),
      ['raptorflow.agents-read', 'raptorflow.agents-write'],
    );
  });
});

describe('jsonErrorOffset', () => {
  const specDir = new URL('../../node_modules/@unleash/client-specification/specifications/', import.meta.url);
  const specFiles = JSON.parse(readFileSync(new URL('index.json', specDir), 'utf8')) as string[];

  test('finds no error in valid JSON (the client-specification files)', () => {
    for (const file of specFiles) assert.equal(jsonErrorOffset(readFileSync(new URL(file, specDir), 'utf8')), -1, file);
  });

  const invalid: Array<[string, number]> = [
    ['{"a": 1,}', 8],
    ['[1 2]', 3],
    ['{"a" 1}', 5],
    ['"abc', 4],
    ['{"a": tru}', 9],
    ['{"a": "\\q"}', 8],
    ['[01]', 2],
    ['{} x', 3],
  ];
  for (const [text, offset] of invalid) {
    test(`points at offset ${offset} of ${text}`, () => {
      assert.throws(() => JSON.parse(text));
      assert.equal(jsonErrorOffset(text), offset);
    });
  }
});
