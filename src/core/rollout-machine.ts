// The rollout state machine of one route, pure: (state, event, route, now) → next state or a refusal.
//
//   off ── shadow ── canary(step 0) → canary(step i) → holding(last step) ──promote──► promoted(100)
//                        │  ▲              │                 │
//                 pause  ▼  │ resume       └── unhealthy / critical / rollback ──► rolled_back(0)
//                       paused ────────────────────────────────────────────────────┘   │ resume ⇒ canary(step 0)
//
// Decisions (each one is a row in test/cases/rollout-machine/):
// - `config` maps the route's mode: legacy ⇒ off, shadow ⇒ shadow, service ⇒ promoted (100 %, outside the
//   rollout: the request path sends `mode: service` routes to the service whatever the state says). These win over
//   any phase, rolled_back included: editing routes.yaml is a person's decision. `canary` starts at step 0 from
//   nothing/off/shadow, and otherwise keeps what it has: rolled_back stays rolled back (sticky until a person
//   resumes), promoted stays promoted, paused and manual weights stay pinned. When the steps change under a running
//   canary, it keeps the largest new step ≤ its current weight (never jumps up; a reload must not add users
//   unasked); if every new step is above the current weight, it goes to the new first step, the smallest share the
//   operator now allows.
// - `verdict`: critical/unhealthy roll back canary, holding, paused and manually weighted routes (a person's pin
//   does not protect a failing service). Healthy advances only an automatic canary that has been on its step for
//   `stepInterval` and seen `minRequests` service requests; the last step is `holding`. Insufficient data changes
//   nothing. Verdicts about off/shadow/promoted/rolled_back routes are ignored (promoted routes behave as `service`).
// - The shadow gate: a canary route with `shadow.gate` starts in `shadow` (from nothing/off) and stays there on
//   reloads; only `diff_gate` (the controller's diff-judge saying the answers match often enough) moves it to step 0.
//   Without the gate a canary in shadow starts at step 0 at once, as before.
// - `tick_requests` adds service requests to the step's count. It is bookkeeping, not a transition: the revision
//   moves (stores refuse stale writes by it) but `since`, `reason` and `updatedBy` stay.
// - Commands are idempotent: asking for the state a route is already in is ok with changed: false. On a
//   `mode: service` route every command but an idempotent promote is refused: no request would obey it.
//   pause:      canary/holding ⇒ paused (weight kept). Refused from off/shadow (nothing is rolling out),
//               promoted (nothing left to pause: roll back instead) and rolled_back (already at 0; resume restarts).
//   resume:     paused ⇒ the phase it was paused from, at the largest step ≤ its weight; rolled_back ⇒ canary
//               step 0; a manual weight ⇒ unpinned at the largest step ≤ that weight. Timers restart: evidence
//               from before the pause is stale. Refused from promoted (there is nothing to resume: the route is
//               done) and from off/shadow (the mode in routes.yaml decides those).
//   promote:    canary/holding/paused ⇒ promoted 100. Refused from rolled_back (the service just failed: resume and
//               let it earn its steps again) and from off/shadow.
//   rollback:   canary/holding/paused/promoted ⇒ rolled_back 0. Off and shadow already send nobody to the service:
//               ok, unchanged, so an operator's rollback in an incident never fails.
//   set_weight: an integer 0..100 on canary/holding/paused/rolled_back/promoted ⇒ canary with manualWeight (the
//               controller no longer advances it; it still rolls back on failure). Refused from off/shadow.

import type { RouteConfig } from '../config/types.ts';
import type { Actor, RolloutPhase, RouteRolloutState, Verdict } from './types.ts';

export type RolloutCommandName = 'pause' | 'resume' | 'promote' | 'rollback' | 'set_weight';

export type RolloutEvent =
  | { readonly type: 'config'; readonly actor?: Actor; readonly reason?: string }
  | { readonly type: 'verdict'; readonly verdict: Verdict }
  | { readonly type: 'tick_requests'; readonly count: number }
  | { readonly type: 'diff_gate'; readonly reason: string; readonly evidence: unknown }
  | { readonly type: 'pause'; readonly actor: Actor; readonly reason: string }
  | { readonly type: 'resume'; readonly actor: Actor; readonly reason: string }
  | { readonly type: 'promote'; readonly actor: Actor; readonly reason: string }
  | { readonly type: 'rollback'; readonly actor: Actor; readonly reason: string }
  | { readonly type: 'set_weight'; readonly actor: Actor; readonly reason: string; readonly weight: number };

