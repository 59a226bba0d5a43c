// Real HTTP upstreams for integration tests: node:http servers on port 0 that record what reached them.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  /** The request target exactly as the upstream's parser saw it. */
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
  readonly remotePort: number;
}

export interface TestUpstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Every request that reached this upstream, in arrival order. */
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Starts an upstream on 127.0.0.1:0; `handler` answers (default: the echo handler). */
export async function startUpstream(name: string, handler: UpstreamHandler = echoHandler(name)): Promise<TestUpstream> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      remotePort: req.socket.remotePort ?? 0,
    });
    handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface EchoBody {
  readonly upstream: string;
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly bodyBytes: number;
  readonly bodySha256: string;
}

/**
 * Reads the request body to its end without keeping it, then calls `done` with its size and sha256 (hex): enough
 * to show a body arrived whole and unchanged, whatever its size.
 */
export function digestBody(req: IncomingMessage, done: (digest: { bytes: number; sha256: string }) => void): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => done({ bytes, sha256: hash.digest('hex') }));
}

/** Answers every request with what it received (method, raw target, raw headers, body size and hash). */
export function echoHandler(name: string): UpstreamHandler {
  return (req, res) => {
    digestBody(req, ({ bytes, sha256 }) => {
      const body: EchoBody = {
        upstream: name,
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        bodyBytes: bytes,
        bodySha256: sha256,
      };
      const text = JSON.stringify(body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    });
  };
}

/** Value of header `name` (case-insensitive) in a raw header list; all values when repeated. */
export function rawHeaderValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]!);
  }
  return out;
}

export interface Blackhole {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * An address whose TCP handshakes never complete, for connect timeouts: a child process listens with a backlog of
 * one and then blocks its event loop, so it never accepts; two connections fill the kernel's accept queue and every
 * later SYN is dropped. (Non-routable addresses are no use: sandboxes and CI networks answer them.)
 */
export async function startBlackhole(): Promise<Blackhole> {
  const script = [
    "const net = require('node:net');",
    'const srv = net.createServer();',
    "srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {",
    "  process.stdout.write(srv.address().port + '\\n');",
    '  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20);',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  await new Promise((r) => setTimeout(r, 100));
  const fillers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
