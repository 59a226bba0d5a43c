// Every process the bench starts goes through here, so that all of them are stopped however the bench ends:
// normally, on an error, on Ctrl-C. Each child gets its own process group (detached) and the whole group is
// signalled, which also reaches anything the child started itself (a CLI that forks, nginx workers).
import { type ChildProcess, fork, type SpawnOptions, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { createServer } from 'node:net';

const running = new Set<ChildProcess>();
let cleanupInstalled = false;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone (ESRCH) between the check and the signal.
  }
}

/** Signals the process group led by `pid` (the bench starts every target as a group leader), else the process. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone: its runs will fail and say so.
    }
  }
}

/** Kills every child still running. Synchronous, so it also works inside an `exit` handler. */
export function killAllChildren(): void {
  for (const child of running) signalGroup(child, 'SIGKILL');
  running.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.stderr.write(`\nbench: ${signal}, stopped every child process\n`);
      process.exit(130);
    });
  }
}

function track(child: ChildProcess): ChildProcess {
  installCleanup();
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

export interface LaunchOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where stdout (and stderr, unless `errFile` is given) goes; default: discarded. */
  readonly logFile?: string;
  readonly errFile?: string;
}

function stdioFor(options: LaunchOptions): ['ignore', number | 'ignore', number | 'ignore'] {
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const err = options.errFile ? openSync(options.errFile, 'a') : out;
  return ['ignore', out, err];
}

/** Starts a program (nginx, the rf-edge CLI). */
export function launch(command: string, args: readonly string[], options: LaunchOptions = {}): ChildProcess {
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: stdioFor(options),
    detached: true,
  };
  return track(spawn(command, [...args], spawnOptions));
}

/** Starts a TypeScript module of this folder in a node child with an IPC channel. */
export function launchScript(modulePath: string, args: readonly string[], options: LaunchOptions = {}): ChildProcess {
  return track(
    fork(modulePath, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      // BENCH_SCRIPT_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=prof`) profiles the node proxies and the upstream,
      // as BENCH_RF_EDGE_NODE_ARGS does rf-edge: comparing the node floor's profile with rf-edge's shows what the
      // edge's features cost.
      execArgv: ['--import', 'tsx', ...(process.env['BENCH_SCRIPT_NODE_ARGS'] ?? '').split(' ').filter(Boolean)],
      stdio: [...stdioFor(options), 'ipc'],
      detached: true,
    }),
  );
}

/** SIGTERM, then SIGKILL if the group has not gone after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Whatever the child left in its group (it exited, its children may not have).
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // No process left in the group: the usual case.
    }
  }
  running.delete(child);
}

/**
 * Resolves with the first IPC message `accept` maps to a value; rejects if `accept` throws, the child exits first
 * or time runs out.
 */
export function waitForMessage<T>(
  child: ChildProcess,
  accept: (message: unknown) => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      let value: T | undefined;
      try {
        value = accept(message);
      } catch (err) {
        done();
        reject(err);
        return;
      }
      if (value === undefined) return;
      done();
      resolve(value);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(new Error(`${what}: exited (code ${code}, signal ${signal}) before it was ready`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * Polls `url` until it answers with a status below 500. Rejects when the child exits or time runs out; the last
 * failure is kept as `cause` because it usually says why (refused, 503 not ready…).
 */
export async function waitForHttp(child: ChildProcess, url: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastFailure: unknown = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what}: exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready`, {
        cause: lastFailure,
      });
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
      lastFailure = new Error(`${url} answered ${res.status}`);
    } catch (err) {
      lastFailure = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: ${url} not ready after ${timeoutMs} ms`, { cause: lastFailure });
}

/**
 * A port that was free a moment ago, for programs that must be told their port (nginx, the rf-edge CLI) rather
 * than report the one the kernel gave them. The window between closing and the child binding is tiny.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address !== 'object') reject(new Error('probe socket has no port'));
        else resolve(address.port);
      });
    });
  });
}
