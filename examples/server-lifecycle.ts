// Starting and stopping the example servers. `server.close()` alone waits for every open connection, and an SSE
// stream or a WebSocket never ends by itself, so stopping also cuts those: the examples must stop promptly when a
// test or the proxy's `npm start` shuts down.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const closeHooks = new WeakMap<Server, Array<() => void>>();

/** Registers work `closeServer` must do for connections node no longer tracks (upgraded WebSocket sockets). */
export function onServerClose(server: Server, hook: () => void): void {
  const hooks = closeHooks.get(server) ?? [];
  hooks.push(hook);
  closeHooks.set(server, hooks);
}

/** Listens and resolves with the server's base URL (`http://127.0.0.1:3001`); port 0 picks a free port. */
export function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePromise(urlOf(server));
    });
  });
}

export function urlOf(server: Server): string {
  const address = server.address() as AddressInfo | string | null;
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Stops accepting, then ends every connection, streaming ones included, and resolves once the server is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    if (!server.listening) {
      resolvePromise();
      return;
    }
    server.close((err) => (err ? reject(err) : resolvePromise()));
    for (const hook of closeHooks.get(server) ?? []) hook();
    server.closeAllConnections();
  });
}

/** True when the module whose `import.meta.url` is given is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && resolve(script) === fileURLToPath(importMetaUrl);
}

/** Reads a TCP port from the environment; a malformed value stops the program rather than binding somewhere odd. */
export function portFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${name} must be a port number, got "${raw}"`);
  return port;
}

/** Keeps a started program running until SIGINT/SIGTERM (a container's stop signal), then stops it cleanly. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`examples: failed to stop after ${signal}`, err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
