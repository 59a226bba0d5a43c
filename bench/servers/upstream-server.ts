// The origin every target forwards to: a plain node:http server answering every request with the same ~1 KB body,
// so that what differs between targets is only what sits in front of it. Forked by the bench; reports its port
// over IPC and exits when the bench goes away.
import { createServer } from 'node:http';
import { benchBody } from './bench-body.ts';

const body = benchBody();

const server = createServer((req, res) => {
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
// Longer than any run, so idle pooled connections from the proxies are never closed mid-benchmark.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ type: 'listening', port });
});

process.on('disconnect', () => process.exit(0));
