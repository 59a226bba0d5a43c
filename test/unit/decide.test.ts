import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { StickinessSource } from '../../src/config/types.ts';
import { normalizedBucket } from '../../src/core/bucket.ts';
import { BucketMemo } from '../../src/core/compiled-flags.ts';
import { decide, flagContext } from '../../src/core/decide.ts';
import { compileRouter } from '../../src/core/request-router.ts';
import { compileRoutes } from '../../src/core/route-matcher.ts';
import type {
  Decision,
  FlagContext,
  FlagEvaluator,
  RequestFacts,
  RolloutPhase,
  RouteRolloutState,
  Target,
} from '../../src/core/types.ts';
import { type RouteSpec, testTable } from '../support/route-table-fixtures.ts';

interface FlagSpec {
  enabled: boolean;
  rollout?: number;
  tenantIn?: string[];
}
interface DecideCase {
  name: string;
  request: { method: string; path: string; headers: Record<string, string>; clientIp: string };
  override: Target | null;
  flags: Record<string, FlagSpec>;
  state: Record<string, { phase: RolloutPhase; weight: number }>;
  expect: Decision;
}
interface DecideCases {
  stickiness: string[];
  routes: RouteSpec[];
  cases: DecideCase[];
}

const doc = JSON.parse(readFileSync(new URL('../cases/decide/decisions.json', import.meta.url), 'utf8')) as DecideCases;

function parseSource(text: string): StickinessSource {
  const [kind, name = ''] = text.split(':') as [string, string | undefined];
  if (kind === 'header' || kind === 'cookie') return { kind, name };
  if (kind === 'jwt') return { kind, claim: name };
  return { kind: 'ip' };
}

const table = testTable(doc.routes, doc.stickiness.map(parseSource));
const matcher = compileRoutes(table.routes);

/** A flag source stand-in that decides the way Unleash's flexibleRollout would for these specs. */
function fakeFlags(specs: Record<string, FlagSpec>, seen: FlagContext[] = []): FlagEvaluator {
  return (flag, context) => {
    seen.push(context);
    const spec = specs[flag];
    if (spec === undefined) return { kind: 'no_flag_data' };
    if (!spec.enabled) return { kind: 'off' };
    if (spec.tenantIn !== undefined && !spec.tenantIn.includes(context.properties['tenantId'] ?? '')) {
      return { kind: 'not_eligible' };
    }
    if (spec.rollout !== undefined && normalizedBucket(flag, context.userId) > spec.rollout) {
      return { kind: 'not_eligible' };
    }
    return { kind: 'eligible' };
  };
}

function stateOf(states: DecideCase['state']): (routeId: string) => RouteRolloutState | undefined {
  return (routeId) => {
    const s = states[routeId];
    if (s === undefined) return undefined;
    return {
      routeId,
      phase: s.phase,
      stepIndex: -1,
      weight: s.weight,
      since: 0,
      stepRequests: 0,
      manualWeight: false,
      pausedFrom: null,
      reason: 'test',
      updatedBy: 'system',
      revision: 1,
    };
  };
}

function factsOf(c: DecideCase): RequestFacts {
  return { method: c.request.method, path: c.request.path, headers: c.request.headers, clientIp: c.request.clientIp };
}

describe('decide: table-driven cases', () => {
  for (const c of doc.cases) {
    test(c.name, () => {
      const decision = decide({
        table,
        matcher,
        facts: factsOf(c),
        state: stateOf(c.state),
        flags: fakeFlags(c.flags),
        override: c.override,
      });
      assert.deepEqual(decision, c.expect);
    });
  }
});

test('compileRouter decides exactly as decide() on every case', () => {
  const router = compileRouter(table);
  for (const c of doc.cases) {
    assert.deepEqual(router.decide(factsOf(c), stateOf(c.state), fakeFlags(c.flags), c.override), c.expect, c.name);
  }
});

