// rf-edge as users run it: `node bin/rf-edge start` in its own process, configured only through its public
// environment variables, with per-request logging (LOG_LEVEL=info, written to a file) and metrics on, since
// the figure has to include what they cost.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, launch, stopChild, waitForHttp } from '../child-processes.ts';
import type { Target } from './target.ts';

/** Two paths, both under the bench's canary route: every request is decided (flag, sticky bucket, weight). */
export const RF_EDGE_BENCH_PATHS = {
  service: '/bench/agents/item',
  legacy: '/bench/agents/other',
} as const;

export const RF_EDGE_ADMIN_TOKEN = 'bench-admin-token';

/** The adapted route's path: translated to the service's `/bench/v2/…` and its ~1 KB answer reshaped back. */
export const RF_EDGE_ADAPTED_PATH = '/bench/adapted/item';

/** The bench's adapter: path and query on the way in, a page of six agents reshaped on the way out. */
export const BENCH_ADAPTER_YAML = `version: 1
operations:
  - name: list
    match: { methods: [GET, HEAD], path: /bench/adapted/:id }
    request:
      path: "/bench/v2/{id}"
      query: [{ rename: { status: state } }, { default: { pageSize: 500 } }]
    response:
      body:
        - rename: { data: items, totalCount: total }
        - drop: [nextCursor]
        - rename:
            items[].displayName: name
            items[].state: status
        - map: { path: "items[].status", values: { ACTIVE: active, PAUSED: paused, ARCHIVED: archived } }
        - move:
            items[].timestamps.created: items[].createdAt
            items[].timestamps.updated: items[].updatedAt
        - drop: ["items[].timestamps"]
        - convert:
            items[].createdAt: epoch-ms-to-iso
            items[].updatedAt: epoch-ms-to-iso
`;

/**
 * The acceptance workload: a canary route on a real flag from flags/ (a flexibleRollout, compiled), sticky by
 * `x-user-id`, at a 50 % step, so every request walks the whole decision path (route match, flag verdict, sticky
 * bucket, rollout state, target choice) and about half go to each upstream name. Both names point at the one bench
 * upstream, so every target answers alike.
 */
export function benchRoutesYaml(upstreamOrigin: string, mode: 'canary' | 'shadow' = 'canary'): string {
  return `# Written by the raptorflow-edge bench for one run.
version: 1

upstreams:
  monolith: { url: ${upstreamOrigin} }
  service:  { url: ${upstreamOrigin} }

legacy: monolith

stickiness: [header:x-user-id, ip]

rollout:
  steps: [50]
  stepInterval: 5m
  minRequests: 200
  window: 60s
  evaluateEvery: 1s
  maxErrorRate: 0.02
  maxErrorRateIncrease: 0.01
  maxP99Ms: 800
  maxP99Ratio: 1.5

routes:
  - id: bench-canary
    path: /bench/agents/*
    methods: [GET, HEAD]
    service: service
    flag: raptorflow.agents-read
    mode: ${mode}

  - id: bench-adapted
    path: /bench/adapted/*
    methods: [GET, HEAD]
    service: service
    flag: raptorflow.agents-read
    mode: service
    adapter: bench
`;
}

/** Environment variables rf-edge reads that would connect it to shared infrastructure; the bench runs it alone. */
const SHARED_INFRA_ENV = ['REDIS_URL', 'DATABASE_URL', 'UNLEASH_URL', 'UNLEASH_API_TOKEN', 'UNLEASH_ADMIN_TOKEN'];

