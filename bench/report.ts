// Turns measurements into the verdict (ratios against the floors of issue 2) and the table the bench prints.
// Pure: the same results always print the same text, which is what the tests check.
import type { Measurement } from './measure.ts';

/** rf-edge must keep at least this share of bare @fastify/http-proxy's requests/s. */
export const RPS_RATIO_FLOOR = 0.85;
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
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly rate: number;
  readonly rateConnections: number;
  readonly paths: readonly string[];
  readonly users: number;
}

export interface FloorCheck {
  readonly value: number | null;
  readonly limit: number;
  /** Null when the figure could not be measured (a target failed to start). */
  readonly pass: boolean | null;
}

export interface Verdict {
  /** rf-edge requests/s over bare @fastify/http-proxy's, max throughput. */
  readonly rpsRatio: FloorCheck;
  /** rf-edge CPU per request over bare @fastify/http-proxy's. No floor: it says where the gap comes from. */
  readonly cpuRatio: number | null;
  /** rf-edge p99 minus direct p99 at the fixed rate, in ms. */
  readonly p99AddedMs: FloorCheck;
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
  };
  readonly settings: BenchSettings;
  readonly max: readonly Measurement[];
  readonly fixedRate: readonly Measurement[];
  /** Targets that did not run, and why (nginx not installed, rf-edge did not start…). */
  readonly skipped: readonly { readonly target: string; readonly reason: string }[];
  readonly evidence: Readonly<Record<string, Record<string, unknown>>>;
  readonly verdict: Verdict;
}

function find(measurements: readonly Measurement[], target: string): Measurement | undefined {
  return measurements.find((m) => m.target === target);
}

