// Route state crosses process boundaries as JSON (the state file, Redis hashes, pub/sub messages). Another
// replica, an older version or a person with redis-cli may have written it, so it is validated on the way in:
// a malformed entry is dropped and reported rather than handed to the request path.
import { z } from 'zod';
import { EdgeError } from '../../core/errors.ts';
import { isActor, ROLLOUT_PHASES } from '../../core/rollout-machine.ts';
import type { Actor, RouteRolloutState } from '../../core/types.ts';

const phase = z.enum(ROLLOUT_PHASES);

const actor = z.custom<Actor>(isActor, 'not a known actor');

const routeStateSchema = z.object({
  routeId: z.string().min(1),
  phase,
  stepIndex: z.number().int().min(-1),
  weight: z.number().min(0).max(100),
  since: z.number().finite(),
  stepRequests: z.number().int().min(0),
  manualWeight: z.boolean(),
  pausedFrom: phase.nullable(),
  reason: z.string(),
  updatedBy: actor,
  revision: z.number().int().min(0),
});

export type DecodeResult = { ok: true; state: RouteRolloutState } | { ok: false; problem: string };

/** Validates an already-parsed value as a route state. */
export function decodeRouteState(value: unknown): DecodeResult {
  const parsed = routeStateSchema.safeParse(value);
  if (parsed.success) return { ok: true, state: parsed.data };
  return { ok: false, problem: z.prettifyError(parsed.error) };
}

/** Parses JSON text and validates it as a route state. */
export function parseRouteState(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON: ${(err as Error).message}` };
  }
  return decodeRouteState(value);
}

/**
 * A canonical JSON form (fixed key order), so two replicas that hold the same state produce the same text and a
 * resync can tell "same state" from "different state with the same revision" by comparing strings.
 */
export function encodeRouteState(state: RouteRolloutState): string {
  const canonical: RouteRolloutState = {
    routeId: state.routeId,
    phase: state.phase,
    stepIndex: state.stepIndex,
    weight: state.weight,
    since: state.since,
    stepRequests: state.stepRequests,
    manualWeight: state.manualWeight,
    pausedFrom: state.pausedFrom,
    reason: state.reason,
    updatedBy: state.updatedBy,
    revision: state.revision,
  };
  return JSON.stringify(canonical);
}

/**
 * Refuses a write other replicas would misread: a malformed state, or one whose revision does not move past the
 * revision it replaces (replicas drop news that is not newer than what they hold).
 */
export function checkWrite(next: RouteRolloutState, expectedRevision: number): EdgeError | null {
  const decoded = decodeRouteState(next);
  if (!decoded.ok) {
    return new EdgeError('RF_STATE_STORE', `refusing to store a malformed state for ${next.routeId}`, {
      details: { problem: decoded.problem },
    });
  }
  if (next.revision <= expectedRevision) {
    return new EdgeError(
      'RF_STATE_STORE',
      `revision ${next.revision} of ${next.routeId} must be greater than the expected revision ${expectedRevision}`,
    );
  }
  return null;
}
