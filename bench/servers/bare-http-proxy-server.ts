// The baseline: @fastify/http-proxy with its defaults and fastify's logger off, the least a fastify proxy can do.
// rf-edge is held to a share of this one's throughput. Forked by the bench with the upstream URL as argument.
import httpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const upstream = process.argv[2];
if (!upstream) throw new Error('usage: bare-http-proxy-server.ts <upstream-url>');

const app = Fastify({ logger: false });
await app.register(httpProxy, { upstream });
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });

process.on('disconnect', () => {
  void app.close().finally(() => process.exit(0));
});
