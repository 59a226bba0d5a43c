// The load generator, run as its own child process so its CPU is not the proxy's. For each `start` message with
// a LoadPlan it loads the origin and reports the result.
//
// It talks to undici's Pool through `dispatch` with a bare handler rather than `request`: no Readable stream and no
// promise per request, so the generator spends far less CPU per request than the proxies it measures (the bench
// prints its CPU share so that claim can be checked on every run).
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { LatencySamples } from './latency-stats.ts';
import type { GeneratorMessage, LoadPlan, LoadResult, StartMessage } from './load-plan.ts';

interface PreparedRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
}

type Phase = 'warmup' | 'measuring' | 'after';

/** Open-loop pacing tick. Each tick sends every request that fell due since the last one. */
const TICK_MS = 1;
/**
 * How long to wait after the window for answers to requests sent in it. An overloaded open-loop run can have a
 * backlog of thousands; past this they are recorded with the time they had waited so far (so the percentiles
 * are lower bounds, flagged by `unfinished`), and the bench moves on instead of running into its time budget.
 */
const DRAIN_LIMIT_MS = 2000;

function report(message: GeneratorMessage): void {
  process.send?.(message);
}

/** Every (path, user) pair once, so the sequence repeats exactly and each target gets the same mix. */
export function prepareRequests(plan: Pick<LoadPlan, 'paths' | 'users'>): PreparedRequest[] {
  const out: PreparedRequest[] = [];
  const users = Math.max(plan.users, 1);
  for (let u = 0; u < users; u++) {
    for (const path of plan.paths) {
      out.push({ path, headers: plan.users > 0 ? { 'x-user-id': `bench-user-${u}` } : {} });
    }
  }
  return out;
}

async function generate(plan: LoadPlan): Promise<LoadResult> {
  const pool = new Pool(plan.origin, {
    connections: plan.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const requests = prepareRequests(plan);
  const samples = new LatencySamples();
  let next = 0;
  let phase: Phase = 'warmup';
  let inFlight = 0;
  // Throughput counts answers that arrived inside the window, whenever they were sent; latency is recorded for
  // requests sent inside it, however late they answer. In an overloaded open-loop run the two differ, and the
  // achieved rate falls below the offered one instead of hiding the backlog.
  let completedInWindow = 0;
  let non2xx = 0;
  let errors = 0;
  let firstError: string | null = null;
  let windowStart = 0;
  let windowEnd = 0;
  let cpuAtStart = process.cpuUsage();
  let cpuInWindow = { user: 0, system: 0 };
  let unfinished = 0;
  /** Send times of window requests still waiting for an answer. */
  const pendingSince = new Set<{ startedAt: number }>();
  let abandoned = false;
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const send = (onDone: () => void): void => {
    const request = requests[next++ % requests.length];
    if (!request) throw new Error('load plan has no paths');
    const counted = phase === 'measuring';
    const startedAt = performance.now();
    const pending = { startedAt };
    if (counted) pendingSince.add(pending);
    let status = 0;
    inFlight++;
    const finish = (err: Error | null): void => {
      if (abandoned) return;
      inFlight--;
      pendingSince.delete(pending);
      if (phase === 'measuring' && !err) completedInWindow++;
      if (counted) {
        if (err) {
          errors++;
          firstError ??= `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`;
        } else {
          samples.add(performance.now() - startedAt);
          if (status < 200 || status > 299) non2xx++;
        }
      }
      onDone();
      if (phase === 'after' && inFlight === 0) settle();
    };
    pool.dispatch(
      { path: request.path, method: 'GET', headers: request.headers },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData() {},
        onResponseEnd() {
          finish(null);
        },
        onResponseError(_controller, err) {
          finish(err);
        },
      },
    );
  };

  const runStartedAt = performance.now();
  let ticker: NodeJS.Timeout | null = null;
  if (plan.rate === null) {
    // Closed loop: each connection's worth of concurrency sends again the moment its answer ends.
    const loop = (): void => {
      if (phase !== 'after') send(loop);
    };
    for (let i = 0; i < plan.connections; i++) loop();
  } else {
    // Open loop: requests leave on schedule whether or not earlier ones have answered, so a slow proxy shows up
    // as latency (queueing included) instead of silently lowering the offered rate.
    const rate = plan.rate;
    let sent = 0;
    ticker = setInterval(() => {
      if (phase === 'after') return;
      const due = Math.floor(((performance.now() - runStartedAt) * rate) / 1000);
      while (sent < due) {
        sent++;
        send(() => {});
      }
    }, TICK_MS);
  }

  await new Promise<void>((resolve) => setTimeout(resolve, plan.warmupMs));
  phase = 'measuring';
  windowStart = performance.now();
  cpuAtStart = process.cpuUsage();
  report({ type: 'measuring' });

  await new Promise<void>((resolve) => setTimeout(resolve, plan.durationMs));
  phase = 'after';
  windowEnd = performance.now();
  cpuInWindow = process.cpuUsage(cpuAtStart);
  report({ type: 'measured' });
  if (ticker) clearInterval(ticker);
  if (inFlight === 0) settle();
  const drainTimer = setTimeout(settle, DRAIN_LIMIT_MS);
  await settled;
  clearTimeout(drainTimer);
  if (inFlight > 0) {
    abandoned = true;
    const now = performance.now();
    for (const { startedAt } of pendingSince) samples.add(now - startedAt);
    unfinished = pendingSince.size;
    await pool.destroy();
  } else {
    await pool.close();
  }

  const durationMs = windowEnd - windowStart;
  const latency = samples.summary();
  return {
    mode: plan.rate === null ? 'max' : 'fixed-rate',
    targetRate: plan.rate,
    requests: completedInWindow,
    non2xx,
    errors,
    firstError,
    unfinished,
    durationMs,
    rps: (completedInWindow * 1000) / durationMs,
    latency,
    generatorCpuShare: (cpuInWindow.user + cpuInWindow.system) / 1000 / durationMs,
  };
}

// Only act as a generator when forked with an IPC channel; importing this file (tests) runs nothing. The bench
// sends one `start` at a time and waits for its `done`; one process serves a whole run, so no run pays for
// starting node and loading undici.
if (process.send) {
  // A bench that dies without cleaning up closes the channel; never outlive it.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: StartMessage) => {
    generate(message.plan).then(
      (result) => report({ type: 'done', result }),
      (err: unknown) => report({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
