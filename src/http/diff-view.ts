// What `GET /api/routes/:id/diff` shows, from the diff store's counters: request-level figures after noise, the
// learned verdict of every field (raw vs noise), the verdict the gate or the canary's diff rule would give now,
// recent examples, and the rules the learned noise would justify (`rf-edge diff suggest`).

import type { DiffSample } from '../adapters/diff/diff-store.ts';
import { DEFAULT_SHADOW } from '../config/routes-schema.ts';
import type { RouteConfig } from '../config/types.ts';
import { diffCheck, diffGate } from '../core/diff-judge.ts';
import { type Counters, slotOf, suggestRules, summarize } from '../core/diff-tally.ts';
import type { RouteRolloutState } from '../core/types.ts';

const MAX_FIELDS_SHOWN = 100;

export function diffView(
  route: RouteConfig,
  state: RouteRolloutState | undefined,
  counters: Counters,
  samples: readonly DiffSample[],
  now: number,
) {
  const policy = route.shadow ?? DEFAULT_SHADOW;
  const thresholds = { relative: policy.noise.relativeThreshold, absolute: policy.noise.absoluteThreshold };
  const gating = policy.gate && route.mode === 'canary' && state?.phase === 'shadow';
  // The gate counts since the route entered shadow; otherwise the diff rule's window.
  const from = gating && state !== undefined ? slotOf(state.since) : now - policy.window;
  const summary = summarize(counters, from, thresholds);
  const verdict = gating
    ? (() => {
        const gate = diffGate(summary, policy);
        return { kind: 'gate', outcome: gate.outcome, reason: gate.reason };
      })()
    : (() => {
        const check = diffCheck(summary, policy, route.rollout.minSamples);
        return { kind: 'diff_rule', outcome: check.outcome, reason: check.check.detail };
      })();
  const compared = summary.compared;
  return {
    route: route.id,
    mode: route.mode,
    phase: state?.phase ?? 'off',
    gate: policy.gate,
    since: new Date(from).toISOString(),
    compared,
    matches: compared - summary.rawMismatches,
    noise: summary.rawMismatches - summary.mismatches,
    mismatches: summary.mismatches,
    errors: summary.errors,
    skipped: summary.skipped,
    mismatchRate: compared > 0 ? summary.mismatches / compared : null,
    maxMismatchRate: policy.maxMismatchRate,
    verdict,
    learning: summary.learning,
    fields: summary.fields.slice(0, MAX_FIELDS_SHOWN),
    mismatchFields: summary.mismatchFields.slice(0, MAX_FIELDS_SHOWN),
    examples: samples
      .slice(0, 5)
      .map((s) => ({ at: s.at, reqId: s.reqId, method: s.method, path: s.path, differences: s.differences })),
    suggest: suggestRules(counters, thresholds),
  };
}

export type DiffView = ReturnType<typeof diffView>;
