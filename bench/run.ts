// `npm run bench`: one upstream, loaded directly and through each proxy, in one run. Every process involved
// (upstream, proxies, load generator) is a child of this one and is stopped when it ends, however it ends.
//
//   npm run bench -- [--rounds 5] [--duration 2] [--warmup 1] [--connections 50]
//                    [--rate 5000] [--rate-duration 3] [--rate-connections 64]
//                    [--only direct,bare-http-proxy,node-floor,nginx,rf-edge,rf-edge-adapted,rf-edge-shadow] [--out bench/results/latest.json] [--check]
//
// --check exits 1 when a floor is missed or could not be measured (issue 2: rf-edge ≥ 0.85× bare requests/s, p99
// added ≤ 2 ms; issue 10: CPU/req ≤ 3.3× nginx's and ≥ 1.3× cheaper than bare @fastify/http-proxy); without it the
// exit status only says whether the bench itself ran.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllChildren } from './child-processes.ts';
import {
  awakeAlone,
  type CpuPinning,
  describePinning,
  findTaskset,
  pinProcess,
  planPinning,
  wakeAll,
} from './cpu-pinning.ts';
import type { LoadPlan } from './load-plan.ts';
import { type Measurement, startLoadGenerator } from './measure.ts';
import { canReadProcessCpu } from './process-cpu.ts';
import { type BenchResults, type BenchSettings, formatReport, judge, summarise } from './report.ts';
import { writeResultsFile } from './results-file.ts';
import { directTarget } from './targets/direct.ts';
import { findNginx, NGINX_MISSING_MESSAGE, startNginx } from './targets/nginx.ts';
import { type NodeProxyName, startNodeProxy } from './targets/node-proxies.ts';
import { RF_EDGE_BENCH_PATHS, startRfEdge } from './targets/rf-edge.ts';
import type { Target } from './targets/target.ts';
import { startUpstream } from './targets/upstream.ts';

const ALL_TARGETS = [
  'direct',
  'bare-http-proxy',
  'node-floor',
  'nginx',
  'rf-edge',
  'rf-edge-adapted',
  'rf-edge-shadow',
] as const;
/** Targets loaded at the fixed rate: direct and rf-edge (whose p99 difference has a ceiling), and the other proxies for reference. */
const FIXED_RATE_TARGETS = new Set(['direct', 'bare-http-proxy', 'nginx', 'rf-edge']);
/** A full run takes about two and a half minutes; past this something hangs, so stop everything. */
const WATCHDOG_MS = 300_000;

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(benchDir, '..');

const startedAtMs = Date.now();

function progress(message: string): void {
  process.stderr.write(`bench [${((Date.now() - startedAtMs) / 1000).toFixed(1)} s]: ${message}\n`);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}

function readSettings(): { settings: BenchSettings; only: Set<string>; out: string; check: boolean } {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      rate: { type: 'string', default: '5000' },
      'rate-duration': { type: 'string', default: '3' },
      'rate-connections': { type: 'string', default: '64' },
      only: { type: 'string', default: ALL_TARGETS.join(',') },
      out: { type: 'string', default: join('bench', 'results', 'latest.json') },
      check: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(text)}`);
    return n;
  };
  const only = new Set(values.only.split(',').map((s) => s.trim()));
  for (const name of only) {
    if (!(ALL_TARGETS as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown target ${JSON.stringify(name)} (known: ${ALL_TARGETS.join(', ')})`);
    }
  }
  return {
    settings: {
      rounds: Math.round(positive('rounds', values.rounds)),
      connections: Math.round(positive('connections', values.connections)),
      warmupMs: positive('warmup', values.warmup) * 1000,
      durationMs: positive('duration', values.duration) * 1000,
      rate: positive('rate', values.rate),
      rateConnections: Math.round(positive('rate-connections', values['rate-connections'])),
      rateDurationMs: positive('rate-duration', values['rate-duration']) * 1000,
      paths: [RF_EDGE_BENCH_PATHS.service, RF_EDGE_BENCH_PATHS.legacy],
      users: 1000,
    },
    only,
    // Relative to the repository, like the default, so `npm run bench` from anywhere writes to the same place.
    out: resolve(repoRoot, values.out),
    check: values.check,
  };
}

