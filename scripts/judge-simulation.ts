// The judge's large simulation: whole rollouts with the default policy, second by second, through the real outcome
// window, sequential judge and rollout machine, and a table of how often it rolled back. The floors of issue 9:
// per 1,000 rollouts at 100 req/s, A/A ≤ 1 false rollback (with common-mode stalls too), errors +2 points and
// latency +300 ms ≥ 990 caught, and at 5 req/s no advance without evidence and no rollback on noise.
//
//   node --import tsx scripts/judge-simulation.ts [--rollouts 1000] [--seed 9] [--only <name substring>]
//
// `npm test` runs the same scenarios at a smaller size (test/unit/judge-simulation.test.ts).

import { parseArgs } from 'node:util';
import { floorScenarios, runScenario } from '../test/support/rollout-simulation.ts';

const { values } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '9' },
    only: { type: 'string' },
  },
});
const rollouts = Number(values.rollouts);
const seed = Number(values.seed);
if (!Number.isInteger(rollouts) || rollouts <= 0 || !Number.isInteger(seed)) {
  console.error('usage: judge-simulation.ts [--rollouts N] [--seed N] [--only text]');
  process.exit(2);
}

const header = [
  'scenario',
  'rollouts',
  'rolled back',
  'reached 50 %',
  'advances w/o evidence',
  'median svc req before rollback',
  'median s to rollback',
  'rules',
  'run time',
];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const s of floorScenarios()) {
  if (values.only !== undefined && !s.name.includes(values.only)) continue;
  const started = performance.now();
  const r = runScenario(s, rollouts, seed);
  const rules = [...r.reasons].map(([rule, n]) => `${rule} ${n}`).join(', ') || '-';
  const cells = [
    s.name,
    r.rollouts,
    r.rolledBack,
    r.reachedHolding,
    r.advancesWithoutEvidence,
    r.medianServiceRequestsBeforeRollback ?? '-',
    r.medianSecondsToRollback ?? '-',
    rules,
    `${((performance.now() - started) / 1000).toFixed(0)} s`,
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
