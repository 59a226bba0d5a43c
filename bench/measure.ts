// Measurements: the load generator (one child process for the whole run) against one target at a time, with the
// proxy's and the upstream's CPU counters read at the exact edges of the generator's measured window.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchScript, stopChild, waitForMessage } from './child-processes.ts';
import type { GeneratorMessage, LoadPlan, LoadResult, StartMessage } from './load-plan.ts';
import { processTreeCpuMicros } from './process-cpu.ts';
import type { Target } from './targets/target.ts';

export interface Measurement {
  readonly target: string;
  /** 1-based: targets are loaded in turn, round after round, so a burst of background load hits them alike. */
  readonly round: number;
  readonly load: LoadResult;
  /** Proxy CPU time per answered request in µs; null for `direct` or where /proc is missing. */
  readonly proxyCpuUsPerRequest: number | null;
  /** The upstream's, for comparison: it does the same work behind every target. */
  readonly upstreamCpuUsPerRequest: number | null;
}

export interface MeasureOptions {
  /** The upstream's pid, whose CPU is read too. */
  readonly upstreamPid: number;
  /** False where /proc cannot be read: CPU figures are then null. */
  readonly readCpu: boolean;
  readonly round?: number;
}

export interface LoadGenerator {
  /** The generator process (pinned with the upstream, away from the proxies). */
  readonly pid: number | null;
  /** Loads one target; one measurement at a time. */
  measure(target: Target, plan: Omit<LoadPlan, 'origin'>, options: MeasureOptions): Promise<Measurement>;
  stop(): Promise<void>;
}

const generatorScript = fileURLToPath(new URL('./load-generator.ts', import.meta.url));
/** Past warm-up + duration: connection set-up, the generator's wait for late answers, reporting. */
const RESULT_GRACE_MS = 30_000;

function isGeneratorMessage(message: unknown): message is GeneratorMessage {
  return typeof message === 'object' && message !== null && 'type' in message;
}

function cpuOf(pid: number | null, readCpu: boolean): number | null {
  return pid !== null && readCpu ? processTreeCpuMicros(pid) : null;
}

async function measureWith(
  generator: ChildProcess,
  target: Target,
  plan: Omit<LoadPlan, 'origin'>,
  { upstreamPid, readCpu, round = 1 }: MeasureOptions,
): Promise<Measurement> {
  const what = `load generator against ${target.name}`;
  let proxyStart: number | null = null;
  let upstreamStart: number | null = null;
  let proxyEnd: number | null = null;
  let upstreamEnd: number | null = null;
  const result = waitForMessage(
    generator,
    (message) => {
      if (!isGeneratorMessage(message)) return undefined;
      switch (message.type) {
        case 'measuring':
          proxyStart = cpuOf(target.pid, readCpu);
          upstreamStart = cpuOf(upstreamPid, readCpu);
          return undefined;
        case 'measured':
          proxyEnd = cpuOf(target.pid, readCpu);
          upstreamEnd = cpuOf(upstreamPid, readCpu);
          return undefined;
        case 'done':
          return message.result;
        case 'failed':
          throw new Error(`${what}: ${message.message}`);
      }
    },
    plan.warmupMs + plan.durationMs + RESULT_GRACE_MS,
    what,
  );
  const start: StartMessage = { type: 'start', plan: { ...plan, origin: target.origin } };
  generator.send(start);
  const load: LoadResult = await result;
  const perRequest = (from: number | null, to: number | null): number | null =>
    from === null || to === null || load.requests === 0 ? null : (to - from) / load.requests;
  return {
    target: target.name,
    round,
    load,
    proxyCpuUsPerRequest: perRequest(proxyStart, proxyEnd),
    upstreamCpuUsPerRequest: perRequest(upstreamStart, upstreamEnd),
  };
}

/** Starts the generator process; it waits for plans until stopped. */
export function startLoadGenerator(): LoadGenerator {
  const generator = launchScript(generatorScript, []);
  let busy = false;
  return {
    pid: generator.pid ?? null,
    async measure(target, plan, options) {
      if (busy) throw new Error('load generator: one measurement at a time');
      busy = true;
      try {
        return await measureWith(generator, target, plan, options);
      } finally {
        busy = false;
      }
    },
    stop: () => stopChild(generator),
  };
}
