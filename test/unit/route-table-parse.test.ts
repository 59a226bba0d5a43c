import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  erasePattern,
  formatProblems,
  loadRouteTableFile,
  parseRouteTable,
  routeTableError,
} from '../../src/config/load-route-table.ts';
import type { RouteConfig, RouteTable, UpstreamConfig } from '../../src/config/types.ts';
import { isEdgeError } from '../../src/core/errors.ts';

const repoRoot = new URL('../../', import.meta.url);
const exampleFile = fileURLToPath(new URL('routes.yaml', repoRoot));

/** Flag names the way the embedded flag source sees them: `features[].name` of every flags/*.json. */
function exampleFlagNames(): Set<string> {
  const dir = new URL('flags/', repoRoot);
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const doc = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { features: { name: string }[] };
    for (const feature of doc.features) names.add(feature.name);
  }
  return names;
}

const MINIMAL = ['version: 1', 'upstreams:', '  monolith: { url: http://127.0.0.1:3001 }', 'legacy: monolith', ''].join(
  '\n',
);

function parseOk(text: string): RouteTable {
  const result = parseRouteTable(text, 'routes.yaml');
  if (!result.ok) assert.fail(formatProblems(result.problems));
  return result.table;
}

describe('the example routes.yaml', () => {
  test('parses clean, with no warnings, against the flags in flags/*.json', async () => {
    const knownFlags = exampleFlagNames();
    assert.ok(knownFlags.size > 0, 'flags/*.json should define flags');
    const result = await loadRouteTableFile(exampleFile, { knownFlags });
    if (!result.ok) assert.fail(formatProblems(result.problems));
    assert.deepEqual(result.warnings, []);
    const { table } = result;
    assert.deepEqual(
      table.routes.map((r) => [r.id, r.mode, r.flag]),
      [
        ['agents-read', 'canary', 'raptorflow.agents-read'],
        ['agents-list', 'canary', 'raptorflow.agents-read'],
        ['agents-write', 'legacy', 'raptorflow.agents-write'],
      ],
    );
    assert.equal(table.legacy, 'monolith');
    assert.deepEqual([...table.upstreams.keys()], ['monolith', 'agents']);
    assert.equal(table.upstreams.get('agents')?.headersTimeoutMs, 10_000);
    assert.equal(table.source, exampleFile);
  });

  test('every flag its routes name exists in flags/*.json', () => {
    const result = parseRouteTable(readFileSync(exampleFile, 'utf8'), 'routes.yaml', { knownFlags: new Set() });
    assert.equal(
      result.ok,
      false,
      'with no known flags the example must be refused, so the check above means something',
    );
  });
});

describe('the parsed table', () => {
  test('is deep-frozen, the upstreams Map included', () => {
    const table = parseOk(`${MINIMAL}routes:\n  - { id: a, path: /a, service: monolith, methods: [GET] }\n`);
    assert.ok(Object.isFrozen(table));
    assert.ok(Object.isFrozen(table.routes));
    assert.ok(Object.isFrozen(table.routes[0]));
    assert.ok(Object.isFrozen(table.routes[0]?.methods));
    assert.ok(Object.isFrozen(table.routes[0]?.rollout.steps));
    assert.ok(Object.isFrozen(table.rollout));
    assert.ok(Object.isFrozen(table.stickiness[0]));
    assert.ok(Object.isFrozen(table.upstreams.get('monolith')));
    assert.ok(Object.isFrozen(table.upstreams.get('monolith')?.host));
    assert.throws(() => (table.routes as RouteConfig[]).push(table.routes[0]!), TypeError);
    assert.throws(() => {
      (table as { legacy: string }).legacy = 'other';
    }, TypeError);
    const upstreams = table.upstreams as Map<string, UpstreamConfig>;
    assert.throws(() => upstreams.set('x', table.upstreams.get('monolith')!), TypeError);
    assert.throws(() => upstreams.delete('monolith'), TypeError);
    assert.throws(() => upstreams.clear(), TypeError);
    assert.equal(table.upstreams.size, 1);
    assert.ok(table.upstreams instanceof Map, 'still a Map for code that copies it');
  });

  test('two parses do not share mutable state', () => {
    const a = parseOk(MINIMAL);
    const b = parseOk(MINIMAL);
    assert.notEqual(a, b);
    assert.deepEqual(a.rollout, b.rollout);
  });

  test('hash is the first 12 hex digits of the sha256 of the text; any edit changes it', () => {
    const table = parseOk(MINIMAL);
    assert.equal(table.hash, createHash('sha256').update(MINIMAL).digest('hex').slice(0, 12));
    assert.match(table.hash, /^[0-9a-f]{12}$/);
    assert.equal(parseOk(MINIMAL).hash, table.hash);
    assert.notEqual(parseOk(`${MINIMAL}# a comment\n`).hash, table.hash);
  });

  test('yaml anchors and aliases are followed', () => {
    const text = [
      'version: 1',
      'upstreams:',
      '  monolith: &mono { url: http://127.0.0.1:3001 }',
      '  copy: *mono',
      'legacy: copy',
      'routes:',
      '  - { id: a, path: /a, service: monolith }',
      '',
    ].join('\n');
    assert.equal(parseOk(text).upstreams.get('copy')?.origin, 'http://127.0.0.1:3001');
  });
});

describe('problems', () => {
  test('formatProblems prints one file:line:col message per line', () => {
    const text = formatProblems([
      { file: 'routes.yaml', line: 3, col: 5, message: 'first' },
      { file: 'routes.yaml', line: 10, col: 1, message: 'second' },
    ]);
    assert.equal(text, 'routes.yaml:3:5 first\nroutes.yaml:10:1 second');
  });

  test('problems carry the file name they were given', () => {
    const result = parseRouteTable('version: 3\n', 'conf/edge.yaml');
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(result.problems.every((p) => p.file === 'conf/edge.yaml'));
  });

  test('an unreadable file is one problem at 1:1 with the operating system error', async () => {
    const missing = fileURLToPath(new URL('test/cases/route-table/does-not-exist.yaml', repoRoot));
    const result = await loadRouteTableFile(missing);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.problems.length, 1);
    const [problem] = result.problems;
    assert.equal(problem?.file, missing);
    assert.equal(`${problem?.line}:${problem?.col}`, '1:1');
    assert.match(problem?.message ?? '', /cannot read the route table: ENOENT: no such file or directory/);
  });

  test('routeTableError is RF_CONFIG_INVALID listing every problem, with the problems as details', () => {
    const problems = [
      { file: 'r.yaml', line: 1, col: 10, message: 'version: unsupported version 2' },
      { file: 'r.yaml', line: 4, col: 9, message: 'legacy: nope' },
    ];
    const err = routeTableError(problems);
    assert.ok(isEdgeError(err));
    assert.equal(err.code, 'RF_CONFIG_INVALID');
    assert.match(err.message, /r\.yaml:1:10 version: unsupported version 2\nr\.yaml:4:9 legacy: nope/);
    assert.deepEqual(err.details, problems);
  });
});

test('erasePattern drops parameter names but keeps everything that changes what matches', () => {
  assert.equal(erasePattern('/a/:x/b/:y'), '/a/:/b/:');
  assert.equal(erasePattern('/a/:x(^\\d+$)'), '/a/:(^\\d+$)');
  assert.equal(erasePattern('/range/:from-:to'), '/range/:-:');
  assert.equal(erasePattern('/time/12::30'), '/time/12::30');
  assert.equal(erasePattern('/files/*'), '/files/*');
});
