// The `rf-edge` command as a user runs it: `node bin/rf-edge …` in a child process, from the repository root.
// `runRfEdge` waits for a one-shot command (validate, status, …); `spawnRfEdge` keeps a long-running `start` and
// parses its pino lines (stdout) as they arrive, so a test can wait for an event such as `edge.started`.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/rf-edge', import.meta.url));

/**
 * The edge's variables that may leak in from the shell running the tests; every child starts without them so a
 * developer's ADMIN_TOKEN or REDIS_URL cannot change what a test sees.
 */
const EDGE_VARIABLES = [
  'PORT',
  'HOST',
  'ADMIN_PORT',
  'ADMIN_HOST',
  'ADMIN_TOKEN',
  'ROUTES_FILE',
  'FLAGS_DIR',
  'ADAPTERS_DIR',
  'DATA_DIR',
  'UNLEASH_URL',
  'UNLEASH_API_TOKEN',
  'UNLEASH_ADMIN_TOKEN',
  'REDIS_URL',
  'DATABASE_URL',
  'LOG_LEVEL',
  'EDGE_OVERRIDE_SECRET',
  'MONOLITH_PORT',
  'AGENTS_PORT',
];

function childEnv(env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of EDGE_VARIABLES) delete base[name];
  // The test runner marks its children; a child node process seeing it would run as a test file.
  delete base['NODE_TEST_CONTEXT'];
  return { ...base, ...env };
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `rf-edge <args>` to completion (SIGKILL after `timeoutMs`, which then shows as `signal`). */
export function runRfEdge(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 20_000,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: childEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export type LogLine = Record<string, unknown>;

export interface RfEdgeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every JSON log line printed on stdout so far, parsed. */
  readonly logs: LogLine[];
  /** Everything printed on stderr so far (the human summary, warnings). */
  stderr(): string;
  /** Log lines whose `event` is `name`. */
  events(name: string): LogLine[];
  /** Resolves with the first line (already printed or to come) with `event` `name` matching `where`. */
  waitForEvent(name: string, where?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait for exit; SIGKILL after `graceMs` (so a hang shows up as `signal: 'SIGKILL'`). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** Starts `rf-edge <args>` (typically `start`) and returns at once; wait for `edge.started` with waitForEvent. */
export function spawnRfEdge(args: readonly string[], env: Readonly<Record<string, string>> = {}): RfEdgeProcess {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: childEnv(env) });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
      nl = pending.indexOf('\n');
    }
    for (const wake of waiters) wake();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  // 'close', not 'exit': the process may be gone while its last lines (written as it ended) are still in the pipe.
  let closed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true;
      resolve({ code, signal });
      for (const wake of waiters) wake();
    }),
  );
  const events = (name: string) => logs.filter((l) => l['event'] === name);

  return {
    child,
    logs,
    stderr: () => stderr,
    events,
    waitForEvent(name, where = () => true, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events(name).find(where);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (closed) {
            done();
            reject(new Error(`rf-edge exited (${child.exitCode ?? child.signalCode}) before "${name}":\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no "${name}" log line within ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      const started = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: Math.round(performance.now() - started) };
    },
  };
}
