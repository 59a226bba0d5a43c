// The origin every target forwards to: a plain node:http server answering every request with the same ~1 KB body,
// so that what differs between targets is only what sits in front of it. Forked by the bench; reports its port
// over IPC and exits when the bench goes away.
import { createServer } from 'node:http';
import { benchBody } from './bench-body.ts';

const body = benchBody();

// The adapted route's service answer: about 1 KB of v2-shaped JSON (a page of agents) for the adapter to reshape.
const V2_PAGE = Buffer.from(
  JSON.stringify({
    data: Array.from({ length: 6 }, (_, i) => ({
      id: `agt_${String(i + 1).padStart(4, '0')}`,
      displayName: `Bench agent number ${i + 1}`,
      description: 'An agent the bench reshapes',
      state: i % 2 === 0 ? 'ACTIVE' : 'PAUSED',
      tools: ['search'],
      timestamps: { created: 1705311000000 + i, updated: 1709388300000 + i },
    })),
    nextCursor: null,
    totalCount: 6,
  }),
);

const server = createServer((req, res) => {
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  const answer = req.url?.startsWith('/bench/v2/') ? V2_PAGE : body;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
  res.end(answer);
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
