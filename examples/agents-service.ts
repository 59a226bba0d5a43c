// The agents service extracted from the monolith. It speaks its own contract, v2 (agents-v2-endpoints.ts:
// `/v2/agents`, displayName, state, epoch-ms timestamps, cursor paging, its own error envelope); v1 clients reach it
// through the edge's adapter (legacy-adapter/agents-v1.yaml). `contract: 'v1'` makes it answer the monolith's
// agents contract instead (the very same endpoint code), standing for a service extracted as-is: the rollout tests
// use it, since what they exercise is the rollout, not the translation. It answers `x-served-by: agents-service`. It carries test-only fault knobs so the rollout tests can make it fail
// or slow down on demand: `POST /__faults` `{ "errorRate", "latencyMs", "status", "closeConnection" }`,
// `DELETE /__faults`, `GET /__faults` for the counters, or `createAgentsService({ faults })` in-process.
//
// Run alone: `node --import tsx examples/agents-service.ts` (PORT, default 3002; HOST, default 127.0.0.1).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AgentStore } from './agents-data.ts';
import { handleAgentsRequest } from './agents-endpoints.ts';
import { handleAgentsV2Request } from './agents-v2-endpoints.ts';
import { applyFault, type FaultInjector, type FaultSettings, handleFaultsAdmin, toFaultInjector } from './faults.ts';
import { answerFailure, sendError, sendJson, splitTarget } from './respond.ts';
import { closeServer, isMain, listen, portFromEnv, stopOnSignals } from './server-lifecycle.ts';

export const AGENTS_SERVED_BY = 'agents-service';

export interface AgentsServiceOptions {
  /** Clock for createdAt/updatedAt; tests comparing it with the monolith byte for byte pass a fixed one. */
  readonly now?: () => number;
  /** Faults active from the start; pass a FaultInjector to keep a handle and change them while the server runs. */
  readonly faults?: FaultInjector | Partial<FaultSettings>;
  /** Pause between CSV export chunks (default 30 ms). */
  readonly exportChunkDelayMs?: number;
  /** `v2` (default): the service's own contract; `v1`: the monolith's agents contract, byte for byte. */
  readonly contract?: 'v1' | 'v2';
}

export function createAgentsService(options: AgentsServiceOptions = {}): Server {
  const faults = toFaultInjector(options.faults);
  const agents = {
    store: new AgentStore(options.now === undefined ? {} : { now: options.now }),
    ...(options.exportChunkDelayMs === undefined ? {} : { exportChunkDelayMs: options.exportChunkDelayMs }),
  };

  const handle = options.contract === 'v1' ? handleAgentsRequest : handleAgentsV2Request;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-served-by', AGENTS_SERVED_BY);
    const { path } = splitTarget(req.url ?? '/');
    if (path === '/healthz') return sendJson(req, res, 200, { status: 'ok', service: AGENTS_SERVED_BY });
    if (path === '/__faults') return handleFaultsAdmin(faults, req, res);
    if (await applyFault(faults, req, res)) return;
    if (await handle(agents, req, res)) return;
    sendError(req, res, 404, 'not_found', `nothing at ${req.method} ${path}`);
  }

  // Node answers `Expect: 100-continue` itself when no checkContinue listener is set, which is what this service
  // wants: it has no upload to refuse early.
  return createServer((req, res) => {
    route(req, res).catch((err: unknown) => answerFailure(req, res, err));
  });
}

if (isMain(import.meta.url)) {
  const server = createAgentsService();
  const url = await listen(server, portFromEnv('PORT', 3002), process.env['HOST'] || '127.0.0.1');
  console.log(`agents-service listening on ${url}`);
  stopOnSignals(() => closeServer(server));
}
