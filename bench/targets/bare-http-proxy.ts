// @fastify/http-proxy with defaults and no logging, in its own process: the baseline rf-edge is measured against.
import { fileURLToPath } from 'node:url';
import { launchScript, stopChild, waitForMessage } from '../child-processes.ts';
import type { Target } from './target.ts';
import { portFromListening } from './upstream.ts';

const script = fileURLToPath(new URL('../servers/bare-http-proxy-server.ts', import.meta.url));

export async function startBareHttpProxy(upstreamOrigin: string, logFile?: string): Promise<Target> {
  const child = launchScript(script, [upstreamOrigin], logFile ? { logFile } : {});
  try {
    const port = await waitForMessage(child, portFromListening, 15_000, 'bare @fastify/http-proxy');
    return {
      name: 'bare-http-proxy',
      description: 'fastify (logger off) + @fastify/http-proxy defaults',
      origin: `http://127.0.0.1:${port}`,
      pid: child.pid ?? null,
      evidence: async () => ({}),
      stop: () => stopChild(child),
    };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}
