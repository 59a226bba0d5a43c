// An edge in its own process, for tests that measure it from outside (memory while hundreds of MiB stream through)
// or stop it the way production does (SIGTERM). Started by startEdgeProcess in test/support/edge.ts.
//
// Input: the table spec as JSON in RF_EDGE_SPEC. Output: pino lines on stdout (the edge's own log), and over the
// IPC channel { ready: port } once listening, { memory } samples when RF_EDGE_SAMPLE_MS is set, { closed } at exit.
import { createLogger } from '../../src/adapters/logger.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { createEdgeServer } from '../../src/http/edge-server.ts';
import { makeTable, prefixRouting, type TableSpec } from './edge.ts';

const spec = JSON.parse(process.env['RF_EDGE_SPEC'] ?? '{}') as TableSpec & { shutdownTimeoutMs?: number };
const send = (message: unknown) => process.send?.(message);

const table = makeTable(spec);
const routing = prefixRouting(table, spec.routes ?? []);
const edge = await createEdgeServer({
  log: createLogger('info'),
  metrics: createMetrics({ processMetrics: false }),
  routing: () => routing,
  recordOutcome: () => {},
  shutdownTimeoutMs: spec.shutdownTimeoutMs ?? 5_000,
});
const { port } = await edge.listen(Number(process.env['RF_EDGE_PORT'] ?? 0), '127.0.0.1');

const sampleMs = Number(process.env['RF_EDGE_SAMPLE_MS'] ?? 0);
const sampler =
  sampleMs > 0
    ? setInterval(() => {
        // A scavenge first (cheap: young generation only), so Buffers already dropped do not read as held. Node 22+
        // scavenges lazily while the heap is small: without it, 300 MiB streamed on Node 24 showed ~68 MiB of dead
        // Buffers that one minor GC frees. What survives it is memory the edge really holds.
        (globalThis as { gc?: (options?: { type: 'minor' }) => void }).gc?.({ type: 'minor' });
        const m = process.memoryUsage();
        send({ memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers } });
      }, sampleMs)
    : null;

process.once('SIGTERM', () => {
  const started = Date.now();
  edge.close().then(
    () => {
      if (sampler) clearInterval(sampler);
      send({ closed: { ms: Date.now() - started } });
      process.disconnect?.();
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});

send({ ready: port });
