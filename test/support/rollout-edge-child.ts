// A whole edge (`createEdge`) in a process of its own, configured from the environment like `rf-edge start`, so a
// fleet test can SIGKILL one replica: no close, no lease hand-over, exactly what a crashed machine leaves behind.
// Started by startChildEdge in rollout-harness.ts. Logs go to stdout (pino lines); over IPC it sends
// { ready: { port, adminPort } } once both listeners are up. SIGTERM (or the parent going away) closes it cleanly.
import { createEdge } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';

const leaseTtlMs = Number(process.env['RF_TEST_LEASE_TTL_MS'] ?? 0);
const edge = await createEdge(loadEnv(process.env), {
  processMetrics: false,
  ...(leaseTtlMs > 0 ? { leaseTtlMs } : {}),
});

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  edge.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
// A test runner that dies must not leave replicas holding ports and Redis leases behind.
process.once('disconnect', stop);

process.send?.({ ready: { port: edge.port, adminPort: edge.adminPort } });
