import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Measurement } from '../../bench/measure.ts';
import { type BenchResults, formatReport, judge, median, summarise } from '../../bench/report.ts';

interface Figures {
  rps: number;
  p50?: number;
  p99: number;
  cpu?: number | null;
  rate?: number;
  errors?: number;
  non2xx?: number;
  unfinished?: number;
  generator?: number;
  round?: number;
}

function measurement(target: string, figures: Figures): Measurement {
  const p50 = figures.p50 ?? figures.p99 / 2;
  const requests = Math.round(figures.rps * 3);
  return {
    target,
    round: figures.round ?? 1,
    load: {
      mode: figures.rate === undefined ? 'max' : 'fixed-rate',
      targetRate: figures.rate ?? null,
      requests,
      non2xx: figures.non2xx ?? 0,
      errors: figures.errors ?? 0,
      firstError: figures.errors ? 'ECONNRESET: other side closed' : null,
      unfinished: figures.unfinished ?? 0,
      durationMs: 3000,
      rps: figures.rps,
      latency: {
        count: requests,
        meanMs: p50,
        p50Ms: p50,
        p90Ms: figures.p99,
        p99Ms: figures.p99,
        p999Ms: figures.p99 * 2,
        maxMs: figures.p99 * 3,
      },
      generatorCpuShare: figures.generator ?? 0.3,
    },
    proxyCpuUsPerRequest: figures.cpu === undefined ? 100 : figures.cpu,
    upstreamCpuUsPerRequest: 20,
  };
}

const healthyMax = [
  measurement('direct', { rps: 20_000, p99: 5, cpu: null }),
  measurement('bare-http-proxy', { rps: 8000, p99: 12, cpu: 110 }),
  measurement('nginx', { rps: 19_000, p99: 6, cpu: 20 }),
  measurement('rf-edge', { rps: 7200, p99: 14, cpu: 132 }),
];
const healthyFixed = [
  measurement('direct', { rps: 4999, p99: 0.9, cpu: null, rate: 5000 }),
  measurement('rf-edge', { rps: 4998, p99: 2.4, cpu: 140, rate: 5000 }),
];

/** A run's results around `max` and `fixedRate` with its verdict, for the report text. */
function resultsOf(
  max: readonly Measurement[],
  verdict: ReturnType<typeof judge>,
  fixedRate: readonly Measurement[] = [],
  rounds = 3,
): BenchResults {
  return {
    startedAt: '2025-01-01T00:00:00.000Z',
    durationS: 60,
    machine: { node: 'v20.0.0', cpus: 2, loadavgBefore: [0.5, 0.4, 0.3], loadavgAfter: [1.5, 0.9, 0.5] },
    settings: {
      rounds,
      connections: 50,
      warmupMs: 1000,
      durationMs: 3000,
      rate: 5000,
      rateConnections: 64,
      rateDurationMs: 3000,
      paths: ['/a', '/b'],
      users: 1000,
    },
    summary: { max: summarise(max), fixedRate: summarise(fixedRate) },
    max,
    fixedRate,
    skipped: [],
    evidence: {},
    verdict,
  };
}