export function judge(max: readonly Measurement[], fixedRate: readonly Measurement[], offeredRate: number): Verdict {
  const warnings: string[] = [];
  const bare = find(max, 'bare-http-proxy');
  const edge = find(max, 'rf-edge');
  const rpsRatio = bare && edge && bare.load.rps > 0 ? edge.load.rps / bare.load.rps : null;
  const bareCpu = bare?.proxyCpuUsPerRequest ?? null;
  const edgeCpu = edge?.proxyCpuUsPerRequest ?? null;
  const cpuRatio = bareCpu !== null && edgeCpu !== null && bareCpu > 0 ? edgeCpu / bareCpu : null;
  const directFixed = find(fixedRate, 'direct');
  const edgeFixed = find(fixedRate, 'rf-edge');
  const p99AddedMs = directFixed && edgeFixed ? edgeFixed.load.latency.p99Ms - directFixed.load.latency.p99Ms : null;

  for (const m of [...max, ...fixedRate]) {
    const label = `${m.target} (${m.load.mode})`;
    if (m.load.errors > 0) {
      warnings.push(`${label}: ${m.load.errors} transport errors, first: ${m.load.firstError ?? 'unknown'}`);
    }
    if (m.load.non2xx > 0) warnings.push(`${label}: ${m.load.non2xx} answers outside 2xx`);
    if (m.load.requests === 0) warnings.push(`${label}: no request completed`);
  }
  for (const m of max) {
    if (m.load.generatorCpuShare > GENERATOR_BUSY_SHARE) {
      warnings.push(
        `${m.target}: the load generator used ${pct(m.load.generatorCpuShare)} of a core; its requests/s may be ` +
          'the generator’s limit, not the target’s',
      );
    }
  }
  const direct = find(max, 'direct');
  const fastestProxy = Math.max(0, ...max.filter((m) => RATIOED_PROXIES.has(m.target)).map((m) => m.load.rps));
  if (direct && fastestProxy > 0 && direct.load.rps < fastestProxy * DIRECT_HEADROOM) {
    warnings.push(
      `direct (${fmtInt(direct.load.rps)} req/s) is not clearly faster than the node proxies ` +
        `(${fmtInt(fastestProxy)} req/s): the generator or the upstream may be the bottleneck`,
    );
  }
  for (const m of fixedRate) {
    if (m.load.rps < offeredRate * ACHIEVED_RATE_MIN_SHARE) {
      warnings.push(
        `${m.target}: achieved ${fmtInt(m.load.rps)} of ${fmtInt(offeredRate)} req/s offered; ` +
          'its latency is not a measurement at that rate',
      );
    }
  }
  return {
    rpsRatio: { value: rpsRatio, limit: RPS_RATIO_FLOOR, pass: rpsRatio === null ? null : rpsRatio >= RPS_RATIO_FLOOR },
    cpuRatio,
    p99AddedMs: {
      value: p99AddedMs,
      limit: P99_ADDED_CEILING_MS,
      pass: p99AddedMs === null ? null : p99AddedMs <= P99_ADDED_CEILING_MS,
    },
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

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatReport(results: BenchResults): string {
  const { settings, verdict } = results;
  const out: string[] = [];
  out.push(
    `raptorflow-edge bench · node ${results.machine.node} · ${results.machine.cpus} CPUs · load average ` +
      `${results.machine.loadavgBefore.map((n) => n.toFixed(2)).join(' ')} before, ` +
      `${results.machine.loadavgAfter.map((n) => n.toFixed(2)).join(' ')} after`,
  );
  out.push(
    `paths ${settings.paths.join(', ')} in turn, x-user-id from ${settings.users} users, ` +
      `${settings.warmupMs / 1000} s warm-up + ${settings.durationMs / 1000} s measured per run`,
  );
  out.push('');
  out.push(`Max throughput (closed loop, ${settings.connections} keep-alive connections)`);
  out.push(
    table(
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU µs/req', 'upstream CPU µs/req', 'generator CPU'],
      results.max.map((m) => [
        m.target,
        fmtInt(m.load.rps),
        fmtMs(m.load.latency.p50Ms),
        fmtMs(m.load.latency.p99Ms),
        fmtUs(m.proxyCpuUsPerRequest),
        fmtUs(m.upstreamCpuUsPerRequest),
        pct(m.load.generatorCpuShare),
      ]),
    ),
  );
  out.push('');
  out.push(
    `Fixed rate (open loop, ${fmtInt(settings.rate)} req/s offered over ${settings.rateConnections} connections)`,
  );
  out.push(
    table(
      ['target', 'achieved req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'proxy CPU µs/req'],
      results.fixedRate.map((m) => [
        m.target,
        fmtInt(m.load.rps),
        fmtMs(m.load.latency.p50Ms),
        fmtMs(m.load.latency.p99Ms),
        fmtMs(m.load.latency.p999Ms),
        fmtUs(m.proxyCpuUsPerRequest),
      ]),
    ),
  );
  for (const skipped of results.skipped) out.push(`${skipped.target}: ${skipped.reason}`);
  out.push('');
  out.push('Ratios');
  const ratio = verdict.rpsRatio.value;
  const added = verdict.p99AddedMs.value;
  out.push(
    table(
      ['', 'value', 'floor', 'result'],
      [
        [
          'rf-edge req/s ÷ bare @fastify/http-proxy req/s',
          ratio === null ? '—' : ratio.toFixed(2),
          `≥ ${RPS_RATIO_FLOOR}`,
          passText(verdict.rpsRatio),
        ],
        [
          'rf-edge CPU/req ÷ bare @fastify/http-proxy CPU/req',
          verdict.cpuRatio === null ? '—' : verdict.cpuRatio.toFixed(2),
          '',
          '',
        ],
        [
          `p99 added over direct at ${fmtInt(settings.rate)} req/s`,
          added === null ? '—' : `${added.toFixed(2)} ms`,
          `≤ ${P99_ADDED_CEILING_MS} ms`,
          passText(verdict.p99AddedMs),
        ],
      ],
    ),
  );
  if (verdict.warnings.length > 0) {
    out.push('');
    out.push('Warnings');
    for (const warning of verdict.warnings) out.push(`- ${warning}`);
  }
  return out.join('\n');
}