export type TransitionResult =
  | { readonly ok: true; readonly state: RouteRolloutState; readonly changed: boolean }
  | { readonly ok: false; readonly code: 'RF_TRANSITION_REFUSED'; readonly message: string };

/** Every phase a route can be in: what stored state and audit rows are checked against, and the metric's labels. */
export const ROLLOUT_PHASES = [
  'off',
  'shadow',
  'canary',
  'holding',
  'promoted',
  'paused',
  'rolled_back',
] as const satisfies readonly RolloutPhase[];

/** Whether `value` names an actor: stored state and audit rows come from other processes and are checked on read. */
export function isActor(value: unknown): value is Actor {
  return (
    typeof value === 'string' &&
    (value === 'system' ||
      value === 'config' ||
      value === 'judge' ||
      value.startsWith('admin:') ||
      value.startsWith('cli:'))
  );
}

/** Phases in which service traffic depends on the rollout weight, so the judge's verdicts matter. */
export const JUDGED_PHASES: ReadonlySet<RolloutPhase> = new Set<RolloutPhase>(['canary', 'holding', 'paused']);

function refuse(message: string): TransitionResult {
  return { ok: false, code: 'RF_TRANSITION_REFUSED', message };
}

function same(state: RouteRolloutState): TransitionResult {
  return { ok: true, state, changed: false };
}

/** Largest index whose step is ≤ weight, or -1 when every step is above it. */
export function stepAtOrBelow(steps: readonly number[], weight: number): number {
  let found = -1;
  for (let i = 0; i < steps.length; i++) if ((steps[i] ?? Number.POSITIVE_INFINITY) <= weight) found = i;
  return found;
}

function phaseForStep(steps: readonly number[], index: number): 'canary' | 'holding' {
  return index >= steps.length - 1 ? 'holding' : 'canary';
}

interface Change {
  phase: RolloutPhase;
  stepIndex: number;
  weight: number;
  manualWeight?: boolean;
  pausedFrom?: RolloutPhase | null;
  stepRequests?: number;
  reason: string;
  updatedBy: Actor;
}

/** A transition: everything a person would see changes together, with a fresh `since` and the next revision. */
function move(routeId: string, from: RouteRolloutState | undefined, change: Change, now: number): TransitionResult {
  const next: RouteRolloutState = {
    routeId,
    phase: change.phase,
    stepIndex: change.stepIndex,
    weight: change.weight,
    since: now,
    stepRequests: change.stepRequests ?? 0,
    manualWeight: change.manualWeight ?? false,
    pausedFrom: change.pausedFrom ?? null,
    reason: change.reason,
    updatedBy: change.updatedBy,
    revision: (from?.revision ?? 0) + 1,
  };
  return { ok: true, state: next, changed: true };
}

/** The route's first step, automatic (a fresh canary, a resume after rollback, a passed shadow gate). */
function firstStep(steps: readonly number[], reason: string, updatedBy: Actor): Change {
  return { phase: phaseForStep(steps, 0), stepIndex: 0, weight: steps[0] ?? 0, reason, updatedBy };
}

/** The automatic canary position at the largest step ≤ weight (the first step when none is). */
function automaticAt(steps: readonly number[], weight: number): { phase: 'canary' | 'holding'; stepIndex: number } {
  const index = Math.max(stepAtOrBelow(steps, weight), 0);
  return { phase: phaseForStep(steps, index), stepIndex: index };
}

