// `npm run bench:compare`: is change B cheaper than A? Two rf-edge processes with the bench's acceptance workload,
// A and B, loaded in alternation (A B, then B A, …) for many short runs, each alone on CPU 0 and the other frozen. On a
// shared machine the CPU's speed drifts by tens of percent within a minute, far more than most changes move the
// figure: only runs close in time can be compared, so each round's B ÷ A is taken from adjacent runs and the
// verdict is the median over rounds, with the spread beside it.
//
//   npm run bench:compare -- --b ../other-checkout            # this checkout (A) against another one (B)
//   npm run bench:compare -- --env-b LOG_LEVEL=warn            # the same code, B with other environment
//   npm run bench:compare -- [--a DIR] [--b DIR] [--env-a K=V,…] [--env-b K=V,…] [--rounds 8] [--duration 2]
//                            [--warmup 1] [--connections 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllChildren } from './child-processes.ts';
import { awakeAlone, findTaskset, pinProcess, planPinning, wakeAll } from './cpu-pinning.ts';
import { startLoadGenerator } from './measure.ts';
import { canReadProcessCpu } from './process-cpu.ts';
import { median } from './report.ts';
import { RF_EDGE_BENCH_PATHS, startRfEdge } from './targets/rf-edge.ts';
import type { Target } from './targets/target.ts';
import { startUpstream } from './targets/upstream.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function envList(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`environment entries are NAME=value, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      a: { type: 'string', default: repoRoot },
      b: { type: 'string', default: repoRoot },
      'env-a': { type: 'string', default: '' },
      'env-b': { type: 'string', default: '' },
      rounds: { type: 'string', default: '8' },
      duration: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
    },
  });
  const rounds = Number(values.rounds);
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const connections = Number(values.connections);
  if (![rounds, durationMs, warmupMs, connections].every((n) => n > 0)) {
    throw new Error('--rounds, --duration, --warmup and --connections must be positive numbers');
  }
  const envA = envList(values['env-a']);
  const envB = envList(values['env-b']);
  const rootA = resolve(values.a);
  const rootB = resolve(values.b);
  if (rootA === rootB && JSON.stringify(envA) === JSON.stringify(envB)) {
    process.stderr.write('A and B are the same checkout with the same environment: this measures the noise\n');
  }
  if (!canReadProcessCpu()) throw new Error('no /proc here: CPU per request cannot be measured');

  const workDir = mkdtempSync(join(tmpdir(), 'rf-edge-compare-'));
  process.on('exit', () => {
    killAllChildren();
    rmSync(workDir, { recursive: true, force: true });
  });
  const pinning = planPinning(cpus().length, findTaskset());
  if (pinning !== null) pinProcess(pinning.taskset, process.pid, pinning.rest);
  const upstream = await startUpstream(join(workDir, 'upstream.log'));
  const start = (label: string, root: string, env: Record<string, string>): Promise<Target> =>
    startRfEdge({
      name: 'rf-edge',
      repoRoot: root,
      upstreamOrigin: upstream.origin,
      workDir: join(workDir, label),
      readyTimeoutMs: 30_000,
      env,
    });
  const variants = [
    { label: 'A', target: await start('a', rootA, envA) },
    { label: 'B', target: await start('b', rootB, envB) },
  ];
  const pids = variants.map((v) => v.target.pid);
  const generator = startLoadGenerator();
  if (pinning !== null) {
    pinProcess(pinning.taskset, upstream.pid, pinning.rest);
    if (generator.pid !== null) pinProcess(pinning.taskset, generator.pid, pinning.rest);
  }
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  const ratios: number[] = [];
  try {
    console.log(`A: ${rootA} ${JSON.stringify(envA)}\nB: ${rootB} ${JSON.stringify(envB)}`);
    console.log('round  A µs/req  B µs/req  B ÷ A');
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? variants : [...variants].reverse();
      const cpu: Record<string, number> = {};
      for (const { label, target } of order) {
        awakeAlone(pids, target.pid, pinning);
        const m = await generator.measure(
          target,
          {
            paths: [RF_EDGE_BENCH_PATHS.service, RF_EDGE_BENCH_PATHS.legacy],
            users: 1000,
            connections,
            warmupMs,
            durationMs,
            rate: null,
          },
          { upstreamPid: upstream.pid, readCpu: true, round },
        );
        if (m.proxyCpuUsPerRequest === null || m.load.errors > 0 || m.load.non2xx > 0) {
          throw new Error(`${label}: ${m.load.errors} errors, ${m.load.non2xx} non-2xx answers, CPU unknown?`);
        }
        cpu[label] = m.proxyCpuUsPerRequest;
      }
      const a = cpu['A'] ?? Number.NaN;
      const b = cpu['B'] ?? Number.NaN;
      cpuA.push(a);
      cpuB.push(b);
      ratios.push(b / a);
      console.log(
        `${String(round).padStart(5)}  ${a.toFixed(1).padStart(8)}  ${b.toFixed(1).padStart(8)}  ${(b / a).toFixed(3)}`,
      );
    }
  } finally {
    wakeAll(pids);
    await generator.stop();
    for (const { target } of variants) await target.stop();
    await upstream.stop();
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const wins = ratios.filter((r) => r < 1).length;
  console.log(
    `\nB ÷ A CPU per request: median ${median(ratios).toFixed(3)} (range ${sorted[0]?.toFixed(3)}–` +
      `${sorted.at(-1)?.toFixed(3)}; B cheaper in ${wins} of ${ratios.length} rounds)` +
      `\nmedians: A ${median(cpuA).toFixed(1)} µs/req, B ${median(cpuB).toFixed(1)} µs/req`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench:compare failed: ${err instanceof Error ? err.message : String(err)}\n`);
    killAllChildren();
    process.exitCode = 1;
  },
);
