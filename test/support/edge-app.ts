// The whole edge in the test process, as `rf-edge start` builds it (createEdge: flags, state store, audit trail,
// controller, edge and admin listeners, route table watcher), on port 0 with a routes.yaml and DATA_DIR in a
// temporary directory. Flags come from the repository's flags/ directory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CreateEdgeOptions, createEdge, type EdgeHandle } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { type CapturedLog, captureLog } from './log-capture.ts';

export const repoFlagsDir = fileURLToPath(new URL('../../flags', import.meta.url));

export interface EdgeApp {
  readonly edge: EdgeHandle;
  readonly url: string;
  readonly adminUrl: string;
  readonly dir: string;
  readonly routesFile: string;
  readonly logs: CapturedLog;
  /** Replaces routes.yaml the way an editor saving in place does. */
  writeRoutes(text: string): Promise<void>;
  /** Closes the edge and removes the temporary directory. */
  close(): Promise<void>;
}

export interface StartEdgeAppOptions extends Omit<CreateEdgeOptions, 'log'> {
  /** Extra environment (ADMIN_TOKEN, …); PORT, ADMIN_PORT, ROUTES_FILE, FLAGS_DIR and DATA_DIR are set here. */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startEdgeApp(routesYaml: string, options: StartEdgeAppOptions = {}): Promise<EdgeApp> {
  const dir = await mkdtemp(join(tmpdir(), 'rf-edge-app-'));
  const routesFile = join(dir, 'routes.yaml');
  await writeFile(routesFile, routesYaml);
  const env = loadEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    ADMIN_HOST: '127.0.0.1',
    ROUTES_FILE: routesFile,
    FLAGS_DIR: repoFlagsDir,
    DATA_DIR: join(dir, 'data'),
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...options.env,
  });
  const logs = captureLog('info');
  const { env: _env, ...edgeOptions } = options;
  let edge: EdgeHandle;
  try {
    edge = await createEdge(env, { processMetrics: false, ...edgeOptions, log: logs.log });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    edge,
    url: `http://127.0.0.1:${edge.port}`,
    adminUrl: `http://127.0.0.1:${edge.adminPort}`,
    dir,
    routesFile,
    logs,
    writeRoutes: (text) => writeFile(routesFile, text),
    close: async () => {
      await edge.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
