// A real TCP relay between a client and a server that a test can cut and restore, to take Redis or PostgreSQL
// away from the code under test without stopping the machine's servers (other test files share them).
import { connect, createServer, type Socket } from 'node:net';

export interface TcpRelay {
  /** The relay's port on 127.0.0.1. */
  readonly port: number;
  /** Resets every open connection and every new one until `restore()`. */
  cut(): void;
  restore(): void;
  /** Connections currently relayed. */
  connections(): number;
  close(): Promise<void>;
}

function reset(socket: Socket): void {
  if (socket.destroyed) return;
  // A socket that already sent its FIN cannot be reset: libuv refuses, and Node then leaks the handle, which keeps
  // the process alive. It is closing anyway; let it finish.
  if (socket.writableEnded || socket.connecting) {
    socket.destroy();
    return;
  }
  // A TCP RST, like a dead link or a refusing host; plain destroy() would send a polite FIN.
  socket.resetAndDestroy();
}

export async function startTcpRelay(targetHost: string, targetPort: number): Promise<TcpRelay> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let isCut = false;

  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (isCut) {
      reset(client);
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort });
    upstream.on('error', () => undefined);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no TCP address');

  return {
    port: address.port,
    cut() {
      isCut = true;
      for (const { client, upstream } of pairs) {
        reset(client);
        reset(upstream);
      }
      pairs.clear();
    },
    restore() {
      isCut = false;
    },
    connections: () => pairs.size,
    async close() {
      for (const { client, upstream } of pairs) {
        reset(client);
        reset(upstream);
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
