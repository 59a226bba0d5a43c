// Everything the rollout evidence tests (issue 4, (a)–(g)) share: the two example servers with their fault knobs,
// a temp routes.yaml and flags/ tuned to move in seconds, whole edges built by `createEdge` (in this process or in a
// child process one can SIGKILL), an admin API client, a steady load of distinct users counted by who answered,
// and the bookkeeping that puts it all away again (edges, relays, Redis keys, databases, temp dirs).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { AGENTS_SERVED_BY, createAgentsService } from '../../examples/agents-service.ts';
import { FaultInjector } from '../../examples/faults.ts';
import { createMonolith, MONOLITH_SERVED_BY } from '../../examples/monolith.ts';
import { closeServer, listen } from '../../examples/server-lifecycle.ts';
import { createLogger } from '../../src/adapters/logger.ts';
import { createEdge, type EdgeHandle } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { normalizedBucket } from '../../src/core/bucket.ts';
import {
  createTestDatabase,
  deleteRedisKeys,
  queryDatabase,
  REDIS_HOST,
  REDIS_PORT,
  redisUrl,
  type TestDatabase,
  uniqueRedisPrefix,
} from './databases.ts';
import { startTcpRelay, type TcpRelay } from './tcp-relay.ts';

export const ADMIN_TOKEN = 'rollout-evidence-token';
export const ROUTE_ID = 'agents-list';

/** One row of the route's audit trail as PostgreSQL holds it. */
export interface AuditTrailRow {
  to_phase: string;
  to_weight: number;
  actor: string;
}

/** The route's rows in `rollout_events`, oldest first. */
export function auditTrail(database: TestDatabase, routeId: string = ROUTE_ID): Promise<AuditTrailRow[]> {
  return queryDatabase<AuditTrailRow & Record<string, unknown>>(
    database,
    'SELECT to_phase, to_weight, actor FROM rollout_events WHERE route_id = $1 ORDER BY at, id',
    [routeId],
  );
}
export const FLAG = 'raptorflow.agents-read';
/** The route's path; the load asks for it (both servers answer it with the same agents list). */
export const ROUTE_PATH = '/api/agents';
export const SERVICE = AGENTS_SERVED_BY;
export const MONOLITH = MONOLITH_SERVED_BY;

// ---- upstreams ----------------------------------------------------------------------------------------------------

export interface ExampleUpstream {
  readonly url: string;
  /** The server's fault knob: `faults.set({ errorRate: 0.5 })`, `faults.clear()`. */
  readonly faults: FaultInjector;
}

export interface ExampleUpstreams {
  readonly monolith: ExampleUpstream;
  readonly service: ExampleUpstream;
  close(): Promise<void>;
}

/** The example monolith and agents service on 127.0.0.1:0, healthy, each with a fault knob the test keeps. */
export async function startExampleUpstreams(): Promise<ExampleUpstreams> {
  const monolithFaults = new FaultInjector();
  const serviceFaults = new FaultInjector();
  const monolith = createMonolith({ faults: monolithFaults });
  const service = createAgentsService({ faults: serviceFaults, contract: 'v1' });
  const [monolithUrl, serviceUrl] = await Promise.all([
    listen(monolith, 0, '127.0.0.1'),
    listen(service, 0, '127.0.0.1'),
  ]);
  return {
    monolith: { url: monolithUrl, faults: monolithFaults },
    service: { url: serviceUrl, faults: serviceFaults },
    close: async () => {
      await Promise.all([closeServer(monolith), closeServer(service)]);
    },
  };
}

// ---- configuration ------------------------------------------------------------------------------------------------

/** routes.yaml `rollout:` keys, as written there. */
export interface RolloutTuning {
  readonly steps?: readonly number[];
  readonly stepInterval?: string;
  readonly minRequests?: number;
  readonly window?: string;
  readonly evaluateEvery?: string;
  readonly maxErrorRate?: number;
  readonly maxErrorRateIncrease?: number;
  readonly maxP99Ms?: number;
  readonly maxP99Ratio?: number;
  readonly minSamples?: number;
  readonly criticalConsecutiveFailures?: number;
}

