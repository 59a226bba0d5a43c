// `rf-edge`: start the edge, validate a route table, and drive rollouts through a running edge's admin API.
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { loadEnv } from '../config/env.ts';
import { isEdgeError } from '../core/errors.ts';
import { AdminCallError, adminBaseUrl, adminCall } from './admin-client.ts';
import {
  type DiffCliView,
  formatDiff,
  formatHistory,
  formatRoutes,
  formatSuggest,
  type HistoryView,
  type RoutesView,
  type RouteView,
} from './format.ts';

const USAGE = `Usage: rf-edge <command> [options]

Commands:
  start [--with-examples]          run the edge (PORT, ADMIN_PORT, ROUTES_FILE, … from the environment);
                                   --with-examples also starts the bundled example monolith and agents service
  validate [file]                  check a route table (default ROUTES_FILE); exit 1 with file:line:col per problem
  status                           routes, their phase and weight, from the running edge
  pause <route> [--reason …]       hold the route at its current weight
  resume <route> [--reason …]      continue a paused route; restart a rolled-back route from its first step
  promote <route> [--reason …]     send 100% of the route to the service
  rollback <route> [--reason …]    send the route back to the monolith and keep it there
  set-weight <route> <percent>     pin the share of users sent to the service
  history <route> [--limit N]      the route's audit trail, newest first
  diff <route>                     shadow comparison: match/noise/mismatch counts, fields (raw vs noise), examples
  diff suggest <route>             the shadow.rules the learned noise justifies, ready to paste
  judge replay <route> [--from T] [--to T] [--routes F]
                                   re-run the judge over the seconds the edge recorded (DATA_DIR or
                                   DATABASE_URL) and print its decisions and why, under the route's policy in
                                   ROUTES_FILE or a candidate file F; T is an ISO time or epoch seconds
  flags push [--dir D]             import flags/ into Unleash (UNLEASH_URL, UNLEASH_ADMIN_TOKEN)
  flags pull [--file F]            export Unleash's flags into flags/ (UNLEASH_URL, UNLEASH_ADMIN_TOKEN)

Options for commands that talk to a running edge:
  --admin-url URL                  default http://ADMIN_HOST:ADMIN_PORT
  --token T                        default ADMIN_TOKEN
  --json                           print the server's JSON
`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const stdio: Out = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

