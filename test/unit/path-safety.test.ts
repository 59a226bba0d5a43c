import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { checkHeaders, checkRequestTarget, matchPath } from '../../src/core/path-safety.ts';

interface AcceptedCase {
  name: string;
  url: string;
  path: string;
  query: string | null;
  normalizedPath: string;
}
interface RefusedCase {
  name: string;
  url: string;
  reason: string;
}
interface HeaderCase {
  name: string;
  rawHeaders: string[];
  reason: string | null;
}

const targets = JSON.parse(
  readFileSync(new URL('../cases/path-safety/request-targets.json', import.meta.url), 'utf8'),
) as { accepted: AcceptedCase[]; refused: RefusedCase[] };
const headerCases = JSON.parse(
  readFileSync(new URL('../cases/path-safety/headers.json', import.meta.url), 'utf8'),
) as HeaderCase[];

describe('checkRequestTarget accepts origin-form targets and keeps them raw', () => {
  for (const c of targets.accepted) {
    test(c.name, () => {
      assert.deepEqual(checkRequestTarget(c.url), {
        ok: true,
        path: c.path,
        query: c.query,
        normalizedPath: c.normalizedPath,
      });
      assert.equal(matchPath(c.path), c.normalizedPath);
    });
  }
});

describe('checkRequestTarget refuses ambiguous targets instead of normalising them', () => {
  for (const c of targets.refused) {
    test(`${c.name}: ${JSON.stringify(c.url)} → ${c.reason}`, () => {
      const result = checkRequestTarget(c.url);
      assert.equal(result.ok, false, `expected ${JSON.stringify(c.url)} to be refused`);
      if (result.ok) return;
      assert.equal(result.reason, c.reason, result.detail);
      assert.ok(result.detail.length > 0, 'a refusal explains itself');
    });
  }
});

describe('checkHeaders refuses framing that two parsers could read differently', () => {
  for (const c of headerCases) {
    test(`${c.name} → ${c.reason ?? 'accepted'}`, () => {
      assert.deepEqual(checkHeaders(c.rawHeaders), c.reason === null ? null : { reason: c.reason });
    });
  }
});

test('matchPath of a path without escapes is the same string', () => {
  const path = '/api/agents/42';
  assert.equal(matchPath(path), path);
});
