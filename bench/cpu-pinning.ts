// Pinning, as a user measures a proxy: the proxy alone on one core, the upstream and the load generator on the
// other(s), so the proxy's CPU per request is its own work and not time spent queued behind the generator. Uses
// util-linux's `taskset` (Debian ships it) when present; without it, or on one core, nothing is pinned and the
// report says so.
import { spawnSync } from 'node:child_process';
import { signalPid } from './child-processes.ts';
import { findProgram } from './find-program.ts';

export interface CpuPinning {
  readonly taskset: string;
  /** The CPU list of the proxy being loaded (`0`); the others are frozen on the rest meanwhile. */
  readonly proxy: string;
  /** The CPU list of the upstream, the load generator and the bench itself (`1`, or `1-7`). */
  readonly rest: string;
}

/** `taskset` on PATH or in /usr/bin, else null. */
export function findTaskset(path?: string): string | null {
  return findProgram('taskset', '/usr/bin/taskset', path);
}

/** Which CPUs go to whom; null when pinning is impossible (no taskset, or a single CPU to share). */
export function planPinning(cpuCount: number, taskset: string | null): CpuPinning | null {
  if (taskset === null || cpuCount < 2) return null;
  return { taskset, proxy: '0', rest: cpuCount === 2 ? '1' : `1-${cpuCount - 1}` };
}

/** Pins every thread of `pid` (node's and libuv's included; threads started later inherit it) to `cpus`. */
export function pinProcess(taskset: string, pid: number, cpus: string): void {
  const result = spawnSync(taskset, ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  // `--all-tasks` of a pid that is gone walks no threads and still exits 0: ask for the affinity to be sure.
  const check = spawnSync(taskset, ['--cpu-list', '--pid', String(pid)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const now = check.status === 0 ? /:\s*(\S+)\s*$/.exec(check.stdout)?.[1] : undefined;
  if (result.status !== 0 || now !== cpus) {
    const why = result.stderr?.trim() || check.stderr?.trim() || `affinity is ${now ?? 'unknown'}`;
    throw new Error(`taskset could not pin pid ${pid} to CPUs ${cpus}: ${why}`);
  }
}

/** How the report describes the placement. */
export function describePinning(pinning: CpuPinning | null): string {
  return pinning === null
    ? 'not pinned (no taskset or a single CPU): proxies share cores with the upstream and the load generator'
    : `each proxy alone on CPU ${pinning.proxy} while it is loaded (the others frozen meanwhile); ` +
        `upstream, load generator and bench on CPU ${pinning.rest}`;
}

/**
 * Before loading `loaded` (null: no proxy, the `direct` runs): it alone is awake, on the proxy CPU; every other
 * proxy is moved to the rest and frozen (SIGSTOP). Idle proxies still run timers (rf-edge's judge, file watchers and
 * loop-delay sampling; keep-alive checks), and on two CPUs whatever wakes up competes with the measured proxy or with
 * the generator feeding it. A frozen proxy keeps its connections (the bench's upstream keeps idle ones 120 s) and
 * is resumed before its own warm-up, which is not counted.
 */
export function awakeAlone(pids: readonly (number | null)[], loaded: number | null, pinning: CpuPinning | null): void {
  for (const pid of pids) {
    if (pid === null) continue;
    if (pid === loaded) {
      signalPid(pid, 'SIGCONT');
      if (pinning !== null) pinProcess(pinning.taskset, pid, pinning.proxy);
    } else {
      if (pinning !== null) pinProcess(pinning.taskset, pid, pinning.rest);
      signalPid(pid, 'SIGSTOP');
    }
  }
}

/** Every proxy awake again (before reading evidence and stopping them). */
export function wakeAll(pids: readonly (number | null)[]): void {
  for (const pid of pids) if (pid !== null) signalPid(pid, 'SIGCONT');
}
