// The comparisons that make `rf-edge flags push` idempotent and `pull` stable, without a server: what counts as a
// change of a strategy, what an enabled flag without strategies becomes, what a pulled flag keeps.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeatureDefinition } from '../../src/adapters/flags/flags-files.ts';
import { scopeOfToken, toPayload } from '../../src/adapters/flags/unleash-admin.ts';
import { desiredStrategies, strategyKey, toFileFeature } from '../../src/cli/flags-command.ts';

const feature = (extra: Partial<FeatureDefinition> = {}): FeatureDefinition => ({
  name: 'shop.cart',
  enabled: true,
  strategies: [
    {
      name: 'flexibleRollout',
      parameters: { rollout: 25, stickiness: 'default', groupId: 'shop.cart' },
      constraints: [{ contextName: 'tenantId', operator: 'IN', values: ['a'] }],
    },
  ],
  ...extra,
});

describe('push comparisons', () => {
  test('a strategy as Unleash returns it equals the one written from flags/', () => {
    const [desired] = desiredStrategies(feature());
    assert.ok(desired);
    const asStored = toPayload({
      id: 'b37b3d40',
      name: 'flexibleRollout',
      title: null,
      disabled: false,
      sortOrder: 0,
      segments: [],
      variants: [],
      // Unleash stores parameters as strings and may reorder keys.
      parameters: { stickiness: 'default', groupId: 'shop.cart', rollout: '25' },
      constraints: [
        { values: ['a'], operator: 'IN', contextName: 'tenantId', inverted: false, caseInsensitive: false },
      ],
    });
    assert.equal(strategyKey(asStored), strategyKey(desired));
  });

  test('a different percentage, constraint value or inversion is a change', () => {
    const [base] = desiredStrategies(feature());
    assert.ok(base);
    const changed = [
      { ...base, parameters: { ...base.parameters, rollout: '26' } },
      { ...base, constraints: [{ contextName: 'tenantId', operator: 'IN' as const, values: ['b'] }] },
      { ...base, constraints: [{ contextName: 'tenantId', operator: 'IN' as const, values: ['a'], inverted: true }] },
      { ...base, disabled: true },
    ];
    for (const c of changed) assert.notEqual(strategyKey(c), strategyKey(base), JSON.stringify(c));
  });

  test('an enabled flag without strategies is pushed as an explicit 100 % rollout grouped by its name', () => {
    assert.deepEqual(desiredStrategies(feature({ strategies: [] })), [
      {
        name: 'flexibleRollout',
        parameters: { rollout: '100', stickiness: 'default', groupId: 'shop.cart' },
        constraints: [],
      },
    ]);
    assert.deepEqual(desiredStrategies(feature({ strategies: [], enabled: false })), []);
  });
});

describe('pulled flags', () => {
  test('keep what defines the flag and drop what differs between servers', () => {
    const served = {
      name: 'shop.cart',
      type: 'release',
      enabled: true,
      project: 'default',
      stale: false,
      impressionData: false,
      description: 'Cart from the cart service',
      strategies: [
        {
          id: 'b37b3d40',
          sortOrder: 3,
          name: 'flexibleRollout',
          constraints: [{ values: ['a'], operator: 'IN', contextName: 'tenantId' }],
          parameters: { groupId: 'shop.cart', rollout: '25', stickiness: 'default' },
          variants: [],
        },
      ],
      variants: [],
    } as FeatureDefinition;
    assert.deepEqual(toFileFeature(served), {
      name: 'shop.cart',
      description: 'Cart from the cart service',
      type: 'release',
      project: 'default',
      enabled: true,
      stale: false,
      impressionData: false,
      strategies: [
        {
          name: 'flexibleRollout',
          constraints: [{ contextName: 'tenantId', operator: 'IN', values: ['a'] }],
          parameters: { groupId: 'shop.cart', rollout: '25', stickiness: 'default' },
        },
      ],
      variants: [],
    });
  });
});

describe('scopeOfToken', () => {
  test('reads project and environment from a backend token, nothing from others', () => {
    assert.deepEqual(scopeOfToken('default:production.5ad1c0ffee'), { project: 'default', environment: 'production' });
    assert.deepEqual(scopeOfToken('shop:development.abc'), { project: 'shop', environment: 'development' });
    assert.equal(scopeOfToken('*:*.5ad1c0ffee'), null);
    assert.deepEqual(scopeOfToken('*:production.5ad1c0ffee'), { project: null, environment: 'production' });
    assert.equal(scopeOfToken('user:0d3f8a'), null);
    assert.equal(scopeOfToken('some-opaque-secret'), null);
  });
});
