// Route state crossing process boundaries: what is accepted, what is refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkWrite, encodeRouteState, parseRouteState } from '../../src/adapters/state/state-codec.ts';
import { routeState } from '../support/state-fixtures.ts';

describe('route state codec', () => {
  test('round-trips a state and encodes it with a fixed key order', () => {
    const state = routeState({ routeId: 'r', updatedBy: 'admin:alice', pausedFrom: 'canary', phase: 'paused' });
    const shuffled = Object.fromEntries(Object.entries(state).reverse()) as typeof state;
    assert.equal(encodeRouteState(shuffled), encodeRouteState(state));
    assert.deepEqual(parseRouteState(encodeRouteState(state)), { ok: true, state });
  });

  const refused: [string, string][] = [
    ['not JSON', '{"routeId":'],
    ['unknown phase', JSON.stringify({ ...routeState({ routeId: 'r' }), phase: 'sideways' })],
    ['weight above 100', JSON.stringify({ ...routeState({ routeId: 'r' }), weight: 101 })],
    ['unknown actor', JSON.stringify({ ...routeState({ routeId: 'r' }), updatedBy: 'mallory' })],
    ['negative revision', JSON.stringify({ ...routeState({ routeId: 'r' }), revision: -1 })],
    ['missing field', JSON.stringify({ routeId: 'r', phase: 'off' })],
  ];
  for (const [name, text] of refused) {
    test(`refuses ${name}`, () => {
      const result = parseRouteState(text);
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.problem.length > 0);
    });
  }

  test('a write must move the revision forward and be well formed', () => {
    assert.equal(checkWrite(routeState({ routeId: 'r', revision: 0 }), -1), null);
    assert.equal(checkWrite(routeState({ routeId: 'r', revision: 5 }), 4), null);
    assert.equal(checkWrite(routeState({ routeId: 'r', revision: 4 }), 4)?.code, 'RF_STATE_STORE');
    assert.match(checkWrite(routeState({ routeId: 'r', revision: 3 }), 4)?.message ?? '', /greater than/);
    assert.equal(
      checkWrite({ ...routeState({ routeId: 'r', revision: 1 }), stepIndex: 0.5 }, 0)?.code,
      'RF_STATE_STORE',
    );
  });
});
