// CPU time a process tree has used, from /proc. CPU per request is the figure that holds on a busy machine:
// requests/s moves with whatever else runs, the CPU one request costs barely does.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * utime + stime (clock ticks) from the text of /proc/<pid>/stat. The second field, the command name, is in
 * parentheses and may itself hold spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseProcStatCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  // After ")": field 3 (state) is index 0, so utime (field 14) is index 11 and stime (field 15) index 12.
  const fields = stat
    .slice(close + 2)
    .trim()
    .split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`no utime/stime in /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  }
  return utime + stime;
}

let ticksPerSecond: number | null = null;

/** USER_HZ: almost always 100, but read it rather than assume. */
function clockTicksPerSecond(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) out.push(Number(child));
      }
    } catch {
      // The thread ended while we looked.
    }
  }
  return out;
}

/**
 * CPU time in microseconds used so far by `pid` and every live descendant (a CLI may run the server in a child).
 * A descendant that already exited is not counted: the bench reads this around a window in which none should.
 */
export function processTreeCpuMicros(pid: number): number {
  let ticks = 0;
  const pending = [pid];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === undefined || seen.has(current)) continue;
    seen.add(current);
    try {
      ticks += parseProcStatCpuTicks(readFileSync(`/proc/${current}/stat`, 'utf8'));
    } catch {
      continue;
    }
    pending.push(...childrenOf(current));
  }
  return (ticks * 1_000_000) / clockTicksPerSecond();
}

/** True where /proc exists (Linux); elsewhere the bench prints CPU per request as unknown. */
export function canReadProcessCpu(): boolean {
  try {
    readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    return true;
  } catch {
    return false;
  }
}
