// What the bench asks the load generator to do and what it reports back, over the child process's IPC channel.
import type { LatencySummary } from './latency-stats.ts';

export interface LoadPlan {
  /** Origin to load, e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  /** Request paths, used in turn so that every target sees the same mix. */
  readonly paths: readonly string[];
  /** Distinct `x-user-id` values, used in turn, so a proxy's sticky bucketing sees many users. 0: no header. */
  readonly users: number;
  /** Keep-alive connections the generator opens. */
  readonly connections: number;
  /** Requests before measuring starts; they warm JIT, pools and caches and are not counted. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /**
   * Null: closed loop, every connection sends its next request as soon as the previous answer ends (maximum
   * throughput). A number: open loop at this many requests per second, whatever the answers do.
   */
  readonly rate: number | null;
}

export interface LoadResult {
  readonly mode: 'max' | 'fixed-rate';
  readonly targetRate: number | null;
  /** Requests sent during the measured window that completed with any status. */
  readonly requests: number;
  /** Answers with a status outside 2xx. */
  readonly non2xx: number;
  /** Transport failures (refused, reset, timeout). */
  readonly errors: number;
  readonly firstError: string | null;
  readonly durationMs: number;
  /** Completed requests per second of the measured window. */
  readonly rps: number;
  readonly latency: LatencySummary;
  /** The generator's own CPU time over wall time in the measured window; near 1 means it was the bottleneck. */
  readonly generatorCpuShare: number;
}

/** Generator → bench. `measuring` and `measured` mark the window so the bench can read CPU counters at its edges. */
export type GeneratorMessage =
  | { readonly type: 'measuring' }
  | { readonly type: 'measured' }
  | { readonly type: 'done'; readonly result: LoadResult }
  | { readonly type: 'failed'; readonly message: string };

/** Bench → generator. */
export interface StartMessage {
  readonly type: 'start';
  readonly plan: LoadPlan;
}
