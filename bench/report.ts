// Turns measurements into per-target figures, the verdict (ratios against the floors of issue 2) and the table the
// bench prints. Pure: the same results always print the same text, which is what the tests check.
//
// Targets are loaded in rounds (each round loads every target once, in turn), and every ratio is computed within a
// round and then the median taken: on a shared machine a burst of background load lands on one run, and pairing
// runs that were close in time keeps that burst from deciding the verdict. The per-round values are printed too,
// so the spread shows how noisy the machine was.
import type { Measurement } from './measure.ts';

/** rf-edge must keep at least this share of bare @fastify/http-proxy's requests/s. */
export const RPS_RATIO_FLOOR = 0.85;
/** rf-edge CPU per request may be at most this multiple of nginx's (issue 10; the goal is 2.9). */
export const NGINX_CPU_CEILING = 3.3;
export const NGINX_CPU_GOAL = 2.9;
/** bare @fastify/http-proxy CPU per request over rf-edge's must be at least this (rf-edge 1.3× cheaper). */
export const BARE_CPU_FLOOR = 1.3;
/** rf-edge may add at most this much to direct's p99 at the fixed rate. */
export const P99_ADDED_CEILING_MS = 2;
/** Below this share of the offered rate, a fixed-rate run did not really run at that rate. */
const ACHIEVED_RATE_MIN_SHARE = 0.95;
/** A generator busier than this in a max-throughput run may have capped the figures itself. */
const GENERATOR_BUSY_SHARE = 0.9;
/**
 * Direct should outrun the node proxies by this factor, or the generator or the upstream, not the proxy, set the
 * pace and the rf-edge ÷ bare ratio is squeezed towards 1. (nginx may come close to direct: it is that cheap.)
 */
const DIRECT_HEADROOM = 1.5;
const RATIOED_PROXIES = new Set(['bare-http-proxy', 'rf-edge']);

export interface BenchSettings {
  readonly rounds: number;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly rate: number;
  readonly rateConnections: number;
  readonly rateDurationMs: number;
  readonly paths: readonly string[];
  readonly users: number;
}

/** One target's figures over all its rounds. */
export interface TargetSummary {
  readonly target: string;
  readonly rounds: number;
  /** Medians over rounds. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  /** Total CPU over total requests of all rounds. */
  readonly proxyCpuUsPerRequest: number | null;
  readonly upstreamCpuUsPerRequest: number | null;
  /** The busiest round's. */
  readonly generatorCpuShare: number;
}

export interface FloorCheck {
  /** Median over rounds; null when it could not be measured (a target failed to start). */
  readonly value: number | null;
  readonly perRound: readonly number[];
  readonly limit: number;
  readonly pass: boolean | null;
}

export interface Verdict {
  /** rf-edge requests/s over bare @fastify/http-proxy's, max throughput. */
  readonly rpsRatio: FloorCheck;
  /** rf-edge CPU per request over bare @fastify/http-proxy's (all rounds pooled). */
  readonly cpuRatio: number | null;
  /** rf-edge CPU µs/req as a multiple of nginx's, per round then median: at most NGINX_CPU_CEILING. */
  readonly cpuVsNginx: FloorCheck;
  /** bare @fastify/http-proxy CPU µs/req over rf-edge's, per round then median: at least BARE_CPU_FLOOR. */
  readonly bareCpuOverEdge: FloorCheck;
  /** rf-edge p99 minus direct p99 at the fixed rate, in ms. */
  readonly p99AddedMs: FloorCheck;
  /**
   * No floor, for reading the others: the node floor's CPU/req as a multiple of nginx's (what node:http + undici
   * cost before any feature) and rf-edge's over the node floor's (what the features add), per round. Absent in
   * results of older runs.
   */
  readonly stack?: { readonly floorVsNginx: readonly number[]; readonly edgeVsFloor: readonly number[] };
  readonly warnings: readonly string[];
}

