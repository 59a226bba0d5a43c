// The environment the edge runs in, read once at start and checked as a whole: a typo in one variable should not
// hide another, so every problem is listed in one error. Empty values count as unset (compose files write `X=`).

import { hostname } from 'node:os';
import { z } from 'zod';
import { EdgeError } from '../core/errors.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface EdgeEnv {
  readonly PORT: number;
  readonly HOST: string;
  readonly ADMIN_PORT: number;
  readonly ADMIN_HOST: string;
  /** Bearer token for mutating admin calls; absent ⇒ every mutating call is refused. */
  readonly ADMIN_TOKEN: string | undefined;
  readonly ROUTES_FILE: string;
  readonly FLAGS_DIR: string;
  readonly DATA_DIR: string;
  /** legacy-adapter translators; absent ⇒ `legacy-adapter/` beside ROUTES_FILE (adapterDir()). */
  readonly ADAPTERS_DIR?: string | undefined;
  /** Unleash API base, e.g. `http://unleash:4242/api`; absent ⇒ flags come from FLAGS_DIR. */
  readonly UNLEASH_URL: string | undefined;
  readonly UNLEASH_API_TOKEN: string | undefined;
  /** Lets rollbacks switch the flag off in Unleash too. */
  readonly UNLEASH_ADMIN_TOKEN: string | undefined;
  readonly UNLEASH_REFRESH_MS: number;
  readonly UNLEASH_APP_NAME: string;
  /** Absent ⇒ state in memory + DATA_DIR, one replica. */
  readonly REDIS_URL: string | undefined;
  /** Absent ⇒ the audit trail is a file in DATA_DIR. */
  readonly DATABASE_URL: string | undefined;
  readonly LOG_LEVEL: LogLevel;
  /** HMAC secret of the trusted routing override; absent ⇒ override headers/cookies are ignored. */
  readonly EDGE_OVERRIDE_SECRET: string | undefined;
  readonly SHUTDOWN_TIMEOUT_MS: number;
  readonly REDIS_KEY_PREFIX: string;
  /** Names this replica in leases, logs and the audit trail. */
  readonly INSTANCE_ID: string;
}

function integer(min: number, max: number, what: string) {
  return z
    .string()
    .regex(/^\d+$/, `must be ${what}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be ${what}`);
}

function urlWith(protocols: readonly string[], example: string) {
  const message = `must be a URL with scheme ${protocols.map((p) => p.slice(0, -1)).join(' or ')}, like ${example}`;
  return z.string().refine((text) => {
    try {
      return protocols.includes(new URL(text).protocol);
    } catch {
      return false;
    }
  }, message);
}

const port = integer(0, 65_535, 'a port number 0..65535');
const nonEmpty = z.string().min(1);

const envSchema = z.object({
  PORT: port.default(8080),
  HOST: nonEmpty.default('0.0.0.0'),
  ADMIN_PORT: port.default(9090),
  ADMIN_HOST: nonEmpty.default('127.0.0.1'),
  ADMIN_TOKEN: nonEmpty.optional(),
  ROUTES_FILE: nonEmpty.default('./routes.yaml'),
  FLAGS_DIR: nonEmpty.default('./flags'),
  DATA_DIR: nonEmpty.default('./.data'),
  ADAPTERS_DIR: nonEmpty.optional(),
  UNLEASH_URL: urlWith(['http:', 'https:'], 'http://unleash:4242/api').optional(),
  UNLEASH_API_TOKEN: nonEmpty.optional(),
  UNLEASH_ADMIN_TOKEN: nonEmpty.optional(),
  UNLEASH_REFRESH_MS: integer(1, 86_400_000, 'a positive whole number of milliseconds').default(5000),
  UNLEASH_APP_NAME: nonEmpty.default('rf-edge'),
  REDIS_URL: urlWith(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').optional(),
  DATABASE_URL: urlWith(['postgres:', 'postgresql:'], 'postgres://postgres@127.0.0.1:5432/rf_edge').optional(),
  LOG_LEVEL: z
    .string()
    .transform((level) => level.toLowerCase())
    .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
    .default('info'),
  EDGE_OVERRIDE_SECRET: nonEmpty.optional(),
  SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000, 'a whole number of milliseconds').default(10_000),
  REDIS_KEY_PREFIX: nonEmpty.default('rf-edge:'),
  INSTANCE_ID: nonEmpty.default(() => `${hostname()}-${process.pid}`),
});

/** Every key present (unset ones as undefined), so the result's shape never depends on the environment. */
function toEdgeEnv(p: z.output<typeof envSchema>): EdgeEnv {
  return {
    PORT: p.PORT,
    HOST: p.HOST,
    ADMIN_PORT: p.ADMIN_PORT,
    ADMIN_HOST: p.ADMIN_HOST,
    ADMIN_TOKEN: p.ADMIN_TOKEN,
    ROUTES_FILE: p.ROUTES_FILE,
    FLAGS_DIR: p.FLAGS_DIR,
    DATA_DIR: p.DATA_DIR,
    ADAPTERS_DIR: p.ADAPTERS_DIR,
    UNLEASH_URL: p.UNLEASH_URL,
    UNLEASH_API_TOKEN: p.UNLEASH_API_TOKEN,
    UNLEASH_ADMIN_TOKEN: p.UNLEASH_ADMIN_TOKEN,
    UNLEASH_REFRESH_MS: p.UNLEASH_REFRESH_MS,
    UNLEASH_APP_NAME: p.UNLEASH_APP_NAME,
    REDIS_URL: p.REDIS_URL,
    DATABASE_URL: p.DATABASE_URL,
    LOG_LEVEL: p.LOG_LEVEL,
    EDGE_OVERRIDE_SECRET: p.EDGE_OVERRIDE_SECRET,
    SHUTDOWN_TIMEOUT_MS: p.SHUTDOWN_TIMEOUT_MS,
    REDIS_KEY_PREFIX: p.REDIS_KEY_PREFIX,
    INSTANCE_ID: p.INSTANCE_ID,
  };
}

const NAMES = Object.keys(envSchema.shape) as (keyof EdgeEnv)[];
const ECHOED = new Set<string>(['PORT', 'ADMIN_PORT', 'UNLEASH_REFRESH_MS', 'SHUTDOWN_TIMEOUT_MS', 'LOG_LEVEL']);

/** Reads the edge's variables from `env`; throws EdgeError RF_ENV_INVALID listing every bad variable. */
export function loadEnv(env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>> = process.env): EdgeEnv {
  const input: Record<string, string> = {};
  for (const name of NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = envSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return Object.freeze(toEdgeEnv(parsed.data));

  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?');
    return { variable: name, value: input[name], message: issue.message };
  });
  // URLs may carry passwords and tokens are secrets: only plain settings echo their value back.
  const lines = problems.map((p) =>
    ECHOED.has(p.variable)
      ? `  ${p.variable}=${JSON.stringify(p.value ?? '')}: ${p.message}`
      : `  ${p.variable}: ${p.message}`,
  );
  throw new EdgeError('RF_ENV_INVALID', `environment is invalid:\n${lines.join('\n')}`, {
    details: problems.map(({ variable, message }) => ({ variable, message })),
  });
}
