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
  /** Answers (any status) that arrived during the measured window: the throughput, and the divisor of CPU time. */
  readonly requests: number;
  /** Of the requests sent during the window: answers with a status outside 2xx. */
  readonly non2xx: number;
  /** Of the requests sent during the window: transport failures (refused, reset, timeout). */
  readonly errors: number;
  readonly firstError: string | null;
  /**
   * Requests sent in the window still unanswered when the generator stopped waiting. Their wait so far is in the
   * latency figures, which are then lower bounds.
   */
  readonly unfinished: number;
  readonly durationMs: number;
  /** `requests` per second of the measured window. */
  readonly rps: number;
  /** Of the requests sent during the window, from hand-over to the connection pool to the answer's last byte. */
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