/** Before loading a target, one request per path must come back 200 with the upstream's own body. */
async function checkAnswersLikeUpstream(target: Target, upstreamOrigin: string, paths: readonly string[]) {
  for (const path of paths) {
    const headers = { 'x-user-id': 'bench-user-0' };
    const expected = await (await fetch(`${upstreamOrigin}${path}`, { headers })).text();
    const res = await fetch(`${target.origin}${path}`, { headers, signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    if (res.status !== 200 || body !== expected) {
      throw new Error(
        `GET ${path} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}, not the upstream's 200`,
      );
    }
  }
}

/** The adapted route answers the v1 shape of the upstream's v2 page: six agents, statuses in lower case. */
async function checkAnswersTranslated(target: Target, paths: readonly string[]) {
  for (const path of paths) {
    const res = await fetch(`${target.origin}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { items?: { status?: string; createdAt?: string }[]; total?: number };
    if (res.status !== 200 || body.items?.length !== 6 || body.items[0]?.status !== 'active' || body.total !== 6) {
      throw new Error(`GET ${path} answered ${res.status} ${JSON.stringify(body).slice(0, 200)}, not the adapted page`);
    }
  }
}

async function main(): Promise<number> {
  const { settings, only, out, check } = readSettings();
  const startedAt = new Date();
  const loadavgBefore = loadavg();
  const readCpu = canReadProcessCpu();
  const targets: Target[] = [];
  const skipped: { target: string; reason: string }[] = [];
  const skip = (target: string, reason: string): void => {
    skipped.push({ target, reason });
    progress(`${target}: ${reason}`);
  };
  const workDir = mkdtempSync(join(tmpdir(), 'rf-edge-bench-'));
  // Removed however the run ends (Ctrl-C included), after the children that write into it are gone; kept when
  // rf-edge did not start, since its logs there say why. The rf-edge log can be hundreds of MiB.
  process.on('exit', () => {
    killAllChildren();
    if (skipped.some((s) => s.target === 'rf-edge')) return;
    try {
      rmSync(workDir, { recursive: true, force: true });
    } catch {
      // Best effort: it is under the system's temporary directory.
    }
  });
  if (!readCpu) progress('no /proc here: CPU per request will be reported as unknown');

  progress(`work directory ${workDir}`);
  const pinning: CpuPinning | null = planPinning(cpus().length, findTaskset());
  const pin = (what: string, pid: number | null, cpuList: string | undefined): void => {
    if (pinning === null || pid === null || cpuList === undefined) return;
    pinProcess(pinning.taskset, pid, cpuList);
    progress(`${what} (pid ${pid}) pinned to CPU ${cpuList}`);
  };
  pin('bench', process.pid, pinning?.rest);
  const upstream = await startUpstream(join(workDir, 'upstream.log'));
  try {
    pin('upstream', upstream.pid, pinning?.rest);
    if (only.has('direct')) targets.push(directTarget(upstream));
    for (const name of ['bare-http-proxy', 'node-floor'] as const satisfies readonly NodeProxyName[]) {
      if (!only.has(name)) continue;
      try {
        targets.push(await startNodeProxy(name, upstream.origin, join(workDir, `${name}.log`)));
      } catch (err) {
        skip(name, `did not start: ${describeError(err)}`);
      }
    }
    if (only.has('nginx')) {
      const nginx = findNginx();
      if (nginx === null) {
        console.log(NGINX_MISSING_MESSAGE);
        skip('nginx', 'not installed (apt-get install nginx)');
      } else {
        try {
          targets.push(await startNginx(nginx, upstream.origin, workDir));
        } catch (err) {
          skip('nginx', `did not start: ${describeError(err)}`);
        }
      }
    }
    for (const name of ['rf-edge', 'rf-edge-adapted', 'rf-edge-shadow'] as const) {
      if (!only.has(name)) continue;
      try {
        targets.push(
          await startRfEdge({ name, repoRoot, upstreamOrigin: upstream.origin, workDir, readyTimeoutMs: 30_000 }),
        );
      } catch (err) {
        skip(name, `did not start: ${describeError(err)}`);
      }
    }

    const pids = targets.map((t) => t.pid);
    const isolate = (loaded: Target): void => awakeAlone(pids, loaded.pid, pinning);

    const ready: Target[] = [];
    for (const target of targets) {
      try {
        if (target.paths === undefined) await checkAnswersLikeUpstream(target, upstream.origin, settings.paths);
        else await checkAnswersTranslated(target, target.paths);
        ready.push(target);
      } catch (err) {
        skip(target.name, `does not answer like the upstream: ${describeError(err)}`);
      }
    }

    const plan = (rate: number | null, target: Target): Omit<LoadPlan, 'origin'> => ({
      paths: target.paths ?? settings.paths,
      users: settings.users,
      connections: rate === null ? settings.connections : settings.rateConnections,
      warmupMs: settings.warmupMs,
      durationMs: rate === null ? settings.durationMs : settings.rateDurationMs,
      rate,
    });
    // Every round loads every target once; odd rounds go forwards and even rounds backwards, so no target is
    // always the one that runs right after (or before) another.
    const inRoundOrder = (list: readonly Target[], round: number): Target[] =>
      round % 2 === 1 ? [...list] : [...list].reverse();
    const max: Measurement[] = [];
    const fixedRate: Measurement[] = [];
    const generator = startLoadGenerator();
    pin('load generator', generator.pid, pinning?.rest);
    try {
      for (let round = 1; round <= settings.rounds; round++) {
        for (const target of inRoundOrder(ready, round)) {
          progress(`round ${round}/${settings.rounds}, max throughput: ${target.name}`);
          isolate(target);
          max.push(await generator.measure(target, plan(null, target), { upstreamPid: upstream.pid, readCpu, round }));
        }
      }
      const fixedRateTargets = ready.filter((t) => FIXED_RATE_TARGETS.has(t.name));
      for (let round = 1; round <= settings.rounds; round++) {
        for (const target of inRoundOrder(fixedRateTargets, round)) {
          progress(`round ${round}/${settings.rounds}, fixed rate ${settings.rate}/s: ${target.name}`);
          isolate(target);
          fixedRate.push(
            await generator.measure(target, plan(settings.rate, target), { upstreamPid: upstream.pid, readCpu, round }),
          );
        }
      }
    } finally {
      wakeAll(pids);
      await generator.stop();
    }

    const evidence: Record<string, Record<string, unknown>> = {};
    for (const target of ready) {
      const facts = await target.evidence();
      if (Object.keys(facts).length > 0) evidence[target.name] = facts;
    }

    const results: BenchResults = {
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      machine: {
        node: process.version,
        cpus: cpus().length,
        loadavgBefore,
        loadavgAfter: loadavg(),
        pinning: describePinning(pinning),
      },
      settings,
      summary: { max: summarise(max), fixedRate: summarise(fixedRate) },
      max,
      fixedRate,
      skipped,
      evidence,
      verdict: judge(max, fixedRate, settings.rate),
    };
    console.log(formatReport(results));
    const edgeEvidence = evidence['rf-edge'];
    if (edgeEvidence) {
      console.log(
        `\nrf-edge wrote ${edgeEvidence['logLines']} log lines and counted ${edgeEvidence['metricsRequestsTotal']} ` +
          'requests in rf_edge_requests_total during the run',
      );
    }
    writeResultsFile(out, results);
    const shown = relative(process.cwd(), out).startsWith('..') ? out : relative(process.cwd(), out);
    console.log(`\nresults: ${shown} (run took ${results.durationS.toFixed(0)} s)`);

    const missing = ['bare-http-proxy', 'rf-edge'].filter(
      (name) => only.has(name) && !max.some((m) => m.target === name),
    );
    if (missing.length > 0) return 1;
    const { rpsRatio, p99AddedMs, cpuVsNginx, bareCpuOverEdge } = results.verdict;
    const floors = [rpsRatio, p99AddedMs, cpuVsNginx, bareCpuOverEdge];
    if (check && floors.some((floor) => floor.pass !== true)) return 1;
    return 0;
  } finally {
    for (const target of targets) await target.stop();
    await upstream.stop();
  }
}

const watchdog = setTimeout(() => {
  progress(`still running after ${WATCHDOG_MS / 1000} s: stopping every child process`);
  killAllChildren();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exitCode = code;
  },
  (err: unknown) => {
    progress(`failed: ${describeError(err)}`);
    killAllChildren();
    process.exitCode = 1;
  },
);
