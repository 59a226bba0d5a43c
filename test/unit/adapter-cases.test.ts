// Runs the table-driven cases in test/cases/adapter/: rules and operations written as they are in
// legacy-adapter/<name>.yaml (JSON is YAML), parsed by the real parser and run by the real engine, so a case checks
// what an operator writes and what a client then gets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseAdapterFile } from '../../src/config/adapter-file.ts';
import {
  type AdapterPlan,
  compileDeclaredAdapter,
  matchOperation,
  planAdapter,
  translateRequest,
  translateResponse,
} from '../../src/core/adapter/compile.ts';
import { formatQuery, parseQuery } from '../../src/core/adapter/field-rules.ts';
import { AdapterFailure, type AdapterRequest, type JsonValue } from '../../src/core/adapter/types.ts';

function load<T>(file: string): { description: string; cases: T[] } {
  return JSON.parse(readFileSync(new URL(`../cases/adapter/${file}`, import.meta.url), 'utf8')) as {
    description: string;
    cases: T[];
  };
}

function compile(doc: unknown): AdapterPlan {
  const parsed = parseAdapterFile(JSON.stringify({ version: 1, ...(doc as object) }), 'case.yaml', 'case');
  if (!parsed.ok) assert.fail(`the case's adapter is invalid: ${JSON.stringify(parsed.problems)}`);
  return planAdapter(compileDeclaredAdapter({ ...parsed.adapter, version: 'test' }));
}

/** Runs `fn`; returns the failing rule, or null and the value. */
function attempt<T>(fn: () => T): { rule: string } | { value: T } {
  try {
    return { value: fn() };
  } catch (err) {
    if (err instanceof AdapterFailure) return { rule: err.rule };
    throw err;
  }
}

interface BodyCase {
  name: string;
  rules: unknown[];
  body: JsonValue;
  expect?: JsonValue;
  fails?: string;
}

const bodies = load<BodyCase>('body-rules.json');
describe(`adapter cases: body-rules.json — ${bodies.description}`, () => {
  for (const c of bodies.cases) {
    test(c.name, () => {
      const plan = compile({ operations: [{ name: 'op', match: { path: '/x' }, response: { body: c.rules } }] });
      const match = matchOperation(plan, 'GET', '/x');
      assert.ok(match);
      const request: AdapterRequest = { method: 'GET', path: '/x', query: [], headers: [] };
      const result = attempt(() =>
        translateResponse(match, { status: 200, headers: [], body: structuredClone(c.body) }, { request, params: {} }),
      );
      if (c.fails !== undefined) assert.deepEqual(result, { rule: c.fails });
      else {
        assert.ok('value' in result, `unexpected failure: ${JSON.stringify(result)}`);
        // Field order too: a rename keeps a field where it was, so a translated body reads like the old contract's.
        assert.equal(JSON.stringify(result.value.body), JSON.stringify(c.expect));
      }
    });
  }
});

interface OperationCase {
  name: string;
  adapter: unknown;
  request: { method: string; url: string; headers?: string[]; body?: JsonValue };
  response?: { status: number; headers: string[]; body?: JsonValue };
  expect: {
    operation: string | null;
    method?: string;
    url?: string;
    headers?: string[];
    body?: JsonValue;
    status?: number;
    fails?: string;
  };
}

const operations = load<OperationCase>('operations.json');
describe(`adapter cases: operations.json — ${operations.description}`, () => {
  for (const c of operations.cases) {
    test(c.name, () => {
      const plan = compile(c.adapter);
      const q = c.request.url.indexOf('?');
      const path = q === -1 ? c.request.url : c.request.url.slice(0, q);
      const match = matchOperation(plan, c.request.method, path);
      assert.equal(match?.operation.name ?? null, c.expect.operation);
      if (match === null) return;
      const request: AdapterRequest = {
        method: c.request.method,
        path,
        query: parseQuery(q === -1 ? '' : c.request.url.slice(q + 1)),
        headers: c.request.headers ?? [],
        body: c.request.body,
      };
      if (c.response === undefined) {
        const out = translateRequest(match, request);
        const query = formatQuery(out.query);
        assert.equal(out.method, c.expect.method);
        assert.equal(out.path + (query === '' ? '' : `?${query}`), c.expect.url);
        if (c.expect.headers !== undefined) assert.deepEqual(out.headers, c.expect.headers);
        if (c.expect.body !== undefined) assert.deepEqual(out.body, c.expect.body);
        return;
      }
      const answer = c.response;
      const result = attempt(() => translateResponse(match, answer, { request, params: match.params }));
      if (c.expect.fails !== undefined) {
        assert.deepEqual(result, { rule: c.expect.fails });
        return;
      }
      assert.ok('value' in result, `unexpected failure: ${JSON.stringify(result)}`);
      assert.equal(result.value.status, c.expect.status);
      assert.deepEqual(result.value.headers, c.expect.headers);
      assert.deepEqual(result.value.body, c.expect.body);
    });
  }
});

interface ValidationCase {
  name: string;
  yaml: string[];
  problems: { at: string; message: string }[];
}

const validations = load<ValidationCase>('validation.json');
describe(`adapter cases: validation.json — ${validations.description}`, () => {
  for (const c of validations.cases) {
    test(c.name, () => {
      const result = parseAdapterFile(c.yaml.join('\n'), 'a.yaml', 'a');
      const got = result.ok ? [] : result.problems.map((p) => ({ at: `${p.line}:${p.col}`, message: p.message }));
      // "*": any message at that position (YAML's own wording is the yaml library's).
      const want = c.problems.map((p, i) => (p.message === '*' ? { ...p, message: got[i]?.message ?? '' } : p));
      assert.deepEqual(got, want);
    });
  }
});