/** Sum of every sample of a counter in Prometheus text format. */
export function sumPrometheusCounter(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** The lines most likely to say why rf-edge did not come up: the first error on stderr, else the last log lines. */
export function whyItStopped(errFile: string, logFile: string): string {
  const read = (file: string): string[] => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const stderr = read(errFile);
  const firstError = stderr.find((line) => /error/i.test(line));
  if (firstError) return `stderr: ${firstError.trim()} (full: ${errFile})`;
  const tail = [...stderr, ...read(logFile)].slice(-3).join(' | ');
  return tail ? `last output: ${tail} (logs: ${errFile}, ${logFile})` : `no output (logs: ${errFile}, ${logFile})`;
}

export type RfEdgeTargetName = 'rf-edge' | 'rf-edge-adapted' | 'rf-edge-shadow';

const DESCRIPTIONS: Record<RfEdgeTargetName, string> = {
  'rf-edge': 'node bin/rf-edge start, canary route with flag and stickiness, LOG_LEVEL=info to a file, metrics on',
  'rf-edge-adapted': 'the same, on a route whose ~1 KB JSON answer a legacy-adapter reshapes',
  'rf-edge-shadow':
    'as rf-edge, but the route in mode: shadow (served by the monolith, every request copied and diffed)',
};

export interface RfEdgeOptions {
  /**
   * `rf-edge` (the plain canary route), `rf-edge-adapted` (the same table, loaded on the adapted route) or
   * `rf-edge-shadow` (the canary route in `mode: shadow`: every request is served by the monolith and copied to the
   * service, both answers diffed field by field, 10 % also sent to the monolith a second time).
   */
  readonly name?: RfEdgeTargetName;
  readonly repoRoot: string;
  readonly upstreamOrigin: string;
  readonly workDir: string;
  readonly readyTimeoutMs: number;
  /** Environment set last, over the bench's own (`npm run bench:compare` runs two variants side by side). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startRfEdge(options: RfEdgeOptions): Promise<Target> {
  const { repoRoot } = options;
  const name = options.name ?? 'rf-edge';
  // Each rf-edge target in a folder of its own: its table, its legacy-adapter/ beside it, its logs.
  const workDir = join(options.workDir, name);
  mkdirSync(join(workDir, 'legacy-adapter'), { recursive: true });
  writeFileSync(join(workDir, 'legacy-adapter', 'bench.yaml'), BENCH_ADAPTER_YAML);
  const routesFile = join(workDir, 'routes.yaml');
  writeFileSync(routesFile, benchRoutesYaml(options.upstreamOrigin, name === 'rf-edge-shadow' ? 'shadow' : 'canary'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SHARED_INFRA_ENV) delete env[name];
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    ADMIN_HOST: '127.0.0.1',
    ADMIN_TOKEN: RF_EDGE_ADMIN_TOKEN,
    ROUTES_FILE: routesFile,
    FLAGS_DIR: join(repoRoot, 'flags'),
    DATA_DIR: join(workDir, `${name}-data`),
    LOG_LEVEL: 'info',
    ...options.env,
  });
  // stdout carries pino's JSON lines, one per request; stderr the human start-up banner and any crash.
  const logFile = join(workDir, `${name}.log`);
  const errFile = join(workDir, `${name}.stderr`);
  // BENCH_RF_EDGE_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=prof`) profiles the edge under the bench's load; Node
  // refuses --cpu-prof in NODE_OPTIONS, and NODE_OPTIONS would profile every child besides.
  const nodeArgs = (process.env['BENCH_RF_EDGE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = launch(process.execPath, [...nodeArgs, join(repoRoot, 'bin', 'rf-edge'), 'start'], {
    cwd: repoRoot,
    env,
    logFile,
    errFile,
  });
  const origin = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  try {
    await waitForHttp(child, `${admin}/readyz`, options.readyTimeoutMs, name);
  } catch (err) {
    await stopChild(child);
    throw new Error(`${(err as Error).message}; ${whyItStopped(errFile, logFile)}`, { cause: (err as Error).cause });
  }
  return {
    name,
    description: DESCRIPTIONS[name],
    ...(name === 'rf-edge-adapted' ? { paths: [RF_EDGE_ADAPTED_PATH] } : {}),
    origin,
    pid: child.pid ?? null,
    evidence: async () => {
      // Proof the measured process did log every request and count it in metrics, not a quieter configuration.
      const log = readFileSync(logFile);
      let logLines = 0;
      for (let i = log.indexOf(10); i !== -1; i = log.indexOf(10, i + 1)) logLines++;
      let requestsCounted: number | null = null;
      try {
        const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5000) });
        requestsCounted = sumPrometheusCounter(await res.text(), 'rf_edge_requests_total');
      } catch {
        requestsCounted = null;
      }
      return { logLines, logBytes: log.length, metricsRequestsTotal: requestsCounted };
    },
    stop: () => stopChild(child, 5000),
  };
}