/** Seconds instead of minutes: a step lasts about as long as it takes to count `minRequests` whole seconds. */
export const FAST_TUNING: RolloutTuning = {
  steps: [10, 20, 30, 40, 50],
  stepInterval: '1s',
  minRequests: 10,
  window: '5s',
  evaluateEvery: '1s',
  minSamples: 10,
  // The latency limits are the product's: the judge compares the two sides second by second and leaves out the
  // seconds a busy test machine stalls for both, so nothing needs loosening here.
};

export function routesYaml(upstreams: { monolith: string; service: string }, tuning: RolloutTuning): string {
  const doc = {
    version: 1,
    upstreams: { monolith: { url: upstreams.monolith }, agents: { url: upstreams.service, timeoutMs: 10000 } },
    legacy: 'monolith',
    stickiness: ['header:x-user-id'],
    rollout: { ...FAST_TUNING, ...tuning },
    routes: [
      { id: ROUTE_ID, path: ROUTE_PATH, methods: ['GET', 'HEAD'], service: 'agents', flag: FLAG, mode: 'canary' },
    ],
  };
  return `# written by test/support/rollout-harness.ts\n${stringify(doc)}`;
}

/** The repository's flags/raptorflow.json with the route's flag on for everyone (rollout 100). */
export async function flagsDocument(): Promise<string> {
  const source = fileURLToPath(new URL('../../flags/raptorflow.json', import.meta.url));
  const doc = JSON.parse(await readFile(source, 'utf8')) as {
    features: Array<{ name: string; enabled: boolean; strategies: Array<{ parameters?: Record<string, string> }> }>;
  };
  const feature = doc.features.find((f) => f.name === FLAG);
  if (feature === undefined) throw new Error(`flags/raptorflow.json has no ${FLAG}`);
  feature.enabled = true;
  for (const strategy of feature.strategies) {
    if (strategy.parameters) strategy.parameters['rollout'] = '100';
  }
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ---- admin API ----------------------------------------------------------------------------------------------------

export interface RouteView {
  readonly id: string;
  readonly phase: string;
  readonly weight: number;
  readonly stepIndex: number;
  readonly manualWeight: boolean;
  /** When the current step began (ISO); bookkeeping moves `revision` but not this. */
  readonly since: string | null;
  readonly reason: string | null;
  readonly updatedBy: string | null;
  readonly revision: number;
}

export interface RoutesView {
  readonly instance: string;
  readonly leader: boolean;
  readonly stores: { readonly state: boolean; readonly auditPending: number };
  /** The flag source: `file`, `bootstrap`, `live` or `stale` (since when, ms). */
  readonly flags: { readonly state: string; readonly staleSince: number | null };
  readonly routes: readonly RouteView[];
}

export interface VerdictCheckView {
  readonly rule: string;
  readonly passed: boolean;
  readonly value: number | null;
  readonly threshold: number;
  readonly detail: string;
}

export interface TargetFigures {
  readonly requests: number;
  readonly errors: number;
  readonly p99Ms: number | null;
}

/** An audit event as the history API answers it; `evidence` is the verdict for the judge's transitions. */
export interface HistoryEvent {
  readonly at: string;
  readonly routeId: string;
  readonly from: string;
  readonly to: string;
  readonly fromWeight: number;
  readonly toWeight: number;
  readonly actor: string;
  readonly reason: string;
  readonly configHash: string;
  readonly evidence: {
    readonly outcome?: string;
    readonly reason?: string;
    readonly checks?: readonly VerdictCheckView[];
    readonly figures?: { readonly legacy: TargetFigures; readonly service: TargetFigures; readonly windowMs: number };
    readonly command?: string;
  } | null;
}

export type AdminCommand = 'pause' | 'resume' | 'promote' | 'rollback';

export interface AdminClient {
  readonly url: string;
  routes(): Promise<RoutesView>;
  route(id?: string): Promise<RouteView>;
  /** Sends the command with the token; resolves with the status and the JSON body (errors included). */
  command(command: AdminCommand, reason: string, id?: string): Promise<{ status: number; body: unknown }>;
  /** A manual weight; resolves with the route as the API answers it, throws unless it answers 2xx. */
  setWeight(weight: number, reason: string, id?: string): Promise<RouteView>;
  /** The route's audit trail, oldest first (the API answers newest first). */
  history(id?: string): Promise<HistoryEvent[]>;
  metrics(): Promise<string>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export function adminClient(adminPort: number): AdminClient {
  const base = `http://127.0.0.1:${adminPort}`;
  return {
    url: base,
    routes: () => getJson<RoutesView>(`${base}/api/routes`),
    route: (id = ROUTE_ID) => getJson<RouteView>(`${base}/api/routes/${id}`),
    async command(command, reason, id = ROUTE_ID) {
      const res = await fetch(`${base}/api/routes/${id}/${command}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason, actor: 'rollout-test' }),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    },
    async setWeight(weight, reason, id = ROUTE_ID) {
      const url = `${base}/api/routes/${id}/weight`;
      const res = await fetch(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ weight, reason, actor: 'rollout-test' }),
      });
      if (!res.ok) throw new Error(`PUT ${url} answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as RouteView;
    },
    async history(id = ROUTE_ID) {
      const body = await getJson<{ events: HistoryEvent[] }>(`${base}/api/routes/${id}/history?limit=1000`);
      return [...body.events].reverse();
    },
    async metrics() {
      const res = await fetch(`${base}/metrics`);
      return res.text();
    },
  };
}

/** Sum of the samples of `name` whose labels include `labels`, read from Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line.trim());
    if (!match || match[1] !== name) continue;
    const present = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      present.set(pair[1] ?? '', pair[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) sum += Number(match[3]);
  }
  return sum;
}

/** The rule a judge's audit row failed on first (checks are listed in the judge's rule order). */
export function failedRules(event: HistoryEvent): string[] {
  return (event.evidence?.checks ?? []).filter((c) => !c.passed).map((c) => c.rule);
}

// ---- logs ---------------------------------------------------------------------------------------------------------

export interface LogLines {
  readonly lines: Array<Record<string, unknown>>;
  events(name: string): Array<Record<string, unknown>>;
}

function logLines(): LogLines & { take(text: string): void } {
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  return {
    lines,
    events: (name) => lines.filter((l) => l['event'] === name),
    take(text) {
      pending += text;
      let nl = pending.indexOf('\n');
      while (nl !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        // One line per proxied request would only cost memory here; the load driver counts requests itself.
        if (line.startsWith('{') && !line.includes('"event":"request"')) {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        nl = pending.indexOf('\n');
      }
    },
  };
}

// ---- edges --------------------------------------------------------------------------------------------------------

export interface RolloutEdge {
  readonly instanceId: string;
  readonly port: number;
  readonly adminPort: number;
  readonly admin: AdminClient;
  readonly logs: LogLines;
  readonly dataDir: string;
  /** Closes the edge the way SIGTERM would (in-process: `handle.close()`). */
  close(): Promise<void>;
}

export interface ChildEdge extends RolloutEdge {
  readonly child: ChildProcess;
  /** SIGKILL: no close, no lease release; resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface EdgeStartOptions {
  readonly instanceId?: string;
  /** Default: a fresh directory under the fixture's. */
  readonly dataDir?: string;
  readonly leaseTtlMs?: number;
  /** Extra environment variables (or `''` to unset one of the fixture's). */
  readonly env?: Record<string, string>;
}

export interface RolloutFixtureOptions {
  /** Names the temp dir, Redis prefix and database. */
  readonly label: string;
  readonly tuning?: RolloutTuning;
  /** Shared state in Redis (a key prefix of its own). */
  readonly redis?: boolean;
  /** Audit trail in PostgreSQL (a database of its own). */
  readonly postgres?: boolean;
  /** Point REDIS_URL and DATABASE_URL at TCP relays the test can cut. */
  readonly relays?: boolean;
}

export interface RolloutFixture {
  readonly dir: string;
  readonly upstreams: ExampleUpstreams;
  readonly routesFile: string;
  readonly flagsDir: string;
  readonly redisPrefix: string | undefined;
  readonly database: TestDatabase | undefined;
  readonly redisRelay: TcpRelay | undefined;
  readonly pgRelay: TcpRelay | undefined;
  /** The environment an edge of this fixture starts with (as strings, what loadEnv reads). */
  env(options?: EdgeStartOptions & { instanceId: string; dataDir: string }): Record<string, string>;
  startEdge(options?: EdgeStartOptions): Promise<RolloutEdge>;
  /** An edge in a child process (test/support/rollout-edge-child.ts), for a kill that is a real kill. */
  startChildEdge(options?: EdgeStartOptions): Promise<ChildEdge>;
  /** Closes every edge, relay and upstream; deletes the Redis keys, drops the database, removes the temp dir. */
  cleanup(): Promise<void>;
}

let edgeCounter = 0;

export async function createRolloutFixture(options: RolloutFixtureOptions): Promise<RolloutFixture> {
  const dir = await mkdtemp(join(tmpdir(), `rf-rollout-${options.label}-`));
  const cleanups: Array<() => Promise<void>> = [async () => rm(dir, { recursive: true, force: true })];
  const edges = new Set<RolloutEdge>();
  const cleanup = async () => {
    for (const edge of [...edges]) await edge.close().catch(() => undefined);
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    const upstreams = await startExampleUpstreams();
    cleanups.push(() => upstreams.close());
    const routesFile = join(dir, 'routes.yaml');
    const flagsDir = join(dir, 'flags');
    await mkdir(flagsDir);
    await writeFile(
      routesFile,
      routesYaml({ monolith: upstreams.monolith.url, service: upstreams.service.url }, options.tuning ?? {}),
    );
    await writeFile(join(flagsDir, 'raptorflow.json'), await flagsDocument());

    let redisPrefix: string | undefined;
    let redisRelay: TcpRelay | undefined;
    if (options.redis) {
      const prefix = uniqueRedisPrefix(`rollout-${options.label}`);
      redisPrefix = prefix;
      cleanups.push(async () => void (await deleteRedisKeys(prefix)));
      if (options.relays) {
        const relay = await startTcpRelay(REDIS_HOST, REDIS_PORT);
        redisRelay = relay;
        cleanups.push(() => relay.close());
      }
    }
    let database: TestDatabase | undefined;
    let pgRelay: TcpRelay | undefined;
    if (options.postgres) {
      const db = await createTestDatabase(`rollout_${options.label}`);
      database = db;
      // Registered before the relay so the relay closes first and the drop finds no session of ours left.
      cleanups.push(() => db.drop());
      if (options.relays) {
        const u = new URL(db.url());
        const relay = await startTcpRelay(u.hostname, Number(u.port));
        pgRelay = relay;
        cleanups.push(() => relay.close());
      }
    }

    const env = (o: EdgeStartOptions & { instanceId: string; dataDir: string }): Record<string, string> => {
      const base: Record<string, string> = {
        PORT: '0',
        HOST: '127.0.0.1',
        ADMIN_PORT: '0',
        ADMIN_HOST: '127.0.0.1',
        ADMIN_TOKEN,
        ROUTES_FILE: routesFile,
        FLAGS_DIR: flagsDir,
        DATA_DIR: o.dataDir,
        LOG_LEVEL: 'debug',
        INSTANCE_ID: o.instanceId,
        SHUTDOWN_TIMEOUT_MS: '2000',
      };
      if (redisPrefix !== undefined) {
        base['REDIS_URL'] = redisRelay ? redisUrl(redisRelay.port, '127.0.0.1') : redisUrl();
        base['REDIS_KEY_PREFIX'] = redisPrefix;
      }
      if (database !== undefined) base['DATABASE_URL'] = database.url(pgRelay?.port);
      return { ...base, ...o.env };
    };

    const prepare = async (o: EdgeStartOptions) => {
      edgeCounter += 1;
      const instanceId = o.instanceId ?? `${options.label}-edge-${edgeCounter}`;
      const dataDir = o.dataDir ?? join(dir, `data-${instanceId}`);
      await mkdir(dataDir, { recursive: true });
      return { ...o, instanceId, dataDir };
    };

    return {
      dir,
      upstreams,
      routesFile,
      flagsDir,
      redisPrefix,
      database,
      redisRelay,
      pgRelay,
      env: (o) => env(o ?? { instanceId: 'edge', dataDir: join(dir, 'data') }),
      async startEdge(o = {}) {
        const p = await prepare(o);
        const lines = logLines();
        const sink = new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.take(chunk.toString('utf8'));
            done();
          },
        });
        const handle: EdgeHandle = await createEdge(loadEnv(env(p)), {
          log: createLogger('debug', sink),
          processMetrics: false,
          ...(p.leaseTtlMs ? { leaseTtlMs: p.leaseTtlMs } : {}),
        });
        let closing: Promise<void> | null = null;
        const edge: RolloutEdge = {
          instanceId: p.instanceId,
          port: handle.port,
          adminPort: handle.adminPort,
          admin: adminClient(handle.adminPort),
          logs: lines,
          dataDir: p.dataDir,
          close() {
            closing ??= handle.close().finally(() => edges.delete(edge));
            return closing;
          },
        };
        edges.add(edge);
        return edge;
      },
      async startChildEdge(o = {}) {
        const p = await prepare(o);
        const edge = await spawnChildEdge(env(p), p, () => edges.delete(edge));
        edges.add(edge);
        return edge;
      },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function spawnChildEdge(
  env: Record<string, string>,
  p: { instanceId: string; dataDir: string; leaseTtlMs?: number },
  onGone: () => void,
): Promise<ChildEdge> {
  const script = fileURLToPath(new URL('./rollout-edge-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, ...env, ...(p.leaseTtlMs ? { RF_TEST_LEASE_TTL_MS: String(p.leaseTtlMs) } : {}) },
  });
  const lines = logLines();
  child.stdout?.on('data', (chunk: Buffer) => lines.take(chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  void exited.then(onGone);
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    child.on('message', (message: { ready?: { port: number; adminPort: number } }) => {
      if (message.ready) resolve(message.ready);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`edge child exited before it was ready (${code ?? signal})`)),
    );
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    instanceId: p.instanceId,
    port: ports.port,
    adminPort: ports.adminPort,
    admin: adminClient(ports.adminPort),
    logs: lines,
    dataDir: p.dataDir,
    child,
    async close() {
      if (!gone()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
  };
}

// ---- load ---------------------------------------------------------------------------------------------------------

export interface LoadSample {
  /** Its `x-user-id`. */
  readonly user: string;
  /** When the request was sent (ms since epoch). */
  readonly sentAt: number;
  readonly doneAt: number;
  /** `x-served-by` of the answer, or null when none came. */
  readonly servedBy: string | null;
  /** 0 when no response came. */
  readonly status: number;
  readonly error: string | null;
}

export interface LoadDriver {
  readonly samples: LoadSample[];
  /** Requests not sent because too many were already in flight (a stalled edge shows up here). */
  skipped(): number;
  /**
   * Resolves once every request sent before `sentBefore` has its sample: on a loaded machine answers lag, and a
   * count over a period taken too early would miss them.
   */
  settled(sentBefore?: number): Promise<void>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

export interface LoadOptions {
  readonly port: number;
  /** Requests per second, spread evenly. */
  readonly rate?: number;
  /** Distinct `x-user-id` values are `<users>-<n>`; every request is a new user. */
  readonly users?: string;
  readonly maxInFlight?: number;
}

/**
 * A steady open-loop load of GETs on the route, each from a new user, over keep-alive connections. Counts who
 * answered (`x-served-by`) so a test can see the share of users on the service move with the rollout.
 */
export function startLoad(options: LoadOptions): LoadDriver {
  const rate = options.rate ?? 150;
  const users = options.users ?? 'user';
  const maxInFlight = options.maxInFlight ?? 200;
  // A connection for every request that may be in flight: with fewer, a slow moment of the edge would queue the
  // load in this client and the requests would be decided seconds after they were "sent".
  const pool = new Pool(`http://127.0.0.1:${options.port}`, { connections: maxInFlight, keepAliveTimeout: 10_000 });
  const samples: LoadSample[] = [];
  /** Requests on their way, by when they were sent. */
  const inFlight = new Map<Promise<void>, number>();
  const started = Date.now();
  let sent = 0;
  let skipped = 0;
  let stopped = false;

  const one = async (n: number) => {
    const sentAt = Date.now();
    const user = `${users}-${n}`;
    try {
      const res = await pool.request({ method: 'GET', path: ROUTE_PATH, headers: { 'x-user-id': user } });
      await res.body.dump();
      const servedBy = res.headers['x-served-by'];
      samples.push({
        user,
        sentAt,
        doneAt: Date.now(),
        servedBy: typeof servedBy === 'string' ? servedBy : null,
        status: res.statusCode,
        error: null,
      });
    } catch (err) {
      const error =
        err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
      samples.push({ user, sentAt, doneAt: Date.now(), servedBy: null, status: 0, error });
    }
  };

  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) * rate) / 1000) - sent;
    for (let i = 0; i < due; i++) {
      sent += 1;
      if (inFlight.size >= maxInFlight) {
        skipped += 1;
        continue;
      }
      const p = one(sent).finally(() => inFlight.delete(p));
      inFlight.set(p, Date.now());
    }
  }, 10);

  return {
    samples,
    skipped: () => skipped,
    async settled(sentBefore = Date.now()) {
      await Promise.all([...inFlight].filter(([, sentAt]) => sentAt < sentBefore).map(([p]) => p));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await Promise.all([...inFlight.keys()]);
      await pool.close();
    },
  };
}

export interface Tally {
  readonly total: number;
  readonly service: number;
  readonly monolith: number;
  /** No response, or a 5xx. */
  readonly failed: number;
  /** Service share, 0..100. */
  readonly servicePercent: number;
}

/** Counts the samples sent in [from, to). */
export function tally(samples: readonly LoadSample[], from = 0, to = Number.POSITIVE_INFINITY): Tally {
  return count(samples.filter((s) => s.sentAt >= from && s.sentAt < to));
}

/**
 * Counts the samples sent at or after `from` and answered before `to`: the edge decided each of them inside the
 * period, however late a busy machine let it look at the request.
 */
export function tallyWithin(samples: readonly LoadSample[], from: number, to: number): Tally {
  return count(samples.filter((s) => s.sentAt >= from && s.doneAt < to));
}

/**
 * The service's share of `t` is the weight within sampling noise (users are hashed into buckets, so the share of a
 * few hundred requests wanders by a few points): at most four standard deviations, and never less than 5 points.
 */
export function shareMatches(t: Tally, weight: number): boolean {
  const p = weight / 100;
  const sd = t.total > 0 ? Math.sqrt((p * (1 - p)) / t.total) * 100 : Number.POSITIVE_INFINITY;
  return Math.abs(t.servicePercent - weight) <= Math.max(5, 4 * sd);
}

/** The weight of the route from each audited transition on: `[{ from, weight }]`, oldest first. */
export function weightTimeline(
  history: readonly HistoryEvent[],
): Array<{ readonly from: number; readonly weight: number }> {
  return history.map((e) => ({ from: Date.parse(e.at), weight: e.toWeight }));
}

/**
 * Answers that no weight in force while the request was on its way explains. A user goes to the service exactly
 * when its sticky bucket (murmurhash of "<flag>:<user>", as Unleash computes it) is at most the weight; the edge
 * decided somewhere between sending and answering, and a new weight is in force a moment after its audit time
 * (the store write), hence `slackMs` before the send. Exact whatever the machine's load, unlike a share.
 */
export function misrouted(
  samples: readonly LoadSample[],
  timeline: ReadonlyArray<{ readonly from: number; readonly weight: number }>,
  slackMs = 1000,
): LoadSample[] {
  return samples.filter((s) => {
    if (s.servedBy !== SERVICE && s.servedBy !== MONOLITH) return false;
    const weights = timeline
      .filter(
        (segment, i) =>
          segment.from <= s.doneAt && (timeline[i + 1]?.from ?? Number.POSITIVE_INFINITY) > s.sentAt - slackMs,
      )
      .map((segment) => segment.weight);
    if (weights.length === 0) return true;
    const bucket = normalizedBucket(FLAG, s.user);
    return s.servedBy === SERVICE ? bucket > Math.max(...weights) : bucket <= Math.min(...weights);
  });
}

function count(samples: readonly LoadSample[]): Tally {
  let total = 0;
  let service = 0;
  let monolith = 0;
  let failed = 0;
  for (const s of samples) {
    total += 1;
    if (s.servedBy === SERVICE) service += 1;
    else if (s.servedBy === MONOLITH) monolith += 1;
    if (s.status === 0 || s.status >= 500) failed += 1;
  }
  return { total, service, monolith, failed, servicePercent: total === 0 ? 0 : (service / total) * 100 };
}

// ---- waiting ------------------------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns a value other than undefined/false; throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await sleep(everyMs);
  }
}

