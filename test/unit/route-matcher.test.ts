import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isEdgeError } from '../../src/core/errors.ts';
import { matchPath } from '../../src/core/path-safety.ts';
import { compileRoutes, findRouteConflicts } from '../../src/core/route-matcher.ts';
import { type RouteSpec, testRoute } from '../support/route-table-fixtures.ts';

interface RouterCases {
  routes: RouteSpec[];
  cases: { method: string; path: string; route: string | null; why: string }[];
}

const precedence = JSON.parse(
  readFileSync(new URL('../cases/router/precedence.json', import.meta.url), 'utf8'),
) as RouterCases;

// Case paths are raw request paths: the edge matches on their matchPath form (merged slashes, normalised escapes).
describe('compileRoutes: the most specific route wins', () => {
  const matcher = compileRoutes(precedence.routes.map((r, i) => testRoute(r, i + 1)));
  for (const c of precedence.cases) {
    test(`${c.method} ${c.path} → ${c.route ?? 'legacy'} (${c.why})`, () => {
      assert.equal(matcher.match(c.method, matchPath(c.path))?.id ?? null, c.route);
    });
  }
});

test('the order routes are listed in does not change which one wins', () => {
  const routes = precedence.routes.map((r, i) => testRoute(r, i + 1));
  const reversed = compileRoutes([...routes].reverse());
  for (const c of precedence.cases) {
    assert.equal(reversed.match(c.method, matchPath(c.path))?.id ?? null, c.route, `${c.method} ${c.path}`);
  }
});

test('a :param longer than 100 characters still matches its route', () => {
  const matcher = compileRoutes([testRoute({ id: 'by-id', path: '/api/agents/:id' })]);
  assert.equal(matcher.match('GET', `/api/agents/${'x'.repeat(5_000)}`)?.id, 'by-id');
});

test('an empty table sends everything to legacy', () => {
  const matcher = compileRoutes([]);
  assert.equal(matcher.match('GET', '/api/agents'), null);
});

test('two routes naming the same method on an equivalent pattern are refused', () => {
  const routes = [
    testRoute({ id: 'a', path: '/api/agents/:id', methods: ['GET', 'POST'] }),
    testRoute({ id: 'b', path: '/api/agents/:agentId', methods: ['POST'] }),
    testRoute({ id: 'c', path: '/api/agents/:id' }),
  ];
  assert.deepEqual(findRouteConflicts(routes), [
    { method: 'POST', path: '/api/agents/:agentId', routeIds: ['a', 'b'] },
  ]);
  assert.throws(
    () => compileRoutes(routes),
    (err: unknown) => isEdgeError(err) && err.code === 'RF_CONFIG_INVALID' && /\ba\b.*\bb\b.*POST/.test(err.message),
  );
});

test('two all-methods routes on one pattern conflict on every method', () => {
  const conflicts = findRouteConflicts([testRoute({ id: 'a', path: '/x' }), testRoute({ id: 'b', path: '/x' })]);
  assert.ok(conflicts.length > 30);
  assert.ok(conflicts.every((c) => c.routeIds[0] === 'a' && c.routeIds[1] === 'b'));
});

test('a GET route and a route naming HEAD on one pattern do not conflict', () => {
  assert.deepEqual(
    findRouteConflicts([
      testRoute({ id: 'g', path: '/x', methods: ['GET'] }),
      testRoute({ id: 'h', path: '/x', methods: ['HEAD'] }),
    ]),
    [],
  );
});

test('an optional parameter that is not the last one is a config error', () => {
  assert.throws(
    () => compileRoutes([testRoute({ id: 'bad', path: '/a/:id?/b' })]),
    (err: unknown) => isEdgeError(err) && err.code === 'RF_CONFIG_INVALID' && err.message.includes('bad'),
  );
});

test('two routes naming GET on the bare half of an optional pattern conflict', () => {
  assert.deepEqual(
    findRouteConflicts([
      testRoute({ id: 'bare', path: '/teams', methods: ['GET'] }),
      testRoute({ id: 'optional', path: '/teams/:id?', methods: ['GET'] }),
    ]).map((c) => [c.method, c.routeIds]),
    [
      ['GET', ['bare', 'optional']],
      ['HEAD', ['bare', 'optional']],
    ],
  );
});

test('an invalid pattern is a config error that keeps find-my-way’s message as cause', () => {
  assert.throws(
    () => compileRoutes([testRoute({ id: 'bad', path: 'api/no-leading-slash' })]),
    (err: unknown) => isEdgeError(err) && err.code === 'RF_CONFIG_INVALID' && err.cause instanceof Error,
  );
});
