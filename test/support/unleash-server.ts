// A real unleash-server (the devDependency, 7.5.1) as a child process on a free port, on its own fresh PostgreSQL
// database, with an admin and a backend token created at first start. `halt()` + `restart()` take the same server
// (same port, same database) down and up again for "Unleash is unreachable" tests; `stop()` ends it for good and
// drops its database.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../../bench/child-processes.ts';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' } as const;
const READY_TIMEOUT_MS = 60_000;

export interface UnleashTestServer {
  /** API root, the UNLEASH_URL form: `http://127.0.0.1:<port>/api`. */
  readonly url: string;
  /** `*:*.<hex>` */
  readonly adminToken: string;
  /** `default:development.<hex>`: a backend token for the development environment of the default project. */
  readonly clientToken: string;
  readonly database: string;
  /** Milliseconds from spawn to a healthy /health on the first start (migrations of an empty database included). */
  readonly startupMs: number;
  /** Milliseconds the last `restart()` took. */
  lastRestartMs(): number;
  /** Takes the server down (SIGTERM, then SIGKILL after 5 s), keeping its database. */
  halt(): Promise<void>;
  /** Starts the same server again (same port and database); halts it first when it runs. */
  restart(): Promise<void>;
  /** Takes the server down and drops its database. */
  stop(): Promise<void>;
  /** The last lines the server printed, for failure messages. */
  output(): string;
}

export async function startUnleashServer(): Promise<UnleashTestServer> {
  const suffix = randomBytes(6).toString('hex');
  const database = `rf_edge_unleash_${suffix}`;
  const adminToken = `*:*.${randomBytes(16).toString('hex')}`;
  const clientToken = `default:development.${randomBytes(16).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${database}`);

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const serverScript = fileURLToPath(new URL('../server.js', import.meta.resolve('unleash-server')));
  const lines: string[] = [];
  let child: ChildProcess | null = null;

  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const launch = async (): Promise<number> => {
    const started = performance.now();
    const proc = spawn(process.execPath, [serverScript], {
      // A clean environment: the test runner's own variables (NODE_OPTIONS, NODE_TEST_CONTEXT…) must not leak in.
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        TZ: 'UTC',
        DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
        DATABASE_SSL: 'false',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        INIT_ADMIN_API_TOKENS: adminToken,
        INIT_BACKEND_API_TOKENS: clientToken,
        // No calls to the internet from tests.
        CHECK_VERSION: 'false',
        SEND_TELEMETRY: 'false',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const keep = (chunk: Buffer) => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `unleash-server exited (${proc.exitCode ?? proc.signalCode}) before it was healthy:\n${lines.join('\n')}`,
        );
      }
      try {
        const res = await fetch(`${origin}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) {
          await res.arrayBuffer();
          return performance.now() - started;
        }
        await res.arrayBuffer();
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`unleash-server was not healthy within ${READY_TIMEOUT_MS} ms:\n${lines.join('\n')}`);
  };

  const halt = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  let startupMs: number;
  try {
    startupMs = await launch();
  } catch (err) {
    await halt();
    process.off('exit', killOnExit);
    await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    throw err;
  }
  let restartMs = 0;

  return {
    url: `${origin}/api`,
    adminToken,
    clientToken,
    database,
    startupMs,
    lastRestartMs: () => restartMs,
    halt,
    async restart() {
      await halt();
      restartMs = await launch();
    },
    async stop() {
      await halt();
      process.off('exit', killOnExit);
      await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
    output: () => lines.join('\n'),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client(PG);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