test('compileRouter compiles the trusted proxies of the table once', () => {
  const router = compileRouter(table);
  assert.equal(router.table, table);
  assert.equal(router.trusted.contains('127.0.0.1'), true);
  assert.equal(router.trusted.contains('203.0.113.7'), false);
  assert.equal(router.matcher.match('GET', '/api/agents/1')?.id, 'agents-read');
});

test('the same user gets the same decision on every request (sticky)', () => {
  const facts: RequestFacts = { method: 'GET', path: '/api/agents/9', headers: {}, clientIp: '198.51.100.9' };
  const first = decide({
    table,
    matcher,
    facts,
    state: stateOf({ 'agents-read': { phase: 'canary', weight: 57 } }),
    flags: fakeFlags({ 'raptorflow.agents-read': { enabled: true } }),
    override: null,
  });
  assert.equal(first.reason, 'bucket_in');
  for (let i = 0; i < 20; i++) {
    const again = decide({
      table,
      matcher,
      facts,
      state: stateOf({ 'agents-read': { phase: 'canary', weight: 57 } }),
      flags: fakeFlags({ 'raptorflow.agents-read': { enabled: true } }),
      override: null,
    });
    assert.deepEqual(again, first);
  }
});

describe('the flag context handed to the flag source', () => {
  test('userId and sessionId are the stickiness value, remoteAddress the client IP', () => {
    const seen: FlagContext[] = [];
    decide({
      table,
      matcher,
      facts: { method: 'GET', path: '/api/agents/1', headers: { cookie: 'session_id=s-77' }, clientIp: '10.9.8.7' },
      state: stateOf({}),
      flags: fakeFlags({ 'raptorflow.agents-read': { enabled: true } }, seen),
      override: null,
    });
    assert.equal(seen.length, 1);
    const { buckets, ...context } = seen[0]!;
    assert.deepEqual(context, { userId: 's-77', sessionId: 's-77', remoteAddress: '10.9.8.7', properties: {} });
    // The request's bucket memo rides along, so a compiled flexibleRollout reuses the decision's hash.
    assert.ok(buckets instanceof BucketMemo);
  });

  test('x-tenant-id and x-edge-ctx-* headers become properties', () => {
    const context = flagContext('u-1', {
      method: 'GET',
      path: '/',
      clientIp: '10.0.0.1',
      headers: {
        'x-tenant-id': 'acme',
        'x-edge-ctx-plan': 'enterprise',
        'x-edge-ctx-app-version': '4.2.0',
        'x-edge-ctx-region': ['eu', 'us'],
        'x-edge-ctx-': 'ignored: no name',
        'x-user-id': 'u-1',
        accept: '*/*',
      },
    });
    assert.deepEqual(
      { ...context.properties },
      {
        tenantId: 'acme',
        plan: 'enterprise',
        appVersion: '4.2.0',
        region: 'eu',
      },
    );
  });

  test('a header named like __proto__ stays an ordinary property', () => {
    const context = flagContext('u-1', {
      method: 'GET',
      path: '/',
      clientIp: '10.0.0.1',
      headers: { 'x-edge-ctx-__proto__': 'x' },
    });
    assert.equal(Object.getOwnPropertyDescriptor(context.properties, '__proto__')?.value, 'x');
  });

  test('the flag source is not asked for non-canary routes, unmatched requests or overridden ones', () => {
    const seen: FlagContext[] = [];
    const flags = fakeFlags({ 'raptorflow.agents-read': { enabled: true } }, seen);
    const state = stateOf({ 'agents-read': { phase: 'canary', weight: 50 } });
    const base = { headers: {}, clientIp: '10.0.0.1' };
    decide({ table, matcher, facts: { ...base, method: 'GET', path: '/health' }, state, flags, override: null });
    decide({ table, matcher, facts: { ...base, method: 'POST', path: '/api/agents/1' }, state, flags, override: null });
    decide({
      table,
      matcher,
      facts: { ...base, method: 'GET', path: '/api/agents/1' },
      state,
      flags,
      override: 'legacy',
    });
    assert.equal(seen.length, 0);
  });
});