describe('bench verdict', () => {
  test('ratios are rf-edge over bare @fastify/http-proxy, and p99 added is rf-edge minus direct at the fixed rate', () => {
    const verdict = judge(healthyMax, healthyFixed, 5000);
    assert.equal(verdict.rpsRatio.value, 0.9);
    assert.equal(verdict.rpsRatio.pass, true);
    assert.equal(verdict.cpuRatio, 1.2);
    assert.ok(Math.abs((verdict.p99AddedMs.value ?? 0) - 1.5) < 1e-9);
    assert.equal(verdict.p99AddedMs.pass, true);
    assert.deepEqual(verdict.warnings, []);
  });

  test('CPU per request is judged as a multiple of nginx and of bare @fastify/http-proxy, round by round', () => {
    const max = [1, 2, 3].flatMap((round) => [
      measurement('nginx', { rps: 19_000, p99: 6, cpu: 16, round }),
      measurement('bare-http-proxy', { rps: 8000, p99: 12, cpu: 72, round }),
      measurement('rf-edge', { rps: 9000, p99: 10, cpu: [44, 48, 52][round - 1]!, round }),
    ]);
    const verdict = judge(max, [], 5000);
    assert.deepEqual(verdict.cpuVsNginx.perRound, [2.75, 3, 3.25]);
    assert.equal(verdict.cpuVsNginx.value, 3);
    assert.equal(verdict.cpuVsNginx.pass, true, '≤ 3.3× nginx');
    assert.equal(verdict.bareCpuOverEdge.value, 1.5);
    assert.equal(verdict.bareCpuOverEdge.pass, true, '≥ 1.3× cheaper than bare');
    const dearer = judge(
      max.map((m) => (m.target === 'rf-edge' ? { ...m, proxyCpuUsPerRequest: 60 } : m)),
      [],
      5000,
    );
    assert.equal(dearer.cpuVsNginx.pass, false, '3.75× nginx');
    assert.equal(dearer.bareCpuOverEdge.pass, false, '1.2× cheaper only');
  });

  test('with the node floor in the run, the report splits rf-edge into the stack (vs nginx) and its features', () => {
    const max = [1, 2, 3].flatMap((round) => [
      measurement('nginx', { rps: 19_000, p99: 6, cpu: 20, round }),
      measurement('node-floor', { rps: 14_000, p99: 8, cpu: [40, 50, 44][round - 1]!, round }),
      measurement('rf-edge', { rps: 11_000, p99: 10, cpu: [48, 55, 66][round - 1]!, round }),
    ]);
    const verdict = judge(max, [], 5000);
    assert.deepEqual(verdict.stack?.floorVsNginx, [2, 2.5, 2.2]);
    assert.deepEqual(
      verdict.stack?.edgeVsFloor.map((v) => Number(v.toFixed(2))),
      [1.2, 1.1, 1.5],
    );
    const text = formatReport(resultsOf(max, verdict));
    assert.match(text, /node floor CPU\/req ÷ nginx: 2\.20× \(rounds 2\.00, 2\.50, 2\.20\)/);
    assert.match(text, /rf-edge CPU\/req ÷ node floor .*: 1\.20× \(rounds 1\.20, 1\.10, 1\.50\)/);
    const without = judge(
      max.filter((m) => m.target !== 'node-floor'),
      [],
      5000,
    );
    assert.doesNotMatch(
      formatReport(
        resultsOf(
          max.filter((m) => m.target !== 'node-floor'),
          without,
        ),
      ),
      /Stack floor/,
    );
  });

  test('without nginx in the run the nginx multiple is not measured', () => {
    const verdict = judge(
      healthyMax.filter((m) => m.target !== 'nginx'),
      healthyFixed,
      5000,
    );
    assert.equal(verdict.cpuVsNginx.value, null);
    assert.equal(verdict.cpuVsNginx.pass, null);
  });

  test('below 85% of bare throughput or more than 2 ms of added p99 fails the floor', () => {
    const slowMax = healthyMax.map((m) =>
      m.target === 'rf-edge' ? measurement('rf-edge', { rps: 6000, p99: 20 }) : m,
    );
    const slowFixed = [healthyFixed[0] as Measurement, measurement('rf-edge', { rps: 5000, p99: 3.5, rate: 5000 })];
    const verdict = judge(slowMax, slowFixed, 5000);
    assert.equal(verdict.rpsRatio.value, 0.75);
    assert.equal(verdict.rpsRatio.pass, false);
    assert.equal(verdict.p99AddedMs.pass, false);
  });

  test('exactly on the floors passes', () => {
    const max = [measurement('bare-http-proxy', { rps: 1000, p99: 1 }), measurement('rf-edge', { rps: 850, p99: 1 })];
    const fixed = [
      measurement('direct', { rps: 5000, p99: 1, rate: 5000 }),
      measurement('rf-edge', { rps: 5000, p99: 3, rate: 5000 }),
    ];
    const verdict = judge(max, fixed, 5000);
    assert.equal(verdict.rpsRatio.pass, true);
    assert.equal(verdict.p99AddedMs.pass, true);
  });

  test('ratios pair runs of the same round, then take the median, so one disturbed round does not decide', () => {
    const max = [
      measurement('bare-http-proxy', { rps: 8000, p99: 1, round: 1 }),
      measurement('rf-edge', { rps: 7600, p99: 1, round: 1 }),
      // Round 2: the machine got busy during bare's run only.
      measurement('bare-http-proxy', { rps: 4000, p99: 1, round: 2 }),
      measurement('rf-edge', { rps: 7000, p99: 1, round: 2 }),
      measurement('bare-http-proxy', { rps: 6000, p99: 1, round: 3 }),
      measurement('rf-edge', { rps: 5400, p99: 1, round: 3 }),
    ];
    const fixed = [1, 2, 3].flatMap((round) => [
      measurement('direct', { rps: 5000, p99: 1, rate: 5000, round }),
      measurement('rf-edge', { rps: 5000, p99: round === 2 ? 40 : 1.5 + round / 10, rate: 5000, round }),
    ]);
    const verdict = judge(max, fixed, 5000);
    assert.deepEqual(verdict.rpsRatio.perRound, [0.95, 1.75, 0.9]);
    assert.equal(verdict.rpsRatio.value, 0.95);
    assert.deepEqual(
      verdict.p99AddedMs.perRound.map((n) => Math.round(n * 100) / 100),
      [0.6, 39, 0.8],
    );
    assert.ok(Math.abs((verdict.p99AddedMs.value ?? 0) - 0.8) < 1e-9);
    assert.equal(verdict.p99AddedMs.pass, true);
  });

  test('a target that did not run leaves its checks unmeasured, not passed', () => {
    const verdict = judge(
      healthyMax.filter((m) => m.target !== 'rf-edge'),
      healthyFixed.filter((m) => m.target !== 'rf-edge'),
      5000,
    );
    assert.equal(verdict.rpsRatio.value, null);
    assert.equal(verdict.rpsRatio.pass, null);
    assert.equal(verdict.cpuRatio, null);
    assert.equal(verdict.p99AddedMs.pass, null);
  });

  test('warns about failed requests, a missed fixed rate, a saturated generator and a direct run without headroom', () => {
    const max = [
      measurement('direct', { rps: 9000, p99: 5, cpu: null, generator: 0.97 }),
      measurement('bare-http-proxy', { rps: 8000, p99: 12 }),
      measurement('rf-edge', { rps: 7000, p99: 14, errors: 3, non2xx: 5 }),
    ];
    const fixed = [measurement('direct', { rps: 4100, p99: 1, rate: 5000, unfinished: 12 })];
    const warnings = judge(max, fixed, 5000).warnings.join('\n');
    assert.match(warnings, /rf-edge \(max, round 1\): 3 transport errors, first: ECONNRESET/);
    assert.match(warnings, /rf-edge \(max, round 1\): 5 answers outside 2xx/);
    assert.match(warnings, /direct: the load generator used 97% of a core/);
    assert.match(warnings, /direct \(9,000 req\/s\) is not clearly faster than the node proxies \(8,000 req\/s\)/);
    assert.match(warnings, /direct \(round 1\): achieved 4,100 of 5,000 req\/s offered/);
    assert.match(warnings, /direct \(fixed-rate, round 1\): 12 requests still unanswered .* lower bounds/);
  });

  test('nginx running as fast as direct is not mistaken for a generator bottleneck', () => {
    const max = healthyMax.map((m) => (m.target === 'nginx' ? measurement('nginx', { rps: 20_500, p99: 5 }) : m));
    assert.deepEqual(judge(max, healthyFixed, 5000).warnings, []);
  });
});

