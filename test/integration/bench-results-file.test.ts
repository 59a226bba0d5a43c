import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeResultsFile } from '../../bench/results-file.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// Inside bench/results/ (gitignored), where the real results go and where biome's includes reach.
const file = join(repoRoot, 'bench', 'results', `test-${process.pid}.json`);
after(() => rmSync(file, { force: true }));

test('the results file passes the repository’s lint, so running the bench never breaks `npm run lint`', () => {
  // Shapes biome formats differently from JSON.stringify: short number and string arrays, empty ones, nesting.
  const results = {
    machine: { loadavgBefore: [12.31, 10.34, 7.17], cpus: 2 },
    settings: { paths: ['/bench/service/item', '/bench/legacy/item'], users: 1000 },
    verdict: { rpsRatio: { perRound: [1.3214, 0.5171, 1.1093], value: 1.1093 }, warnings: [] },
    max: [{ target: 'direct', load: { latency: { p99Ms: 20.56 } } }],
    evidence: {},
  };
  writeResultsFile(file, results);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), results);
  // What `npm run lint` does to the bench folder, results included: formatted as JSON.stringify writes it, the
  // file would fail biome's formatter if biome read it.
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  const check = spawnSync(process.execPath, [biome, 'check', 'bench'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});
