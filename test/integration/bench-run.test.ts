import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from '../../bench/report.ts';

const runScript = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'bench-run-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

function runBench(
  args: readonly string[],
  script = runScript,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('one short bench run loads direct, bare @fastify/http-proxy, the node floor and rf-edge (one awake at a time), prints the table and writes the JSON', async () => {
  const out = join(workDir, 'results.json');
  // Tiny durations and a low rate: this checks the machinery end to end, not the figures.
  const { code, stdout, stderr } = await runBench([
    '--only',
    'direct,bare-http-proxy,node-floor,rf-edge',
    '--rounds',
    '2',
    '--warmup',
    '0.2',
    '--duration',
    '0.4',
    '--rate',
    '200',
    '--rate-duration',
    '0.4',
    '--out',
    out,
  ]);
  assert.equal(code, 0, `bench failed:\n${stderr}\n${stdout}`);

  const lines = stdout.split('\n');
  // A table row: the target's name, then its requests/s.
  const rows = (target: string) => lines.filter((line) => new RegExp(`^${target}\\s+[\\d,]+\\s`).test(line));
  assert.equal(rows('direct').length, 2, 'direct in both tables');
  assert.equal(rows('bare-http-proxy').length, 2, 'bare proxy in both tables (a reference at the fixed rate)');
  assert.equal(rows('rf-edge').length, 2, 'rf-edge in both tables');
  assert.equal(rows('node-floor').length, 1, 'the node floor at max throughput only');
  assert.match(stdout, /rf-edge CPU\/req ÷ node floor .*: \d+\.\d\d× \(rounds/);
  assert.match(stdout, /rf-edge req\/s ÷ bare @fastify\/http-proxy req\/s\s+\d+\.\d\d\s+≥ 0\.85\s+(PASS|FAIL)/);
  assert.match(stdout, /p99 added over direct at 200 req\/s\s+-?\d+\.\d\d ms\s+≤ 2 ms\s+(PASS|FAIL)/);

  const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
  // Round 2 runs backwards: every target runs after each other one, so each was frozen and thawed in between.
  assert.deepEqual(
    results.max.map((m) => m.target),
    ['direct', 'bare-http-proxy', 'node-floor', 'rf-edge', 'rf-edge', 'node-floor', 'bare-http-proxy', 'direct'],
  );
  assert.deepEqual(
    results.fixedRate.map((m) => m.target),
    ['direct', 'bare-http-proxy', 'rf-edge', 'rf-edge', 'bare-http-proxy', 'direct'],
  );
  for (const m of [...results.max, ...results.fixedRate]) {
    assert.ok(m.load.requests > 0, `${m.target} answered nothing`);
    assert.equal(m.load.errors, 0, `${m.target}: ${m.load.firstError}`);
    assert.equal(m.load.non2xx, 0, m.target);
  }
  // rf-edge really ran with per-request logging and metrics: at least one log line and one count per request.
  const answeredByEdge = [...results.max, ...results.fixedRate]
    .filter((m) => m.target === 'rf-edge')
    .reduce((sum, m) => sum + m.load.requests, 0);
  const evidence = results.evidence['rf-edge'] as { logLines: number; metricsRequestsTotal: number };
  assert.ok(evidence.logLines >= answeredByEdge, `${evidence.logLines} log lines for ${answeredByEdge} requests`);
  assert.ok(evidence.metricsRequestsTotal >= answeredByEdge, `${evidence.metricsRequestsTotal} counted`);
});

test('bench:compare loads two rf-edge variants in alternating rounds and prints B ÷ A per round and its median', async () => {
  const compareScript = fileURLToPath(new URL('../../bench/compare.ts', import.meta.url));
  const { code, stdout, stderr } = await runBench(
    ['--env-b', 'LOG_LEVEL=warn', '--rounds', '2', '--warmup', '0.2', '--duration', '0.4'],
    compareScript,
  );
  assert.equal(code, 0, `bench:compare failed:\n${stderr}\n${stdout}`);
  assert.match(stdout, /^B: .* \{"LOG_LEVEL":"warn"\}$/m);
  const rounds = stdout.split('\n').filter((line) => /^\s+\d\s+\d+\.\d\s+\d+\.\d\s+\d\.\d{3}$/.test(line));
  assert.equal(rounds.length, 2, stdout);
  assert.match(
    stdout,
    /B ÷ A CPU per request: median \d\.\d{3} \(range \d\.\d{3}–\d\.\d{3}; B cheaper in [0-2] of 2 rounds\)/,
  );
});
