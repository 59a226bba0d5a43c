// Starts the example monolith and agents service side by side: `npm run examples` runs it alone, and the proxy's
// `npm start` (rf-edge start --with-examples) calls `startExamples` in-process before it starts the edge, so a fresh
// clone has something real to route to.
import type { Server } from 'node:http';
import { type AgentsServiceOptions, createAgentsService } from './agents-service.ts';
import { createMonolith, type MonolithOptions } from './monolith.ts';
import { closeServer, isMain, listen, portFromEnv, stopOnSignals } from './server-lifecycle.ts';

export interface StartExamplesOptions {
  /** Default: MONOLITH_PORT, else 3001. 0 picks a free port. */
  readonly monolithPort?: number;
  /** Default: AGENTS_PORT, else 3002. 0 picks a free port. */
  readonly agentsPort?: number;
  /** Default: EXAMPLES_HOST, else 127.0.0.1 (the examples are demo apps; keep them off other interfaces). */
  readonly host?: string;
  /** Do not print where the examples listen (the caller prints its own summary). */
  readonly quiet?: boolean;
  readonly monolith?: MonolithOptions;
  readonly agents?: AgentsServiceOptions;
}

export interface RunningExamples {
  readonly monolithUrl: string;
  readonly agentsUrl: string;
  readonly monolith: Server;
  readonly agents: Server;
  /** Stops both servers, open streams and WebSockets included. */
  close(): Promise<void>;
}

export async function startExamples(options: StartExamplesOptions = {}): Promise<RunningExamples> {
  const host = options.host ?? (process.env['EXAMPLES_HOST'] || '127.0.0.1');
  const monolith = createMonolith(options.monolith);
  const agents = createAgentsService(options.agents);
  const close = async (): Promise<void> => {
    await Promise.all([closeServer(monolith), closeServer(agents)]);
  };
  let monolithUrl: string;
  let agentsUrl: string;
  try {
    monolithUrl = await listenAs(
      'monolith',
      monolith,
      options.monolithPort ?? portFromEnv('MONOLITH_PORT', 3001),
      host,
    );
    agentsUrl = await listenAs('agents service', agents, options.agentsPort ?? portFromEnv('AGENTS_PORT', 3002), host);
  } catch (err) {
    await close();
    throw err;
  }
  const running = { monolithUrl, agentsUrl, monolith, agents, close };
  if (options.quiet !== true) console.log(describeExamples(running));
  return running;
}

/** The "what is where" summary printed at start. */
export function describeExamples({ monolithUrl, agentsUrl }: Pick<RunningExamples, 'monolithUrl' | 'agentsUrl'>) {
  return [
    'raptorflow examples:',
    `  monolith        ${monolithUrl}  (agents, analytics, auth, notifications, files, echo; x-served-by: monolith)`,
    `  agents service  ${agentsUrl}  (agents; x-served-by: agents-service; test faults at POST/DELETE /__faults)`,
  ].join('\n');
}

async function listenAs(name: string, server: Server, port: number, host: string): Promise<string> {
  try {
    return await listen(server, port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use (set MONOLITH_PORT / AGENTS_PORT)' : String(err);
    throw new Error(`example ${name} could not listen on ${host}:${port}: ${why}`, { cause: err });
  }
}

if (isMain(import.meta.url)) {
  const running = await startExamples();
  stopOnSignals(() => running.close());
}