export interface BenchResults {
  readonly startedAt: string;
  readonly durationS: number;
  readonly machine: {
    readonly node: string;
    readonly cpus: number;
    readonly loadavgBefore: readonly number[];
    readonly loadavgAfter: readonly number[];
    /** Where the processes ran (cpu-pinning describePinning); absent in results of older runs. */
    readonly pinning?: string;
  };
  readonly settings: BenchSettings;
  readonly summary: { readonly max: readonly TargetSummary[]; readonly fixedRate: readonly TargetSummary[] };
  /** Every run, every round. */
  readonly max: readonly Measurement[];
  readonly fixedRate: readonly Measurement[];
  /** Targets that did not run, and why (nginx not installed, rf-edge did not start…). */
  readonly skipped: readonly { readonly target: string; readonly reason: string }[];
  readonly evidence: Readonly<Record<string, Record<string, unknown>>>;
  readonly verdict: Verdict;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

function totalPerRequest(runs: readonly Measurement[], pick: (m: Measurement) => number | null): number | null {
  let cpu = 0;
  let requests = 0;
  for (const m of runs) {
    const perRequest = pick(m);
    if (perRequest === null) return null;
    cpu += perRequest * m.load.requests;
    requests += m.load.requests;
  }
  return requests === 0 ? null : cpu / requests;
}

/** Per-target figures, in the order targets first appear. */
export function summarise(measurements: readonly Measurement[]): TargetSummary[] {
  const byTarget = new Map<string, Measurement[]>();
  for (const m of measurements) byTarget.set(m.target, [...(byTarget.get(m.target) ?? []), m]);
  return [...byTarget].map(([target, runs]) => {
    const rps = runs.map((m) => m.load.rps);
    return {
      target,
      rounds: runs.length,
      rps: median(rps),
      p50Ms: median(runs.map((m) => m.load.latency.p50Ms)),
      p99Ms: median(runs.map((m) => m.load.latency.p99Ms)),
      p999Ms: median(runs.map((m) => m.load.latency.p999Ms)),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      proxyCpuUsPerRequest: totalPerRequest(runs, (m) => m.proxyCpuUsPerRequest),
      upstreamCpuUsPerRequest: totalPerRequest(runs, (m) => m.upstreamCpuUsPerRequest),
      generatorCpuShare: Math.max(...runs.map((m) => m.load.generatorCpuShare)),
    };
  });
}

/** `figure(a, b)` for every round in which both targets ran, in round order. */
function paired(
  runs: readonly Measurement[],
  a: string,
  b: string,
  figure: (a: Measurement, b: Measurement) => number,
): number[] {
  const out: number[] = [];
  const rounds = [...new Set(runs.map((m) => m.round))].sort((x, y) => x - y);
  for (const round of rounds) {
    const first = runs.find((m) => m.round === round && m.target === a);
    const second = runs.find((m) => m.round === round && m.target === b);
    if (first && second) out.push(figure(first, second));
  }
  return out;
}

function floorCheck(perRound: number[], limit: number, passes: (value: number) => boolean): FloorCheck {
  const value = perRound.length === 0 ? null : median(perRound);
  return { value, perRound, limit, pass: value === null || Number.isNaN(value) ? null : passes(value) };
}

export function judge(max: readonly Measurement[], fixedRate: readonly Measurement[], offeredRate: number): Verdict {
  const warnings: string[] = [];
  const rpsRatios = paired(max, 'rf-edge', 'bare-http-proxy', (edge, bare) => edge.load.rps / bare.load.rps);
  const p99Added = paired(
    fixedRate,
    'rf-edge',
    'direct',
    (edge, direct) => edge.load.latency.p99Ms - direct.load.latency.p99Ms,
  );
  const summaries = summarise(max);
  const bareCpu = summaries.find((s) => s.target === 'bare-http-proxy')?.proxyCpuUsPerRequest ?? null;
  const edgeCpu = summaries.find((s) => s.target === 'rf-edge')?.proxyCpuUsPerRequest ?? null;
  const cpuRatio = bareCpu !== null && edgeCpu !== null && bareCpu > 0 ? edgeCpu / bareCpu : null;
  const cpuOf = (m: Measurement) => m.proxyCpuUsPerRequest;
  const cpuQuotient = (a: Measurement, b: Measurement): number => {
    const x = cpuOf(a);
    const y = cpuOf(b);
    return x === null || y === null || y <= 0 ? Number.NaN : x / y;
  };
  const vsNginx = paired(max, 'rf-edge', 'nginx', cpuQuotient).filter((v) => !Number.isNaN(v));
  const bareOverEdge = paired(max, 'bare-http-proxy', 'rf-edge', cpuQuotient).filter((v) => !Number.isNaN(v));
  const floorVsNginx = paired(max, 'node-floor', 'nginx', cpuQuotient).filter((v) => !Number.isNaN(v));
  const edgeVsFloor = paired(max, 'rf-edge', 'node-floor', cpuQuotient).filter((v) => !Number.isNaN(v));

  for (const m of [...max, ...fixedRate]) {
    const label = `${m.target} (${m.load.mode}, round ${m.round})`;
    if (m.load.errors > 0) {
      warnings.push(`${label}: ${m.load.errors} transport errors, first: ${m.load.firstError ?? 'unknown'}`);
    }
    if (m.load.non2xx > 0) warnings.push(`${label}: ${m.load.non2xx} answers outside 2xx`);
    if (m.load.unfinished > 0) {
      warnings.push(
        `${label}: ${m.load.unfinished} requests still unanswered when the generator stopped waiting; ` +
          'its latency figures are lower bounds',
      );
    }
    if (m.load.requests === 0) warnings.push(`${label}: no request completed`);
  }
  for (const s of summaries) {
    if (s.generatorCpuShare > GENERATOR_BUSY_SHARE) {
      warnings.push(
        `${s.target}: the load generator used ${pct(s.generatorCpuShare)} of a core; its requests/s may be ` +
          'the generator’s limit, not the target’s',
      );
    }
  }
  const direct = summaries.find((s) => s.target === 'direct');
  const fastestProxy = Math.max(0, ...summaries.filter((s) => RATIOED_PROXIES.has(s.target)).map((s) => s.rps));
  if (direct && fastestProxy > 0 && direct.rps < fastestProxy * DIRECT_HEADROOM) {
    warnings.push(
      `direct (${fmtInt(direct.rps)} req/s) is not clearly faster than the node proxies ` +
        `(${fmtInt(fastestProxy)} req/s): the generator or the upstream may be the bottleneck`,
    );
  }
  for (const m of fixedRate) {
    if (m.load.rps < offeredRate * ACHIEVED_RATE_MIN_SHARE) {
      warnings.push(
        `${m.target} (round ${m.round}): achieved ${fmtInt(m.load.rps)} of ${fmtInt(offeredRate)} req/s offered; ` +
          'its latency is not a measurement at that rate',
      );
    }
  }
  return {
    rpsRatio: floorCheck(rpsRatios, RPS_RATIO_FLOOR, (v) => v >= RPS_RATIO_FLOOR),
    cpuRatio,
    cpuVsNginx: floorCheck(vsNginx, NGINX_CPU_CEILING, (v) => v <= NGINX_CPU_CEILING),
    bareCpuOverEdge: floorCheck(bareOverEdge, BARE_CPU_FLOOR, (v) => v >= BARE_CPU_FLOOR),
    p99AddedMs: floorCheck(p99Added, P99_ADDED_CEILING_MS, (v) => v <= P99_ADDED_CEILING_MS),
    stack: { floorVsNginx, edgeVsFloor },
    warnings,
  };
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtMs(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '—';
}

function fmtUs(n: number | null): string {
  return n === null ? '—' : n.toFixed(1);
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function passText(check: FloorCheck): string {
  if (check.pass === null) return 'NOT MEASURED';
  return check.pass ? 'PASS' : 'FAIL';
}

function rounds(check: FloorCheck, format: (n: number) => string): string {
  return check.perRound.length > 1 ? check.perRound.map(format).join(', ') : '';
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Where rf-edge's CPU goes: the stack it is built on (the node floor) against nginx, and its features on top. */
function stackLines(verdict: Verdict, max: readonly TargetSummary[]): string[] {
  const floorCpu = max.find((m) => m.target === 'node-floor')?.proxyCpuUsPerRequest ?? null;
  const stack = verdict.stack;
  if (floorCpu === null || stack === undefined) return [];
  const perRound = (values: readonly number[]) =>
    values.length > 1 ? ` (rounds ${values.map((n) => n.toFixed(2)).join(', ')})` : '';
  const lines = [`Stack floor (node:http + undici dispatch, no features): ${fmtUs(floorCpu)} µs/req`];
  if (stack.floorVsNginx.length > 0) {
    lines.push(
      `- node floor CPU/req ÷ nginx: ${median(stack.floorVsNginx).toFixed(2)}×${perRound(stack.floorVsNginx)}`,
    );
  }
  if (stack.edgeVsFloor.length > 0) {
    lines.push(
      `- rf-edge CPU/req ÷ node floor (what routing, flags, stickiness, log line and metrics add): ` +
        `${median(stack.edgeVsFloor).toFixed(2)}×${perRound(stack.edgeVsFloor)}`,
    );
  }
  return lines;
}

export function formatReport(results: BenchResults): string {
  const { settings, verdict, summary } = results;
  const out: string[] = [];
  out.push(
    `raptorflow-edge bench · node ${results.machine.node} · ${results.machine.cpus} CPUs · load average ` +
      `${results.machine.loadavgBefore.map((n) => n.toFixed(2)).join(' ')} before, ` +
      `${results.machine.loadavgAfter.map((n) => n.toFixed(2)).join(' ')} after`,
  );
  if (results.machine.pinning !== undefined) out.push(results.machine.pinning);
  out.push(
    `paths ${settings.paths.join(', ')} in turn, x-user-id from ${settings.users} users; ` +
      `${settings.rounds} rounds, each loading every target in turn; figures are medians over rounds`,
  );
  out.push('');
  out.push(
    `Max throughput (closed loop, ${settings.connections} keep-alive connections, ` +
      `${settings.warmupMs / 1000} s warm-up + ${settings.durationMs / 1000} s measured per run)`,
  );
  out.push(
    table(
      [
        'target',
        'req/s',
        'req/s range',
        'p50 ms',
        'p99 ms',
        'proxy CPU µs/req',
        'upstream CPU µs/req',
        'generator CPU',
      ],
      summary.max.map((s) => [
        s.target,
        fmtInt(s.rps),
        `${fmtInt(s.rpsMin)}–${fmtInt(s.rpsMax)}`,
        fmtMs(s.p50Ms),
        fmtMs(s.p99Ms),
        fmtUs(s.proxyCpuUsPerRequest),
        fmtUs(s.upstreamCpuUsPerRequest),
        pct(s.generatorCpuShare),
      ]),
    ),
  );
  out.push('');
  out.push(
    `Fixed rate (open loop, ${fmtInt(settings.rate)} req/s offered over ${settings.rateConnections} connections, ` +
      `${settings.warmupMs / 1000} s warm-up + ${settings.rateDurationMs / 1000} s measured per run)`,
  );
  out.push(
    table(
      ['target', 'achieved req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'proxy CPU µs/req'],
      summary.fixedRate.map((s) => [
        s.target,
        fmtInt(s.rps),
        fmtMs(s.p50Ms),
        fmtMs(s.p99Ms),
        fmtMs(s.p999Ms),
        fmtUs(s.proxyCpuUsPerRequest),
      ]),
    ),
  );
  for (const skipped of results.skipped) out.push(`${skipped.target}: ${skipped.reason}`);
  out.push('');
  out.push('Ratios (median of the rounds; each round’s value after it)');
  const ratio = verdict.rpsRatio.value;
  const added = verdict.p99AddedMs.value;
  out.push(
    table(
      ['', 'value', 'floor', 'result', 'rounds'],
      [
        [
          'rf-edge req/s ÷ bare @fastify/http-proxy req/s',
          ratio === null ? '—' : ratio.toFixed(2),
          `≥ ${RPS_RATIO_FLOOR}`,
          passText(verdict.rpsRatio),
          rounds(verdict.rpsRatio, (n) => n.toFixed(2)),
        ],
        [
          'rf-edge CPU/req ÷ nginx CPU/req',
          verdict.cpuVsNginx.value === null ? '—' : `${verdict.cpuVsNginx.value.toFixed(2)}×`,
          `≤ ${NGINX_CPU_CEILING}× (goal ${NGINX_CPU_GOAL}×)`,
          passText(verdict.cpuVsNginx),
          rounds(verdict.cpuVsNginx, (n) => n.toFixed(2)),
        ],
        [
          'bare @fastify/http-proxy CPU/req ÷ rf-edge CPU/req',
          verdict.bareCpuOverEdge.value === null ? '—' : `${verdict.bareCpuOverEdge.value.toFixed(2)}×`,
          `≥ ${BARE_CPU_FLOOR}×`,
          passText(verdict.bareCpuOverEdge),
          rounds(verdict.bareCpuOverEdge, (n) => n.toFixed(2)),
        ],
        [
          `p99 added over direct at ${fmtInt(settings.rate)} req/s`,
          added === null ? '—' : `${added.toFixed(2)} ms`,
          `≤ ${P99_ADDED_CEILING_MS} ms`,
          passText(verdict.p99AddedMs),
          rounds(verdict.p99AddedMs, (n) => n.toFixed(2)),
        ],
      ],
    ),
  );
  const floorLines = stackLines(verdict, summary.max);
  if (floorLines.length > 0) out.push('', ...floorLines);
  const plain = summary.max.find((m) => m.target === 'rf-edge')?.proxyCpuUsPerRequest ?? null;
  const adapted = summary.max.find((m) => m.target === 'rf-edge-adapted')?.proxyCpuUsPerRequest ?? null;
  if (plain !== null && adapted !== null) {
    out.push('');
    out.push(
      `Adapted route (~1 KB JSON answer reshaped by a legacy-adapter, path and query translated): ` +
        `${fmtUs(adapted)} µs/req against ${fmtUs(plain)} µs/req on the plain route (× ${(adapted / plain).toFixed(2)})`,
    );
  }
  if (verdict.warnings.length > 0) {
    out.push('');
    out.push('Warnings');
    for (const warning of verdict.warnings) out.push(`- ${warning}`);
  }
  return out.join('\n');
}
