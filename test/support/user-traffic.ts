// Many distinct users through a running edge, counted by who answered (`x-served-by`). Requests go over one
// keep-alive pool so a sweep of thousands of users takes a second or two, not a connection per request.

import { Pool } from 'undici';

export interface UserRequest {
  readonly path: string;
  readonly headers?: Record<string, string>;
}

export interface UserAnswer {
  readonly status: number;
  /** The `x-served-by` header: `monolith` or `agents-service` for the example servers, null when absent. */
  readonly servedBy: string | null;
  readonly body: string;
}

export interface UserTraffic {
  /** Sends every request (at most `connections` at a time) and answers in the same order. */
  send(requests: readonly UserRequest[]): Promise<UserAnswer[]>;
  close(): Promise<void>;
}

export function userTraffic(baseUrl: string, connections = 16): UserTraffic {
  const pool = new Pool(baseUrl, { connections, pipelining: 1 });
  return {
    async send(requests) {
      const answers = new Array<UserAnswer>(requests.length);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < requests.length; i = next++) {
          const request = requests[i] as UserRequest;
          const res = await pool.request({ method: 'GET', path: request.path, headers: request.headers ?? {} });
          const body = await res.body.text();
          const servedBy = res.headers['x-served-by'];
          answers[i] = { status: res.statusCode, servedBy: typeof servedBy === 'string' ? servedBy : null, body };
        }
      };
      await Promise.all(Array.from({ length: Math.min(connections, requests.length) }, worker));
      return answers;
    },
    close: () => pool.close(),
  };
}

export interface SteadyLoad {
  /** Answers so far, by `x-served-by` (`none` when absent) and status class, e.g. `agents-service 5xx`. */
  counts(): Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Requests as fast as `connections` allow, each from a new user (`x-user-id: <prefix>-<n>`), until stopped: the
 * stream of evidence the rollout judge works from. Failed answers are counted, never thrown.
 */
export function steadyLoad(
  baseUrl: string,
  path: string,
  options: { connections?: number; prefix?: string } = {},
): SteadyLoad {
  const connections = options.connections ?? 4;
  const prefix = options.prefix ?? 'load-user';
  const pool = new Pool(baseUrl, { connections, pipelining: 1 });
  const counts: Record<string, number> = {};
  let running = true;
  let n = 0;
  const count = (key: string) => {
    counts[key] = (counts[key] ?? 0) + 1;
  };
  const worker = async () => {
    while (running) {
      try {
        const res = await pool.request({ method: 'GET', path, headers: { 'x-user-id': `${prefix}-${n++}` } });
        await res.body.dump();
        const servedBy = res.headers['x-served-by'];
        count(`${typeof servedBy === 'string' ? servedBy : 'none'} ${Math.floor(res.statusCode / 100)}xx`);
      } catch {
        count('transport-error');
        // A refused connection fails at once: do not spin.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const workers = Array.from({ length: connections }, worker);
  return {
    counts: () => ({ ...counts }),
    async stop() {
      running = false;
      await Promise.all(workers);
      await pool.close();
    },
  };
}
