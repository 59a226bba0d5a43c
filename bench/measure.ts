// One measurement: a fresh load generator process against one target, with the proxy's and the upstream's CPU
// counters read at the exact edges of the generator's measured window.
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
  /** Proxy CPU time per completed request in µs; null for `direct` or where /proc is missing. */
  readonly proxyCpuUsPerRequest: number | null;
  /** The upstream's, for comparison: it does the same work behind every target. */
  readonly upstreamCpuUsPerRequest: number | null;
}

const generatorScript = fileURLToPath(new URL('./load-generator.ts', import.meta.url));

function isGeneratorMessage(message: unknown): message is GeneratorMessage {
  return typeof message === 'object' && message !== null && 'type' in message;
}

function cpuOf(pid: number | null, readCpu: boolean): number | null {
  return pid !== null && readCpu ? processTreeCpuMicros(pid) : null;
}

export async function measure(
  target: Target,
  plan: Omit<LoadPlan, 'origin'>,
  upstreamPid: number,
  readCpu: boolean,
  round = 1,
): Promise<Measurement> {
  const generator = launchScript(generatorScript, []);
  const what = `load generator against ${target.name}`;
  try {
    let proxyStart: number | null = null;
    let upstreamStart: number | null = null;
    let proxyEnd: number | null = null;
    let upstreamEnd: number | null = null;
    const budgetMs = plan.warmupMs + plan.durationMs + 30_000;
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
      budgetMs,
      what,
    );
    const start: StartMessage = { type: 'start', plan: { ...plan, origin: target.origin } };
    generator.send(start);
    const load = await result;
    const perRequest = (start: number | null, end: number | null): number | null =>
      start === null || end === null || load.requests === 0 ? null : (end - start) / load.requests;
    return {
      target: target.name,
      round,
      load,
      proxyCpuUsPerRequest: perRequest(proxyStart, proxyEnd),
      upstreamCpuUsPerRequest: perRequest(upstreamStart, upstreamEnd),
    };
  } finally {
    await stopChild(generator);
  }
}
