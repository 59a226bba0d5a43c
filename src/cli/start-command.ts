// `rf-edge start`: run the edge until SIGTERM/SIGINT, reload the route table on SIGHUP.

import { createEdge } from '../app.ts';
import type { EdgeEnv } from '../config/env.ts';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function runEdge({ env, withExamples, io }: { env: EdgeEnv; withExamples: boolean; io: Io }) {
  let stopExamples: (() => Promise<void>) | undefined;
  if (withExamples) {
    const { startExamples } = await import('../../examples/start-examples.ts');
    const examples = await startExamples({
      monolithPort: Number(process.env['MONOLITH_PORT'] ?? 3001),
      agentsPort: Number(process.env['AGENTS_PORT'] ?? 3002),
      quiet: true,
    });
    stopExamples = () => examples.close();
    io.err(`example monolith        ${examples.monolithUrl}`);
    io.err(`example agents service  ${examples.agentsUrl}`);
  }

  let edge: Awaited<ReturnType<typeof createEdge>>;
  try {
    edge = await createEdge(env);
  } catch (err) {
    // The example servers keep the event loop alive: without this, a bad routes.yaml or a busy port would leave
    // `npm start` hanging after printing the error instead of exiting 1.
    await stopExamples?.();
    throw err;
  }
  const shownHost = env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST;
  io.err(
    `rf-edge proxy           http://${shownHost}:${edge.port}  (routes: ${env.ROUTES_FILE}, config ${edge.table().hash})`,
  );
  io.err(`rf-edge admin           http://${env.ADMIN_HOST}:${edge.adminPort}  (dashboard /, /metrics, /api/routes)`);
  for (const route of edge.table().routes) {
    io.err(
      `  ${route.id.padEnd(20)} ${(route.methods ?? ['*']).join(',').padEnd(16)} ${route.path.padEnd(22)} ${route.mode} → ${route.service}`,
    );
  }
  io.err(`  (everything else)    → ${edge.table().legacy}`);

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      edge.log.info({ event: 'edge.stopping', signal }, 'stopping: draining in-flight requests');
      edge
        .close()
        .then(() => stopExamples?.())
        .then(
          () => {
            edge.log.info({ event: 'edge.stopped', signal }, 'stopped');
            resolve(0);
          },
          (err) => {
            edge.log.error({ event: 'edge.stop_failed', err }, 'stop failed');
            resolve(1);
          },
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      edge.log.info({ event: 'config.reload_requested', signal: 'SIGHUP' }, 'SIGHUP: reloading the route table');
      edge.reload().catch((err) => edge.log.error({ event: 'config.reload_failed', err }, 'reload failed'));
    });
  });
}
