// Small builders shared by the state and audit tests.
import type { AuditEvent, Outcome, RouteRolloutState } from '../../src/core/types.ts';

export function routeState(overrides: Partial<RouteRolloutState> & { routeId: string }): RouteRolloutState {
  return {
    phase: 'canary',
    stepIndex: 0,
    weight: 10,
    since: 1_700_000_000_000,
    stepRequests: 0,
    manualWeight: false,
    pausedFrom: null,
    reason: 'route loaded in canary mode',
    updatedBy: 'config',
    revision: 0,
    ...overrides,
  };
}

/** The next revision of `state` with some fields changed, as the controller would write it. */
export function nextState(state: RouteRolloutState, changes: Partial<RouteRolloutState>): RouteRolloutState {
  return { ...state, ...changes, revision: state.revision + 1 };
}

export function outcome(overrides: Partial<Outcome> & { routeId: string; at: number }): Outcome {
  return { target: 'service', status: 200, latencyMs: 10, transportError: false, ...overrides };
}

export function auditEvent(overrides: Partial<AuditEvent> & { routeId: string; at: number }): AuditEvent {
  return {
    from: 'canary',
    to: 'canary',
    fromWeight: 10,
    toWeight: 20,
    actor: 'judge',
    reason: 'healthy for the whole step',
    evidence: { verdict: 'healthy', service: { requests: 250, errors: 1 } },
    configHash: 'abc123def456',
    ...overrides,
  };
}
