// The rollout state machine against the table-driven cases in test/cases/rollout-machine/: every transition,
// the refused ones included.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_SHADOW } from '../../src/config/routes-schema.ts';
import type { RolloutPolicy, RouteConfig } from '../../src/config/types.ts';
import { type RolloutEvent, transition } from '../../src/core/rollout-machine.ts';
import type { Actor, RouteRolloutState, Verdict, VerdictOutcome } from '../../src/core/types.ts';
import { TEST_ROLLOUT, testRoute } from '../support/route-table-fixtures.ts';

interface MachineCase {
  name: string;
  route?: {
    mode?: RouteConfig['mode'];
    steps?: number[];
    stepIntervalMs?: number;
    minRequests?: number;
    /** shadow.gate: the canary starts in shadow and waits for the diff gate. */
    gate?: boolean;
  };
  state: Partial<RouteRolloutState> | null;
  event: { type: string; outcome?: VerdictOutcome; count?: number; weight?: number; actor?: Actor; reason?: string };
  now?: number;
  expect:
    | { ok: true; changed: boolean; state?: Partial<RouteRolloutState>; reason?: string }
    | { ok: false; message: string };
}

const ROUTE_ID = 'agents-read';
const DEFAULT_NOW = 1_000_000;

function routeFor(spec: MachineCase['route']): RouteConfig {
  const base = testRoute({ id: ROUTE_ID, path: '/api/agents/*', mode: spec?.mode ?? 'canary' });
  const rollout: RolloutPolicy = {
    ...TEST_ROLLOUT,
    ...(spec?.steps ? { steps: spec.steps } : {}),
    ...(spec?.stepIntervalMs !== undefined ? { stepIntervalMs: spec.stepIntervalMs } : {}),
    ...(spec?.minRequests !== undefined ? { minRequests: spec.minRequests } : {}),
  };
  return { ...base, rollout, ...(spec?.gate ? { shadow: { ...DEFAULT_SHADOW, gate: true } } : {}) };
}

function stateFor(partial: Partial<RouteRolloutState> | null): RouteRolloutState | undefined {
  if (partial === null) return undefined;
  return {
    routeId: ROUTE_ID,
    phase: 'canary',
    stepIndex: 0,
    weight: 10,
    since: 1000,
    stepRequests: 0,
    manualWeight: false,
    pausedFrom: null,
    reason: 'before',
    updatedBy: 'config',
    revision: 7,
    ...partial,
  };
}

function verdict(outcome: VerdictOutcome, now: number): Verdict {
  const target = { requests: 0, errors: 0, p99Ms: null, consecutiveTransportFailures: 0 };
  return {
    routeId: ROUTE_ID,
    outcome,
    reason: `judge: ${outcome}`,
    checks: [],
    figures: { routeId: ROUTE_ID, windowMs: 60_000, legacy: target, service: target },
    at: now,
  };
}

function eventFor(spec: MachineCase['event'], now: number): RolloutEvent {
  const actor = spec.actor ?? 'admin:ops';
  const reason = spec.reason ?? 'ops said so';
  switch (spec.type) {
    case 'config':
      return { type: 'config' };
    case 'verdict':
      return { type: 'verdict', verdict: verdict(spec.outcome ?? 'healthy', now) };
    case 'tick_requests':
      return { type: 'tick_requests', count: spec.count ?? 0 };
    case 'diff_gate':
      return { type: 'diff_gate', reason: spec.reason ?? 'shadow gate passed', evidence: {} };
    case 'set_weight':
      return { type: 'set_weight', actor, reason, weight: spec.weight ?? Number.NaN };
    case 'pause':
    case 'resume':
    case 'promote':
    case 'rollback':
      return { type: spec.type, actor, reason };
    default:
      throw new Error(`unknown event type ${spec.type}`);
  }
}

const dir = new URL('../cases/rollout-machine/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('the machine has case files', () => {
  assert.ok(files.length >= 3, 'expected JSON case files in test/cases/rollout-machine');
});

for (const file of files) {
  const { cases } = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { cases: MachineCase[] };
  describe(`rollout machine cases: ${file}`, () => {
    for (const c of cases) {
      test(c.name, () => {
        const now = c.now ?? DEFAULT_NOW;
        const before = stateFor(c.state);
        const frozen = before === undefined ? undefined : structuredClone(before);
        const result = transition(before, eventFor(c.event, now), routeFor(c.route), now);
        assert.deepEqual(before, frozen, 'the input state is never mutated');

        if (!c.expect.ok) {
          assert.equal(result.ok, false, 'expected a refusal');
          if (result.ok) return;
          assert.equal(result.code, 'RF_TRANSITION_REFUSED');
          assert.ok(
            result.message.includes(c.expect.message),
            `"${result.message}" should include "${c.expect.message}"`,
          );
          return;
        }
        assert.equal(result.ok, true, result.ok ? '' : result.message);
        if (!result.ok) return;
        assert.equal(result.changed, c.expect.changed, 'changed');
        if (!c.expect.changed) {
          assert.deepEqual(result.state, before, 'an unchanged result is the same state, same revision');
          return;
        }
        assert.equal(result.state.routeId, ROUTE_ID);
        const expected = { revision: (before?.revision ?? 0) + 1, ...c.expect.state };
        for (const [key, value] of Object.entries(expected)) {
          assert.deepEqual(result.state[key as keyof RouteRolloutState], value, `state.${key}`);
        }
        if (c.expect.reason !== undefined) {
          assert.ok(
            result.state.reason.includes(c.expect.reason),
            `reason "${result.state.reason}" should include "${c.expect.reason}"`,
          );
        }
      });
    }
  });
}
