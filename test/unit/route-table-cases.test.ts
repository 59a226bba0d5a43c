// Runs the table-driven cases in test/cases/route-table/: each case is a routes.yaml text with either the exact list
// of problems expected (position + a piece of the message, in file order) or facts the parsed table must show.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseRouteTable } from '../../src/config/load-route-table.ts';
import type { ConfigProblem, RouteTable } from '../../src/config/types.ts';

interface ExpectedProblem {
  /** `line:col`, 1-based. */
  at: string;
  message: string;
}

interface RouteTableCase {
  name: string;
  yaml: string[];
  knownFlags?: string[];
  knownAdapters?: string[];
  problems?: ExpectedProblem[];
  table?: unknown;
  warnings?: ExpectedProblem[];
}

const casesDir = new URL('../cases/route-table/', import.meta.url);
const files = readdirSync(casesDir)
  .filter((f) => f.endsWith('.json'))
  .sort();

function assertProblems(actual: readonly ConfigProblem[], expected: readonly ExpectedProblem[], what: string) {
  const shown = actual.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n');
  assert.equal(actual.length, expected.length, `${what}: expected ${expected.length}, got:\n${shown}`);
  expected.forEach((e, i) => {
    const a = actual[i]!;
    assert.equal(`${a.line}:${a.col}`, e.at, `${what} #${i + 1} position; got:\n${shown}`);
    assert.ok(a.message.includes(e.message), `${what} #${i + 1}: "${a.message}" should contain "${e.message}"`);
    assert.equal(a.file, 'routes.yaml');
  });
}

/** The table as plain JSON (the upstreams Map as an object) so JSON facts can be compared with it. */
function plain(table: RouteTable): unknown {
  return { ...table, upstreams: Object.fromEntries(table.upstreams) };
}

/** Every key `expected` names must hold the same value in `actual`; arrays must match in length and element-wise. */
function assertFacts(actual: unknown, expected: unknown, where: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where} should be a list, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${where} length (got ${JSON.stringify(actual)})`);
    expected.forEach((e, i) => {
      assertFacts(actual[i], e, `${where}[${i}]`);
    });
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${where} should be a mapping`);
    for (const [key, value] of Object.entries(expected)) {
      assertFacts((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
    }
  } else {
    assert.equal(actual, expected, where);
  }
}

for (const file of files) {
  const suite = JSON.parse(readFileSync(new URL(file, casesDir), 'utf8')) as {
    description: string;
    cases: RouteTableCase[];
  };
  describe(`route table cases: ${file} — ${suite.description}`, () => {
    for (const c of suite.cases) {
      test(c.name, () => {
        assert.ok(c.problems !== undefined || c.table !== undefined, 'a case expects problems or table facts');
        const options = {
          ...(c.knownFlags === undefined ? {} : { knownFlags: new Set(c.knownFlags) }),
          ...(c.knownAdapters === undefined ? {} : { knownAdapters: new Set(c.knownAdapters) }),
        };
        const result = parseRouteTable(c.yaml.join('\n'), 'routes.yaml', options);
        if (c.problems !== undefined) {
          assert.equal(result.ok, false, 'the table should be refused');
          if (!result.ok) assertProblems(result.problems, c.problems, 'problems');
          return;
        }
        if (!result.ok) {
          assert.fail(
            `expected a valid table, got:\n${result.problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n')}`,
          );
        }
        assertFacts(plain(result.table), c.table, 'table');
        assertProblems(result.warnings, c.warnings ?? [], 'warnings');
      });
    }
  });
}