function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 6) / 10} min`;
}

function stepText(steps: readonly number[], index: number): string {
  return `step ${index + 1}/${steps.length} (${steps[index] ?? 0}%)`;
}

export function transition(
  state: RouteRolloutState | undefined,
  event: RolloutEvent,
  route: RouteConfig,
  now: number,
): TransitionResult {
  const steps = route.rollout.steps;
  const id = route.id;

  if (event.type === 'config') return onConfig(state, event, route, now);
  if (state === undefined) return refuse(`route ${id} has no rollout state yet (its configuration was not applied)`);
  if (route.mode === 'service' && isCommand(event) && !(event.type === 'promote' && state.phase === 'promoted')) {
    // The request path sends a `mode: service` route to the service whatever its state: a command that changed
    // the state would report a rollback (or a weight) that no request obeys.
    return refuse(`route ${id} has mode: service in routes.yaml, which sends it all traffic; change the mode instead`);
  }

  switch (event.type) {
    case 'diff_gate': {
      if (state.phase !== 'shadow' || route.mode !== 'canary') return same(state);
      return move(id, state, firstStep(steps, `${event.reason}; starting at ${stepText(steps, 0)}`, 'judge'), now);
    }

    case 'tick_requests': {
      if (!(event.count > 0)) return same(state);
      return {
        ok: true,
        changed: true,
        state: { ...state, stepRequests: state.stepRequests + event.count, revision: state.revision + 1 },
      };
    }

    case 'verdict': {
      const v = event.verdict;
      if (!JUDGED_PHASES.has(state.phase)) return same(state);
      if (v.outcome === 'critical' || v.outcome === 'unhealthy') {
        return move(
          id,
          state,
          { phase: 'rolled_back', stepIndex: -1, weight: 0, reason: v.reason, updatedBy: 'judge' },
          now,
        );
      }
      if (v.outcome !== 'healthy' || state.phase !== 'canary' || state.manualWeight) return same(state);
      if (now - state.since < route.rollout.stepIntervalMs) return same(state);
      if (state.stepRequests < route.rollout.minRequests) return same(state);
      const index = state.stepIndex + 1;
      const weight = steps[index];
      if (weight === undefined) return same(state);
      return move(
        id,
        state,
        {
          phase: phaseForStep(steps, index),
          stepIndex: index,
          weight,
          reason: `advanced to ${stepText(steps, index)} after ${duration(now - state.since)} and ${state.stepRequests} service requests on ${state.weight}%: ${v.reason}`,
          updatedBy: 'judge',
        },
        now,
      );
    }

    case 'pause': {
      if (state.phase === 'paused') return same(state);
      if (state.phase === 'canary' || state.phase === 'holding') {
        return move(
          id,
          state,
          {
            phase: 'paused',
            stepIndex: state.stepIndex,
            weight: state.weight,
            manualWeight: state.manualWeight,
            pausedFrom: state.phase,
            stepRequests: state.stepRequests,
            reason: event.reason,
            updatedBy: event.actor,
          },
          now,
        );
      }
      return refuse(pauseRefusal(id, state.phase));
    }

    case 'resume': {
      if (state.phase === 'paused' || (state.phase === 'canary' && state.manualWeight)) {
        const at = automaticAt(steps, state.weight);
        return move(
          id,
          state,
          { ...at, weight: steps[at.stepIndex] ?? 0, reason: event.reason, updatedBy: event.actor },
          now,
        );
      }
      if (state.phase === 'rolled_back') {
        return move(id, state, firstStep(steps, event.reason, event.actor), now);
      }
      if (state.phase === 'canary' || state.phase === 'holding') return same(state);
      if (state.phase === 'promoted') {
        return refuse(`route ${id} is promoted: there is nothing to resume (roll it back first to restart the canary)`);
      }
      return refuse(`route ${id} is ${state.phase}: its mode in routes.yaml decides, not resume`);
    }

    case 'promote': {
      if (state.phase === 'promoted') return same(state);
      if (JUDGED_PHASES.has(state.phase)) {
        return move(
          id,
          state,
          { phase: 'promoted', stepIndex: -1, weight: 100, reason: event.reason, updatedBy: event.actor },
          now,
        );
      }
      if (state.phase === 'rolled_back') {
        return refuse(`route ${id} is rolled back: resume it and let it pass its steps before promoting`);
      }
      return refuse(`route ${id} is ${state.phase}: set mode: service in routes.yaml to send it all traffic`);
    }

    case 'rollback': {
      if (state.phase === 'rolled_back' || state.phase === 'off' || state.phase === 'shadow') return same(state);
      return move(
        id,
        state,
        { phase: 'rolled_back', stepIndex: -1, weight: 0, reason: event.reason, updatedBy: event.actor },
        now,
      );
    }

    case 'set_weight': {
      const w = event.weight;
      if (!Number.isInteger(w) || w < 0 || w > 100) {
        return refuse(`weight must be an integer from 0 to 100, got ${String(w)}`);
      }
      if (state.phase === 'off' || state.phase === 'shadow') {
        return refuse(`route ${id} is ${state.phase}: set mode: canary in routes.yaml before setting a weight`);
      }
      if (state.phase === 'canary' && state.manualWeight && state.weight === w) return same(state);
      return move(
        id,
        state,
        {
          phase: 'canary',
          stepIndex: stepAtOrBelow(steps, w),
          weight: w,
          manualWeight: true,
          reason: event.reason,
          updatedBy: event.actor,
        },
        now,
      );
    }
  }
}

function isCommand(event: RolloutEvent): boolean {
  return event.type !== 'verdict' && event.type !== 'tick_requests' && event.type !== 'diff_gate';
}

function pauseRefusal(id: string, phase: RolloutPhase): string {
  if (phase === 'promoted') return `route ${id} is promoted: nothing is rolling out to pause (roll it back instead)`;
  if (phase === 'rolled_back') return `route ${id} is rolled back and already at 0%: resume restarts it`;
  return `route ${id} is ${phase}: nothing is rolling out to pause`;
}

function onConfig(
  state: RouteRolloutState | undefined,
  event: { readonly actor?: Actor; readonly reason?: string },
  route: RouteConfig,
  now: number,
): TransitionResult {
  const steps = route.rollout.steps;
  const actor = event.actor ?? 'config';
  const id = route.id;
  const because = (text: string) => event.reason ?? text;

  switch (route.mode) {
    case 'legacy':
      if (state?.phase === 'off') return same(state);
      return move(
        id,
        state,
        { phase: 'off', stepIndex: -1, weight: 0, reason: because('mode: legacy'), updatedBy: actor },
        now,
      );
    case 'shadow':
      if (state?.phase === 'shadow') return same(state);
      return move(
        id,
        state,
        { phase: 'shadow', stepIndex: -1, weight: 0, reason: because('mode: shadow'), updatedBy: actor },
        now,
      );
    case 'service':
      if (state?.phase === 'promoted' && state.weight === 100) return same(state);
      return move(
        id,
        state,
        {
          phase: 'promoted',
          stepIndex: -1,
          weight: 100,
          reason: because('mode: service (the rollout is bypassed)'),
          updatedBy: actor,
        },
        now,
      );
    case 'canary':
      break;
  }

  if (route.shadow?.gate === true && (state === undefined || state.phase === 'off' || state.phase === 'shadow')) {
    if (state?.phase === 'shadow') return same(state);
    return move(
      id,
      state,
      {
        phase: 'shadow',
        stepIndex: -1,
        weight: 0,
        reason: because('mode: canary with shadow.gate: comparing answers in shadow before the first step'),
        updatedBy: actor,
      },
      now,
    );
  }
  if (state === undefined || state.phase === 'off' || state.phase === 'shadow') {
    return move(id, state, firstStep(steps, because(`mode: canary, starting at ${stepText(steps, 0)}`), actor), now);
  }
  if (state.phase === 'rolled_back' || state.phase === 'promoted') return same(state);

  if (state.manualWeight || state.phase === 'paused') {
    // A pinned or paused weight stays (a person chose it); only the step index, which says where a resume would
    // land, follows the new steps. Not a new step: `since` stays.
    const below = stepAtOrBelow(steps, state.weight);
    const index = state.manualWeight ? below : Math.max(below, 0);
    if (index === state.stepIndex) return same(state);
    return {
      ok: true,
      changed: true,
      state: {
        ...state,
        stepIndex: index,
        reason: because(`steps changed to [${steps.join(', ')}]; ${state.weight}% stays as set`),
        updatedBy: actor,
        revision: state.revision + 1,
      },
    };
  }

  // canary / holding, automatic.
  if (steps[state.stepIndex] === state.weight && phaseForStep(steps, state.stepIndex) === state.phase) {
    return same(state);
  }
  const at = automaticAt(steps, state.weight);
  const weight = steps[at.stepIndex] ?? 0;
  const keptStep = weight === state.weight;
  return move(
    id,
    state,
    {
      ...at,
      weight,
      // Same share of users: the evidence gathered on it still counts.
      stepRequests: keptStep ? state.stepRequests : 0,
      reason: because(
        `steps changed to [${steps.join(', ')}]: ${keptStep ? 'kept' : 'moved to'} ${stepText(steps, at.stepIndex)}`,
      ),
      updatedBy: actor,
    },
    keptStep ? state.since : now,
  );
}