describe('bench per-target figures', () => {
  test('median of an odd and an even count', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  test('medians over rounds, the requests/s range, and CPU per request weighted by requests served', () => {
    const [bare] = summarise([
      measurement('bare-http-proxy', { rps: 1000, p99: 10, cpu: 100, round: 1 }),
      measurement('bare-http-proxy', { rps: 3000, p99: 30, cpu: 200, round: 2, generator: 0.6 }),
      measurement('bare-http-proxy', { rps: 2000, p99: 20, cpu: 300, round: 3 }),
    ]);
    assert.ok(bare);
    assert.equal(bare.rounds, 3);
    assert.equal(bare.rps, 2000);
    assert.equal(bare.rpsMin, 1000);
    assert.equal(bare.rpsMax, 3000);
    assert.equal(bare.p99Ms, 20);
    // (100·3000 + 200·9000 + 300·6000) / 18000 requests
    assert.ok(Math.abs((bare.proxyCpuUsPerRequest ?? 0) - 3_900_000 / 18_000) < 1e-9);
    assert.equal(bare.generatorCpuShare, 0.6);
  });

  test('direct has no proxy CPU', () => {
    assert.equal(summarise([measurement('direct', { rps: 1000, p99: 1, cpu: null })])[0]?.proxyCpuUsPerRequest, null);
  });
});

describe('bench report text', () => {
  const results = resultsOf(healthyMax, judge(healthyMax, healthyFixed, 5000), healthyFixed, 1);

  test('one row per target with req/s, p50, p99 and CPU per request; direct has no proxy CPU', () => {
    const text = formatReport(results);
    const row = (target: string) => text.split('\n').find((line) => line.startsWith(`${target} `)) ?? '';
    assert.match(
      row('bare-http-proxy'),
      /^bare-http-proxy\s+8,000\s+8,000–8,000\s+6\.00\s+12\.00\s+110\.0\s+20\.0\s+30%$/,
    );
    assert.match(row('rf-edge'), /^rf-edge\s+7,200\s+7,200–7,200\s+7\.00\s+14\.00\s+132\.0\s+20\.0\s+30%$/);
    assert.match(row('direct'), /^direct\s+20,000\s+20,000–20,000\s+2\.50\s+5\.00\s+—\s+20\.0\s+30%$/);
    assert.match(text, /Fixed rate \(open loop, 5,000 req\/s offered over 64 connections, 1 s warm-up \+ 3 s measured/);
  });

  test('ratios are printed with their floors and verdicts', () => {
    const text = formatReport(results);
    assert.match(text, /rf-edge req\/s ÷ bare @fastify\/http-proxy req\/s\s+0\.90\s+≥ 0\.85\s+PASS/);
    // healthyMax: rf-edge 132 µs/req, nginx 20, bare 110.
    assert.match(text, /rf-edge CPU\/req ÷ nginx CPU\/req\s+6\.60×\s+≤ 3\.3× \(goal 2\.9×\)\s+FAIL/);
    assert.match(text, /bare @fastify\/http-proxy CPU\/req ÷ rf-edge CPU\/req\s+0\.83×\s+≥ 1\.3×\s+FAIL/);
    assert.match(text, /p99 added over direct at 5,000 req\/s\s+1\.50 ms\s+≤ 2 ms\s+PASS/);
    assert.doesNotMatch(text, /Warnings/);
  });

  test('with several rounds, each round’s ratio follows the median', () => {
    const max = [1, 2].flatMap((round) => [
      measurement('bare-http-proxy', { rps: 1000, p99: 1, round }),
      measurement('rf-edge', { rps: round === 1 ? 900 : 950, p99: 1, round }),
    ]);
    const text = formatReport({
      ...results,
      settings: { ...results.settings, rounds: 2 },
      verdict: judge(max, [], 5000),
    });
    assert.match(text, /rf-edge req\/s ÷ bare @fastify\/http-proxy req\/s\s+0\.93\s+≥ 0\.85\s+PASS\s+0\.90, 0\.95$/m);
  });

  test('skipped targets say why, and unmeasured floors say so', () => {
    const max = healthyMax.filter((m) => m.target !== 'rf-edge' && m.target !== 'nginx');
    const text = formatReport({
      ...results,
      summary: { max: summarise(max), fixedRate: [] },
      max,
      fixedRate: [],
      skipped: [
        { target: 'nginx', reason: 'not installed (apt-get install nginx)' },
        { target: 'rf-edge', reason: 'did not start: exited (code 1)' },
      ],
      verdict: judge(max, [], 5000),
    });
    assert.match(text, /^nginx: not installed \(apt-get install nginx\)$/m);
    assert.match(text, /^rf-edge: did not start: exited \(code 1\)$/m);
    assert.match(text, /rf-edge req\/s ÷ bare @fastify\/http-proxy req\/s\s+—\s+≥ 0\.85\s+NOT MEASURED/);
  });
});
