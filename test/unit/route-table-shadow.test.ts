import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatProblems, parseRouteTable } from '../../src/config/load-route-table.ts';
import { DEFAULT_SHADOW } from '../../src/config/routes-schema.ts';
import type { RouteConfig } from '../../src/config/types.ts';

function table(routeExtra: string[], agents = '{ url: http://127.0.0.1:3002, shadowDryRun: true }'): string {
  return [
    'version: 1',
    'upstreams:',
    '  monolith: { url: http://127.0.0.1:3001 }',
    `  agents: ${agents}`,
    'legacy: monolith',
    'routes:',
    '  - id: agents-read',
    '    path: /api/agents/*',
    '    service: agents',
    '    flag: raptorflow.agents-read',
    '    mode: shadow',
    ...routeExtra.map((line) => `    ${line}`),
    '',
  ].join('\n');
}

function route(routeExtra: string[]): RouteConfig {
  const result = parseRouteTable(table(routeExtra), 'routes.yaml');
  if (!result.ok) assert.fail(formatProblems(result.problems));
  return result.table.routes[0]!;
}

function problems(routeExtra: string[]): string[] {
  const result = parseRouteTable(table(routeExtra), 'routes.yaml');
  assert.equal(result.ok, false, 'the table should be refused');
  return result.ok ? [] : result.problems.map((p) => `${p.line}:${p.col} ${p.message}`);
}

describe('routes.yaml `shadow:` per route', () => {
  test('left out: safe methods only, no bodies, content-type and set-cookie names compared', () => {
    assert.deepEqual(route([]).shadow, {
      ...DEFAULT_SHADOW,
      methods: [],
      maxBodyBytes: 0,
      compareHeaders: ['content-type', 'set-cookie'],
    });
  });

  test('a route opts in to writes with their methods and a body limit, and names the headers to compare', () => {
    const shadow = route([
      'shadow:',
      '  methods: [post, PUT, POST]',
      '  maxBodyBytes: 65536',
      '  compareHeaders: [Content-Type, Cache-Control]',
    ]).shadow;
    assert.deepEqual(shadow, {
      ...DEFAULT_SHADOW,
      methods: ['POST', 'PUT'],
      maxBodyBytes: 65536,
      compareHeaders: ['content-type', 'cache-control'],
    });
  });

  test('a partial block keeps the defaults for what it leaves out', () => {
    assert.deepEqual(route(['shadow: { maxBodyBytes: 10 }']).shadow, {
      ...DEFAULT_SHADOW,
      methods: [],
      maxBodyBytes: 10,
      compareHeaders: ['content-type', 'set-cookie'],
    });
  });

  test('shadow.gate outside mode: canary is a warning (it would never gate anything)', () => {
    const result = parseRouteTable(table(['shadow: { gate: true }']), 'r.yaml');
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok ? result.warnings.map((w) => w.message) : [], [
      'routes[0].shadow.gate: route "agents-read": shadow.gate only applies to mode: canary (it holds the first step until the answers match)',
    ]);
  });

  test('writes are copied only to a service that declares shadowDryRun: true', () => {
    const result = parseRouteTable(
      table(['shadow: { methods: [GET, POST] }'], '{ url: http://127.0.0.1:3002 }'),
      'r.yaml',
    );
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.problems.map((p) => `${p.line}:${p.col} ${p.message}`), [
      '12:24 routes[0].shadow.methods: route "agents-read": copying POST needs the service upstream "agents" to declare shadowDryRun: true (it treats x-edge-shadow: 1 as a dry run); otherwise every copied write runs twice',
    ]);
    assert.equal(route(['shadow: { methods: [GET, POST] }']).shadow?.methods.includes('POST'), true);
  });

  test('bad values are reported with their line and a sentence', () => {
    assert.deepEqual(problems(['shadow:', '  methods: [FETCH]', '  maxBodyBytes: -1', '  compare: []']), [
      '13:17 routes[0].shadow.methods[0]: unknown HTTP method "FETCH"',
      '14:21 routes[0].shadow.maxBodyBytes: must not be negative, got -1',
      '15:7 routes[0].shadow.compare: unknown key "compare" (allowed keys: methods, maxBodyBytes, compareHeaders, maxDiffBytes, rules, gate, minRequests, maxMismatchRate, canarySampleRate, window, samples, noise)',
    ]);
  });
});
