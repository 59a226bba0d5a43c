// Starts an edge listener for integration tests, with a hand-built route table (every default filled in, as
// src/config would) and a trivial routing decision: the longest matching path prefix picks a route, whose mode says
// legacy or service. The real router has its own tests; these exercise forwarding.
import { type ChildProcess, spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/adapters/logger.ts';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import type { HostPolicy, RouteTable, ShadowPolicy, UpstreamConfig } from '../../src/config/types.ts';
import type { FallbackPolicy } from '../../src/core/fallback-policy.ts';
import type { Decision, Outcome, Target } from '../../src/core/types.ts';
import { createEdgeServer, type EdgeRouting, type EdgeServer } from '../../src/http/edge-server.ts';
import { TEST_ROLLOUT } from './route-table-fixtures.ts';

export interface UpstreamSpec {
  readonly url: string;
  readonly connectTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
  readonly host?: HostPolicy;
  readonly rewriteLocation?: boolean;
  readonly connections?: number;
}

export interface PrefixRoute {
  readonly id: string;
  /** Matches this path and everything under it. */
  readonly prefix: string;
  readonly service: string;
  /** `shadow`: served by legacy, copied to the service. Default `service`. */
  readonly mode?: 'legacy' | 'service' | 'shadow';
  readonly shadow?: ShadowPolicy;
  /** Fallback to the monolith; hand-built routes have none unless given. */
  readonly fallback?: FallbackPolicy;
}

export interface TableSpec {
  readonly upstreams: Record<string, string | UpstreamSpec>;
  readonly legacy: string;
  readonly routes?: readonly PrefixRoute[];
  readonly trustedProxies?: readonly string[];
  readonly limits?: { maxUrlLength?: number; maxHeaderBytes?: number };
}

export function makeTable(spec: TableSpec): RouteTable {
  const upstreams = new Map<string, UpstreamConfig>();
  for (const [name, raw] of Object.entries(spec.upstreams)) {
    const u: UpstreamSpec = typeof raw === 'string' ? { url: raw } : raw;
    const parsed = new URL(u.url);
    upstreams.set(name, {
      name,
      url: u.url,
      origin: parsed.origin,
      basePath: parsed.pathname.replace(/\/+$/, ''),
      connectTimeoutMs: u.connectTimeoutMs ?? 2_000,
      headersTimeoutMs: u.headersTimeoutMs ?? 10_000,
      bodyTimeoutMs: u.bodyTimeoutMs ?? 0,
      host: u.host ?? { kind: 'preserve' },
      rewriteLocation: u.rewriteLocation ?? false,
      connections: u.connections ?? 16,
    });
  }
  return {
    version: 1,
    upstreams,
    legacy: spec.legacy,
    stickiness: [{ kind: 'ip' }],
    rollout: TEST_ROLLOUT,
    routes: (spec.routes ?? []).map((r, i) => ({
      id: r.id,
      path: `${r.prefix}/*`,
      methods: null,
      service: r.service,
      flag: null,
      mode: r.mode ?? 'service',
      adapter: null,
      rollout: TEST_ROLLOUT,
      ...(r.shadow === undefined ? {} : { shadow: r.shadow }),
      ...(r.fallback === undefined ? {} : { fallback: r.fallback }),
      line: i + 1,
    })),
    trustedProxies: spec.trustedProxies ?? [],
    override: { header: 'x-edge-route', cookie: 'edge_route' },
    limits: { maxUrlLength: spec.limits?.maxUrlLength ?? 8192, maxHeaderBytes: spec.limits?.maxHeaderBytes ?? 16384 },
    hash: 'test00000000',
    source: 'test',
  };
}

/** Longest prefix wins; an override (when verified) forces the target; unmatched → legacy. */
export function prefixRouting(table: RouteTable, routes: readonly PrefixRoute[]): EdgeRouting {
  const sorted = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  return {
    table,
    decide(facts, override: Target | null): Decision {
      const route = sorted.find((r) => facts.path === r.prefix || facts.path.startsWith(`${r.prefix}/`));
      if (route === undefined) {
        return base(null, 'legacy', table.legacy, 'unmatched');
      }
      if (override !== null) {
        return base(route.id, override, override === 'service' ? route.service : table.legacy, 'override');
      }
      if (route.mode === 'shadow') {
        return { ...base(route.id, 'legacy', table.legacy, 'mode_shadow'), shadow: true };
      }
      return (route.mode ?? 'service') === 'service'
        ? base(route.id, 'service', route.service, 'mode_service')
        : base(route.id, 'legacy', table.legacy, 'mode_legacy');
    },
  };
}

function base(routeId: string | null, target: Target, upstream: string, reason: Decision['reason']): Decision {
  return { routeId, target, upstream, reason, bucket: null, weight: null, shadow: false };
}

export interface TestEdge {
  readonly edge: EdgeServer;
  readonly port: number;
  readonly url: string;
  readonly metrics: EdgeMetrics;
  /** Every pino line the edge wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  readonly outcomes: Outcome[];
  /** Swap the routing, as a hot reload does. */
  setRouting(routing: EdgeRouting): void;
  close(): Promise<void>;
}

export interface StartEdgeOptions {
  readonly verifyOverride?: (token: string) => Target | null;
  readonly shutdownTimeoutMs?: number;
  readonly recordOutcome?: (o: Outcome) => void;
  /** Listen address; default 127.0.0.1. */
  readonly host?: string;
  readonly shadowMaxInFlight?: number;
}

export async function startEdge(spec: TableSpec, options: StartEdgeOptions = {}): Promise<TestEdge> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line));
      done();
    },
  });
  const log = createLogger('info', sink);
  const metrics = createMetrics({ processMetrics: false });
  const outcomes: Outcome[] = [];
  const table = makeTable(spec);
  let routing = prefixRouting(table, spec.routes ?? []);
  const edge = await createEdgeServer({
    log,
    metrics,
    routing: () => routing,
    recordOutcome: options.recordOutcome ?? ((o) => outcomes.push(o)),
    verifyOverride: options.verifyOverride,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 2_000,
    shadowMaxInFlight: options.shadowMaxInFlight,
  });
  const host = options.host ?? '127.0.0.1';
  const { port } = await edge.listen(0, host);
  return {
    edge,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    metrics,
    logs,
    outcomes,
    setRouting(next) {
      routing = next;
    },
    close: () => edge.close(),
  };
}

