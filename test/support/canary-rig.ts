// What the canary and write-back evidence tests share: the example monolith and agents service on port 0 (each with
// a fault knob the test keeps), a temp directory holding flags/ (a copy of the repository's), DATA_DIR and
// routes.yaml, whole edges built by `createEdge` from `loadEnv`, and a client for their admin API. The upstreams
// and the admin client are the rollout harness's. `close()` puts everything away: edges, servers, the temp directory.

import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEdge, type EdgeHandle } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { type CapturedLog, captureLog } from './log-capture.ts';
import {
  ADMIN_TOKEN,
  type AdminClient,
  adminClient,
  type ExampleUpstream,
  startExampleUpstreams,
} from './rollout-harness.ts';

export { ADMIN_TOKEN, MONOLITH, SERVICE } from './rollout-harness.ts';

const REPO_FLAGS = new URL('../../flags/raptorflow.json', import.meta.url);

export interface RigEdge {
  readonly handle: EdgeHandle;
  /** `http://127.0.0.1:<port>` of the edge listener. */
  readonly url: string;
  readonly adminUrl: string;
  readonly admin: AdminClient;
  readonly log: CapturedLog;
  close(): Promise<void>;
}

export interface CanaryRig {
  readonly root: string;
  readonly flagsDir: string;
  readonly dataDir: string;
  readonly routesFile: string;
  readonly monolith: ExampleUpstream;
  readonly agents: ExampleUpstream;
  writeRoutes(text: string): Promise<void>;
  /** An edge on 127.0.0.1 ports 0 over this rig's files; `env` adds or replaces variables. */
  startEdge(env?: Record<string, string>): Promise<RigEdge>;
  close(): Promise<void>;
}

export async function createCanaryRig(label: string): Promise<CanaryRig> {
  const root = await mkdtemp(join(tmpdir(), `rf-edge-${label}-`));
  const flagsDir = join(root, 'flags');
  const dataDir = join(root, 'data');
  const routesFile = join(root, 'routes.yaml');
  await mkdir(flagsDir);
  await copyFile(REPO_FLAGS, join(flagsDir, 'raptorflow.json'));

  const upstreams = await startExampleUpstreams();
  const edges = new Set<RigEdge>();

  return {
    root,
    flagsDir,
    dataDir,
    routesFile,
    monolith: upstreams.monolith,
    agents: upstreams.service,
    writeRoutes: (text) => writeFile(routesFile, text),

    async startEdge(extra = {}) {
      const log = captureLog('info');
      const env = loadEnv({
        PORT: '0',
        HOST: '127.0.0.1',
        ADMIN_PORT: '0',
        ADMIN_HOST: '127.0.0.1',
        ADMIN_TOKEN,
        ROUTES_FILE: routesFile,
        FLAGS_DIR: flagsDir,
        DATA_DIR: dataDir,
        SHUTDOWN_TIMEOUT_MS: '2000',
        INSTANCE_ID: `${label}-edge`,
        ...extra,
      });
      const handle = await createEdge(env, { log: log.log, processMetrics: false });
      const admin = adminClient(handle.adminPort);
      const edge: RigEdge = {
        handle,
        url: `http://127.0.0.1:${handle.port}`,
        adminUrl: admin.url,
        admin,
        log,
        async close() {
          if (!edges.delete(edge)) return;
          await handle.close();
        },
      };
      edges.add(edge);
      return edge;
    },

    async close() {
      for (const edge of [...edges]) await edge.close();
      await upstreams.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * A backend (client) token for `environment` of every project (`*:<environment>.<secret>`), minted through
 * Unleash's admin API: the server helper only creates a `development` one at start.
 */
export async function createBackendToken(unleashUrl: string, adminToken: string, environment: string): Promise<string> {
  const res = await fetch(`${unleashUrl}/admin/api-tokens`, {
    method: 'POST',
    headers: { authorization: adminToken, 'content-type': 'application/json' },
    body: JSON.stringify({ tokenName: `rf-edge-${environment}`, type: 'backend', environment, projects: ['*'] }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`creating a ${environment} token answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { secret: string }).secret;
}
