// The reference proxies written in Node, each a script in servers/ run in its own process:
// - `bare-http-proxy`: fastify (logger off) + @fastify/http-proxy with its defaults, the baseline rf-edge is held to;
// - `node-floor`: node:http + one undici Pool, raw headers both ways, nothing else: what the edge's stack costs
//   before any of its features (rf-edge's figure over this one is what routing, flags, logging and metrics cost).
import { fileURLToPath } from 'node:url';
import { launchScript, stopChild, waitForMessage } from '../child-processes.ts';
import type { Target } from './target.ts';
import { portFromListening } from './upstream.ts';

export type NodeProxyName = 'bare-http-proxy' | 'node-floor';

const PROXIES: Record<NodeProxyName, { script: string; label: string; description: string }> = {
  'bare-http-proxy': {
    script: '../servers/bare-http-proxy-server.ts',
    label: 'bare @fastify/http-proxy',
    description: 'fastify (logger off) + @fastify/http-proxy defaults',
  },
  'node-floor': {
    script: '../servers/node-floor-server.ts',
    label: 'node floor',
    description: 'node:http + undici Pool.dispatch, raw headers, no features',
  },
};

export async function startNodeProxy(name: NodeProxyName, upstreamOrigin: string, logFile?: string): Promise<Target> {
  const proxy = PROXIES[name];
  const script = fileURLToPath(new URL(proxy.script, import.meta.url));
  const child = launchScript(script, [upstreamOrigin], logFile ? { logFile } : {});
  try {
    const port = await waitForMessage(child, portFromListening, 15_000, proxy.label);
    return {
      name,
      description: proxy.description,
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

export function startBareHttpProxy(upstreamOrigin: string, logFile?: string): Promise<Target> {
  return startNodeProxy('bare-http-proxy', upstreamOrigin, logFile);
}