/** Resolves with the route once `predicate` holds; the timeout error shows the last state seen. */
export async function untilRoute(
  admin: AdminClient,
  what: string,
  predicate: (route: RouteView) => boolean,
  timeoutMs: number,
): Promise<RouteView> {
  let last: RouteView | undefined;
  try {
    return await until(
      what,
      async () => {
        last = await admin.route();
        return predicate(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    const seen = last ? `${last.phase} ${last.weight}% (revision ${last.revision}): ${last.reason}` : 'nothing';
    throw new Error(`${(err as Error).message}; last seen ${seen}`);
  }
}

/**
 * Looks at the route once a second for `ticks` seconds and fails at the first look where its phase, weight or step
 * start differs from `held`; the message lists every look so far. Resolves with the looks (`canary 10%`, …).
 */
export async function assertRouteHolds(admin: AdminClient, held: RouteView, ticks = 5): Promise<string[]> {
  const states: string[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    await sleep(1000);
    const route = await admin.route();
    states.push(`${route.phase} ${route.weight}%`);
    assert.deepEqual(
      [route.phase, route.weight, route.since],
      [held.phase, held.weight, held.since],
      states.join(', '),
    );
  }
  return states;
}

/** Resolves once the edge's judge has said "healthy" at least once (evidence flows, the rollout may advance). */
export async function untilHealthyVerdict(edge: RolloutEdge, timeoutMs = 30_000): Promise<void> {
  await until(
    'a healthy verdict',
    () => edge.logs.events('rollout.verdict').some((l) => l['outcome'] === 'healthy'),
    timeoutMs,
  );
}

/** The edge's transitions and its latest verdicts, one per line: what a failing test should show. */
export function rolloutStory(logs: LogLines, verdicts = 5): string {
  const transitions = logs.events('rollout.transition').map((l) => `${String(l['time'])} ${String(l['msg'])}`);
  const judged = logs
    .events('rollout.verdict')
    .slice(-verdicts)
    .map((l) => `${String(l['time'])} verdict ${String(l['outcome'])}: ${String(l['reason'])}`);
  return [...transitions, ...judged].join('\n');
}

/** Runs `body`; when it fails, the error also tells each edge's rollout story (transitions, last verdicts). */
export async function explained<T>(edges: readonly RolloutEdge[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    const stories = edges.map((e) => `--- ${e.instanceId}\n${rolloutStory(e.logs)}`).join('\n');
    if (err instanceof Error) {
      err.message = `${err.message}\n${stories}`;
      throw err;
    }
    throw new Error(`${String(err)}\n${stories}`, { cause: err });
  }
}