function parseCommandLine(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      reason: { type: 'string' },
      limit: { type: 'string' },
      'admin-url': { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      'with-examples': { type: 'boolean', default: false },
      dir: { type: 'string' },
      file: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      routes: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

export async function main(argv: readonly string[], io: Out = stdio): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    io.err(`rf-edge: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command || command === 'help') {
    io.out(USAGE);
    return command || values.help ? 0 : 2;
  }

  try {
    // Commands that only talk to a running edge read only the admin variables, so an unrelated bad variable (say a
    // malformed REDIS_URL meant for the server) does not stop an operator from pausing a route.
    const adminOnly = !['start', 'validate', 'flags', 'judge'].includes(command);
    const env = loadEnv(
      adminOnly
        ? {
            ADMIN_HOST: process.env['ADMIN_HOST'],
            ADMIN_PORT: process.env['ADMIN_PORT'],
            ADMIN_TOKEN: process.env['ADMIN_TOKEN'],
          }
        : process.env,
    );
    switch (command) {
      case 'start': {
        const { runEdge } = await import('./start-command.ts');
        return await runEdge({ env, withExamples: values['with-examples'] ?? false, io });
      }
      case 'validate': {
        const [{ formatProblems, loadRouteTableFile }, { readFlagsDir }, { adapterDir, loadAdapters }] =
          await Promise.all([
            import('../config/load-route-table.ts'),
            import('../adapters/flags/flags-files.ts'),
            import('../config/load-adapters.ts'),
          ]);
        const file = args[0] ?? env.ROUTES_FILE;
        const flags = await readFlagsDir(env.FLAGS_DIR);
        const knownFlags = new Set(flags.features.map((f) => f.name));
        // The adapters beside the table being validated (or ADAPTERS_DIR): their own problems, and the names routes may use.
        const adapters = await loadAdapters(adapterDir({ ROUTES_FILE: file, ADAPTERS_DIR: env.ADAPTERS_DIR }));
        const knownAdapters = new Set(adapters.adapters.keys());
        const result = await loadRouteTableFile(file, { knownFlags, knownAdapters });
        if (!result.ok || flags.problems.length > 0 || adapters.problems.length > 0) {
          io.err(formatProblems([...(result.ok ? [] : result.problems), ...flags.problems, ...adapters.problems]));
          return 1;
        }
        const warnings = [...result.warnings, ...flags.warnings];
        if (warnings.length > 0) io.err(formatProblems(warnings));
        io.out(
          `${file}: ok (${result.table.routes.length} routes, ${result.table.upstreams.size} upstreams, ${adapters.adapters.size} adapter${adapters.adapters.size === 1 ? '' : 's'}, config ${result.table.hash})`,
        );
        return 0;
      }
      case 'flags': {
        const { runFlagsCommand } = await import('./flags-cli.ts');
        return await runFlagsCommand({ env, sub: args[0], dir: values.dir, file: values.file, io });
      }
      case 'judge': {
        const { runJudgeReplay } = await import('./judge-replay-command.ts');
        return await runJudgeReplay({
          env,
          sub: args[0],
          routeId: args[1],
          from: values.from,
          to: values.to,
          routes: values.routes,
          json: values.json ?? false,
          io,
        });
      }
      default:
        break;
    }

    const client = { baseUrl: adminBaseUrl(env, values['admin-url']), token: values.token ?? env.ADMIN_TOKEN };
    const actor = `cli:${safeUser()}`;
    const print = (view: unknown, text: () => string) => io.out(values.json ? JSON.stringify(view, null, 2) : text());
    const needRoute = (): string => {
      const id = args[0];
      if (!id) throw new UsageError(`${command} needs a route id`);
      return id;
    };
    switch (command) {
      case 'status': {
        const view = await adminCall<RoutesView>(client, 'GET', '/api/routes');
        print(view, () => formatRoutes(view));
        return 0;
      }
      case 'pause':
      case 'resume':
      case 'promote':
      case 'rollback': {
        const id = needRoute();
        const view = await adminCall<RouteView>(client, 'POST', `/api/routes/${encodeURIComponent(id)}/${command}`, {
          reason: values.reason ?? `${command} from the command line`,
          actor,
        });
        print(view, () => formatRoutes({ routes: [view] }));
        return 0;
      }
      case 'set-weight': {
        const id = needRoute();
        const weight = Number(args[1]);
        if (args[1] === undefined || !Number.isInteger(weight) || weight < 0 || weight > 100) {
          throw new UsageError('set-weight needs a whole percentage from 0 to 100');
        }
        const view = await adminCall<RouteView>(client, 'PUT', `/api/routes/${encodeURIComponent(id)}/weight`, {
          weight,
          reason: values.reason ?? `weight set to ${weight}% from the command line`,
          actor,
        });
        print(view, () => formatRoutes({ routes: [view] }));
        return 0;
      }
      case 'history': {
        const id = needRoute();
        const limit = values.limit ? `?limit=${encodeURIComponent(values.limit)}` : '';
        const view = await adminCall<HistoryView>(
          client,
          'GET',
          `/api/routes/${encodeURIComponent(id)}/history${limit}`,
        );
        print(view, () => formatHistory(view));
        return 0;
      }
      case 'diff': {
        const suggest = args[0] === 'suggest';
        const id = suggest ? args[1] : args[0];
        if (!id) throw new UsageError(`diff${suggest ? ' suggest' : ''} needs a route id`);
        const view = await adminCall<DiffCliView>(client, 'GET', `/api/routes/${encodeURIComponent(id)}/diff`);
        print(view, () => (suggest ? formatSuggest(view) : formatDiff(view)));
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`rf-edge: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof AdminCallError) {
      io.err(`rf-edge: ${err.code}: ${err.message}`);
      return 1;
    }
    if (isEdgeError(err)) {
      io.err(`rf-edge: ${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

class UsageError extends Error {}

function safeUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
