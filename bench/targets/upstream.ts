// Starts the shared upstream in its own process, so it never competes with a proxy for the same event loop.
import { fileURLToPath } from 'node:url';
import { launchScript, stopChild, waitForMessage } from '../child-processes.ts';

export interface Upstream {
  readonly origin: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL('../servers/upstream-server.ts', import.meta.url));

export function portFromListening(message: unknown): number | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { type, port } = message as { type?: unknown; port?: unknown };
  return type === 'listening' && typeof port === 'number' && port > 0 ? port : undefined;
}

export async function startUpstream(logFile?: string): Promise<Upstream> {
  const child = launchScript(script, [], logFile ? { logFile } : {});
  try {
    const port = await waitForMessage(child, portFromListening, 15_000, 'upstream');
    return { origin: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => stopChild(child) };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}