/** The `event: 'request'` log lines. */
export function requestLines(logs: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter((l) => l['event'] === 'request');
}

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

export interface EdgeProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** The child's pino lines, parsed, as they arrive. */
  readonly logs: Array<Record<string, unknown>>;
  readonly memory: MemorySample[];
  /** SIGTERM, then resolves when the process has exited (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; closedMs: number | null }>;
}

/** Runs an edge in a child process (test/support/edge-process.ts). */
export async function startEdgeProcess(
  spec: TableSpec & { shutdownTimeoutMs?: number },
  options: { sampleMs?: number; port?: number } = {},
): Promise<EdgeProcess> {
  const script = fileURLToPath(new URL('./edge-process.ts', import.meta.url));
  // --expose-gc: the memory sampler runs a scavenge before each sample (edge-process.ts).
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: {
      ...process.env,
      RF_EDGE_SPEC: JSON.stringify(spec),
      RF_EDGE_SAMPLE_MS: String(options.sampleMs ?? 0),
      RF_EDGE_PORT: String(options.port ?? 0),
    },
  });
  const logs: Array<Record<string, unknown>> = [];
  const memory: MemorySample[] = [];
  let closedMs: number | null = null;
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
      nl = pending.indexOf('\n');
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { ready?: number; memory?: MemorySample; closed?: { ms: number } }) => {
      if (message.ready !== undefined) resolve(message.ready);
      if (message.memory !== undefined) memory.push(message.memory);
      if (message.closed !== undefined) closedMs = message.closed.ms;
    });
    child.once('exit', (code) => reject(new Error(`edge process exited early with ${code}`)));
  });
  return {
    port,
    child,
    logs,
    memory,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, closedMs };
    },
  };
}
