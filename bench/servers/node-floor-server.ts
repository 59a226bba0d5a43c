// The floor of the edge's stack: node:http's server and one undici Pool per upstream, forwarding raw headers both
// ways with dispatch(), and nothing else (no routing, flags, log line, metrics, timeouts or error handling). What
// rf-edge spends above this one is the cost of its features; what this one spends above nginx is Node's.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2];
if (!upstream) throw new Error('usage: node-floor-server.ts <upstream-url>');
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });

function forward(req: IncomingMessage, res: ServerResponse): void {
  pool.dispatch(
    { method: req.method as 'GET', path: req.url ?? '/', headers: req.rawHeaders, body: null },
    {
      onConnect() {},
      onHeaders(statusCode: number, rawHeaders: Buffer[]) {
        const headers: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = String(rawHeaders[i]);
          if (name.length === 10 && name.toLowerCase() === 'connection') continue;
          headers.push(name, String(rawHeaders[i + 1]));
        }
        res.writeHead(statusCode, headers);
        return true;
      },
      onData(chunk: Buffer) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError() {
        res.destroy();
      },
    },
  );
}

const server = createServer(forward);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('disconnect', () => {
  server.close();
  void pool.close().finally(() => process.exit(0));
});
// A clean exit on SIGTERM (the bench's stop) so `--cpu-prof` can write its profile.
process.on('SIGTERM', () => process.exit(0));
