// The effective weight a dashboard shows must be the share `decide` really sends to the service: the smaller of the
// flag's own rollout percentage (as its definition states it) and the route's weight.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeatureInterface } from 'unleash-client/lib/feature.js';
import { rolloutPercentOf } from '../../src/adapters/flags/unleash-evaluation.ts';
import { normalizedBucket } from '../../src/core/bucket.ts';
import { decideForRoute, effectiveWeight } from '../../src/core/decide.ts';
import type { FlagEvaluator, RolloutPhase, RouteRolloutState } from '../../src/core/types.ts';
import { testRoute, testTable } from '../support/route-table-fixtures.ts';
import { routeState } from '../support/state-fixtures.ts';

const FLAG = 'raptorflow.agents-read';
const route = testRoute({ id: 'agents-read', path: '/api/agents/*', flag: FLAG });

function feature(enabled: boolean, strategies: Array<{ name: string; parameters?: Record<string, unknown> }>) {
  return {
    name: FLAG,
    enabled,
    strategies: strategies.map((s) => ({ name: s.name, parameters: s.parameters ?? {}, constraints: [] })),
  } satisfies FeatureInterface;
}

describe('rolloutPercentOf reads the ceiling a flag definition sets', () => {
  const cases: Array<[string, FeatureInterface | undefined, number | null]> = [
    ['unknown flag', undefined, null],
    [
      'flag off, whatever its percentage',
      feature(false, [{ name: 'flexibleRollout', parameters: { rollout: '80' } }]),
      0,
    ],
    ['on without strategies: everyone', feature(true, []), 100],
    [
      'flexibleRollout as Unleash sends it (a string)',
      feature(true, [{ name: 'flexibleRollout', parameters: { rollout: '30' } }]),
      30,
    ],
    ['flexibleRollout as a number', feature(true, [{ name: 'flexibleRollout', parameters: { rollout: 45 } }]), 45],
    [
      'gradualRolloutUserId percentage',
      feature(true, [{ name: 'gradualRolloutUserId', parameters: { percentage: '12' } }]),
      12,
    ],
    ['default strategy: everyone', feature(true, [{ name: 'default' }]), 100],
    ['userWithId sets no percentage', feature(true, [{ name: 'userWithId', parameters: { userIds: 'a,b' } }]), 100],
    ['a strategy the SDK does not know admits nobody', feature(true, [{ name: 'myCustomStrategy' }]), 0],
    [
      'garbage percentage admits nobody',
      feature(true, [{ name: 'flexibleRollout', parameters: { rollout: 'lots' } }]),
      0,
    ],
    ['over 100 is 100', feature(true, [{ name: 'flexibleRollout', parameters: { rollout: '250' } }]), 100],
    [
      'several strategies: the largest (any one enables the flag)',
      feature(true, [
        { name: 'flexibleRollout', parameters: { rollout: '20' } },
        { name: 'flexibleRollout', parameters: { rollout: '35' } },
      ]),
      35,
    ],
  ];
  for (const [name, definition, expected] of cases) {
    test(name, () => assert.equal(rolloutPercentOf(definition), expected));
  }
});

describe('effectiveWeight', () => {
  const state = (phase: RolloutPhase, weight: number): RouteRolloutState =>
    routeState({ routeId: route.id, phase, weight, stepIndex: phase === 'canary' ? 4 : -1 });

  const cases: Array<[string, Parameters<typeof effectiveWeight>, number]> = [
    ['flag 100 %, weight 50', [route, state('canary', 50), 100], 50],
    ['flag 30 %, weight 50: the flag caps it', [route, state('canary', 50), 30], 30],
    ['flag off', [route, state('canary', 50), 0], 0],
    ['flag unknown: everyone goes to the monolith', [route, state('canary', 50), null], 0],
    ['no rollout state yet', [route, undefined, 100], 0],
    ['rolled back', [route, state('rolled_back', 0), 100], 0],
    ['shadow phase serves from the monolith', [route, state('shadow', 0), 100], 0],
    ['paused on a step keeps its weight', [route, state('paused', 20), 100], 20],
    ['holding', [route, state('holding', 50), 40], 40],
    ['promoted: everyone the flag admits', [route, state('promoted', 100), 70], 70],
    ['a route without a flag: the weight alone', [{ ...route, flag: null }, state('canary', 20), null], 20],
    ['mode service', [{ ...route, mode: 'service' }, undefined, null], 100],
    ['mode legacy', [{ ...route, mode: 'legacy' }, state('canary', 50), 100], 0],
    ['mode shadow', [{ ...route, mode: 'shadow' }, state('canary', 50), 100], 0],
  ];
  for (const [name, args, expected] of cases) {
    test(name, () => assert.equal(effectiveWeight(...args), expected));
  }

  test('matches the share decide sends to the service, for 10,000 users at every flag % and weight', () => {
    const table = testTable([{ id: route.id, path: route.path, flag: FLAG }]);
    const tableRoute = table.routes[0];
    assert.ok(tableRoute);
    const users = Array.from({ length: 10_000 }, (_, i) => `u-${i * 7919}`);
    for (const flagPercent of [0, 10, 30, 50, 100]) {
      // What Unleash's flexibleRollout answers for this percentage: the same hash, the same groupId.
      const flags: FlagEvaluator = (flag, ctx) =>
        flagPercent === 0
          ? { kind: 'off' }
          : normalizedBucket(flag, ctx.userId) <= flagPercent
            ? { kind: 'eligible' }
            : { kind: 'not_eligible' };
      for (const weight of [10, 20, 40, 50]) {
        const current = state('canary', weight);
        let served = 0;
        for (const user of users) {
          const decision = decideForRoute(
            table,
            tableRoute,
            { method: 'GET', path: '/api/agents/1', headers: { 'x-user-id': user }, clientIp: '10.0.0.1' },
            () => current,
            flags,
            null,
          );
          if (decision.target === 'service') served++;
        }
        const share = (served / users.length) * 100;
        const expected = effectiveWeight(tableRoute, current, flagPercent === 0 ? 0 : flagPercent);
        assert.equal(expected, Math.min(flagPercent, weight));
        assert.ok(Math.abs(share - expected) <= 2, `flag ${flagPercent} %, weight ${weight}: served ${share} %`);
      }
    }
  });
});
