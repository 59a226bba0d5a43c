// The shape of routes.yaml version 1, as zod schemas. Each field checks itself and says what is wrong in words an
// operator can act on; rules that span several fields (upstream references, duplicate ids, overlapping routes,
// known flags) live in load-route-table.ts because they must run even when some fields here are broken.

import { isIP } from 'node:net';
import FindMyWay from 'find-my-way';
import { z } from 'zod';
import { parseDuration } from '../core/duration.ts';
import { HTTP_METHODS, type HttpMethod } from '../core/http-methods.ts';

export { HTTP_METHODS, type HttpMethod } from '../core/http-methods.ts';

import { DEFAULT_NOISE_THRESHOLDS } from '../core/diff-tally.ts';
import { DEFAULT_FALLBACK, type FallbackPolicy } from '../core/fallback-policy.ts';
import { DEFAULT_COMPARED_HEADERS } from '../core/shadow-compare.ts';
import { DEFAULT_MAX_DIFF_BYTES, type DiffRule, pathSegments } from '../core/structural-diff.ts';
import type { HostPolicy, RolloutPolicy, RouteMode, ShadowPolicy, StickinessSource, UpstreamConfig } from './types.ts';

export const ROUTE_MODES = ['legacy', 'shadow', 'canary', 'service'] as const satisfies readonly RouteMode[];

export const DEFAULT_ROLLOUT: RolloutPolicy = {
  steps: [10, 20, 30, 40, 50],
  stepIntervalMs: 5 * 60_000,
  minRequests: 200,
  windowMs: 60_000,
  evaluateEveryMs: 1_000,
  maxErrorRate: 0.02,
  // A practical margin: half a point of 5xx over the monolith is what an SRE can sign off (issue 9).
  maxErrorRateIncrease: 0.005,
  maxP99Ms: 800,
  maxP99Ratio: 1.5,
  maxLatencyIncrease: 0.1,
  minSamples: 20,
  criticalConsecutiveFailures: 5,
};

export const DEFAULT_UPSTREAM = {
  headersTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  bodyTimeoutMs: 0,
  connections: 128,
} as const;

/** Safe methods only, no request bodies: copying writes to a service in shadow is opt-in (see ShadowPolicy). */
export const DEFAULT_SHADOW: ShadowPolicy = {
  methods: [],
  maxBodyBytes: 0,
  compareHeaders: DEFAULT_COMPARED_HEADERS,
  maxDiffBytes: DEFAULT_MAX_DIFF_BYTES,
  rules: [],
  gate: false,
  minRequests: 200,
  maxMismatchRate: 0.01,
  canarySampleRate: 0.1,
  window: 5 * 60_000,
  samples: 50,
  noise: {
    sampleRate: 0.1,
    relativeThreshold: DEFAULT_NOISE_THRESHOLDS.relative,
    absoluteThreshold: DEFAULT_NOISE_THRESHOLDS.absolute,
  },
};

export const DEFAULT_STICKINESS: readonly StickinessSource[] = [{ kind: 'ip' }];
export const DEFAULT_OVERRIDE = { header: 'x-edge-route', cookie: 'edge_route' } as const;
export const DEFAULT_LIMITS = { maxUrlLength: 8192, maxHeaderBytes: 16384 } as const;

const ROUTE_ID = /^[a-z0-9-]+$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// Unleash feature names are URL-safe strings.
const FLAG_NAME = /^[A-Za-z0-9_.~-]+$/;
// RFC 9110 token: header field names and (RFC 6265) cookie names.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const JWT_CLAIM = /^[A-Za-z0-9_.:-]+$/;
const HOST_VALUE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

type Checked<T> = { value: T } | { error: string };

/**
 * A field whose rule is easier to say in code than in zod combinators; `check` returns the normalised value or the
 * sentence to show. Undefined reaches `check` only for required fields, and reads as "missing".
 */
function field<T>(check: (value: unknown) => Checked<T>) {
  return z.unknown().transform((value, ctx): T => {
    const result: Checked<T> = value === undefined ? { error: 'is required' } : check(value);
    if ('error' in result) {
      ctx.addIssue({ code: 'custom', message: result.error, input: value });
      return z.NEVER;
    }
    return result.value;
  });
}

/** `z.strictObject` whose unknown-key message lists what is allowed, so a typo is one glance from its fix. */
function strictObject<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `allowed keys: ${allowed}` : undefined),
  });
}

/** How a value reads in a message: strings quoted, containers named. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

// ---- scalars ----------------------------------------------------------------------------------------------------

function durationField(rule: { positive: boolean }) {
  return field((value): Checked<number> => {
    if (typeof value !== 'string' && typeof value !== 'number') {
      return { error: `must be a duration like 250ms, 60s, 5m, 1h or 1m30s, got ${describeValue(value)}` };
    }
    const ms = parseDuration(value);
    if (ms === null) {
      return {
        error: `invalid duration ${describeValue(value)}: use a whole number with a unit (ms, s, m, h, d), largest first, e.g. 250ms, 60s, 5m, 1m30s`,
      };
    }
    if (rule.positive && ms === 0) return { error: `must be a positive duration, got ${describeValue(value)}` };
    return { value: ms };
  });
}

function wholeNumber(min: 0 | 1) {
  return field((value): Checked<number> => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      return { error: `must be a whole number, got ${describeValue(value)}` };
    }
    if (value < min)
      return { error: min === 0 ? `must not be negative, got ${value}` : `must be at least 1, got ${value}` };
    return { value };
  });
}
const nonNegativeInt = wholeNumber(0);
const positiveInt = wholeNumber(1);
const positiveNumber = field((value): Checked<number> => {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return { error: `must be a number, got ${describeValue(value)}` };
  return value > 0 ? { value } : { error: `must be greater than 0, got ${value}` };
});
const rate = field((value): Checked<number> => {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return { error: `must be a rate between 0 and 1 (0.02 = 2%), got ${describeValue(value)}` };
  }
  if (value < 0 || value > 1) return { error: `rate ${value} is outside 0..1 (0.02 = 2%)` };
  return { value };
});

const stepsField = field((value): Checked<number[]> => {
  if (!Array.isArray(value))
    return { error: `must be a list of percentages like [10, 20, 50], got ${describeValue(value)}` };
  if (value.length === 0) return { error: 'must list at least one step (percent of users on the service)' };
  const bad: string[] = [];
  let previous = 0;
  value.forEach((step: unknown, index) => {
    if (typeof step !== 'number' || !Number.isInteger(step)) {
      bad.push(`step ${index + 1} (${describeValue(step)}) is not a whole percentage`);
    } else if (step < 1 || step > 100) {
      bad.push(`step ${index + 1} (${step}) is outside 1..100`);
    } else if (step <= previous) {
      bad.push(`steps must be strictly increasing: ${step} follows ${previous}`);
    }
    if (typeof step === 'number') previous = Math.max(previous, step);
  });
  return bad.length > 0 ? { error: bad.join('; ') } : { value: [...value] as number[] };
});

function patterned(pattern: RegExp, what: string) {
  return field(
    (value): Checked<string> =>
      typeof value === 'string' && pattern.test(value)
        ? { value }
        : { error: `${what} ${describeValue(value)} must match ${pattern.source}` },
  );
}

const upstreamName = z.string().regex(NAME, 'upstream names must start with a letter or digit and use [A-Za-z0-9_.-]');
const flagName = patterned(FLAG_NAME, 'flag');
const adapterName = patterned(NAME, 'adapter');

const routeId = field(
  (value): Checked<string> =>
    typeof value === 'string' && ROUTE_ID.test(value)
      ? { value }
      : { error: `route id ${describeValue(value)} must match [a-z0-9-]+ (lower-case letters, digits and '-')` },
);

const method = field((value): Checked<HttpMethod> => {
  const upper = typeof value === 'string' ? value.toUpperCase() : null;
  const known = HTTP_METHODS.find((m) => m === upper);
  return known !== undefined ? { value: known } : { error: `unknown HTTP method ${describeValue(value)}` };
});

const methodsField = z
  .array(method)
  .min(1, 'must list at least one method (leave `methods` out to match all methods)')
  .transform((list) => [...new Set(list)]);

const headerName = field(
  (value): Checked<string> =>
    typeof value === 'string' && TOKEN.test(value)
      ? { value: value.toLowerCase() }
      : { error: `${describeValue(value)} is not a valid header name` },
);
const cookieName = field(
  (value): Checked<string> =>
    typeof value === 'string' && TOKEN.test(value)
      ? { value }
      : { error: `${describeValue(value)} is not a valid cookie name` },
);

/** One `stickiness` entry: `header:<name>`, `cookie:<name>`, `jwt:<claim>` or `ip`. */
export function parseStickinessSource(text: string): StickinessSource | null {
  if (text === 'ip') return { kind: 'ip' };
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (kind === 'header' && TOKEN.test(name)) return { kind: 'header', name: name.toLowerCase() };
  if (kind === 'cookie' && TOKEN.test(name)) return { kind: 'cookie', name };
  if (kind === 'jwt' && JWT_CLAIM.test(name)) return { kind: 'jwt', claim: name };
  return null;
}

const stickinessEntry = field((value): Checked<StickinessSource> => {
  const source = typeof value === 'string' ? parseStickinessSource(value) : null;
  return source !== null
    ? { value: source }
    : { error: `stickiness source ${describeValue(value)} must be header:<name>, cookie:<name>, jwt:<claim> or ip` };
});

const stickinessField = z
  .array(stickinessEntry)
  .min(1, 'must list at least one source (e.g. [header:x-user-id, ip])')
  .superRefine((sources, ctx) => {
    const seen = new Set<string>();
    sources.forEach((source, index) => {
      const key = JSON.stringify(source);
      if (seen.has(key)) ctx.addIssue({ code: 'custom', message: 'is listed twice', path: [index], input: source });
      seen.add(key);
    });
  });

/** True for an IPv4/IPv6 address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash < 0) return true;
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const trustedProxy = field(
  (value): Checked<string> =>
    typeof value === 'string' && isIpOrCidr(value)
      ? { value }
      : { error: `trusted proxy ${describeValue(value)} is not an IP address or CIDR block (e.g. 10.0.0.0/8, ::1)` },
);

// ---- path patterns ----------------------------------------------------------------------------------------------

const noop = (): void => {};

/**
 * Why `pattern` cannot be a route path, or null when find-my-way accepts it and it can match a normalised path.
 * The router sees normalised paths only, so `//`, dot segments or a literal `?`/`#` would make a route unreachable.
 */
export function checkPathPattern(pattern: string): string | null {
  if (!pattern.startsWith('/')) return `path pattern ${describeValue(pattern)} must start with '/'`;
  // Regex constraints (`:id(^\\d+$)`) may hold any character, so scan outside parentheses only.
  let depth = 0;
  let outside = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '(') depth++;
    else if (char === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0) outside += char;
  }
  const star = outside.indexOf('*');
  if (star >= 0 && (star !== outside.length - 1 || !outside.endsWith('/*'))) {
    return `path pattern ${describeValue(pattern)}: '*' is only allowed as the whole last segment ('/api/*')`;
  }
  const hasControl = [...pattern].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (/[\s#]/.test(outside) || hasControl) {
    return `path pattern ${describeValue(pattern)} must not contain whitespace, control characters or '#'`;
  }
  if (outside.includes('?') && !/\/:[^/?]+\?\/?$/.test(outside)) {
    return `path pattern ${describeValue(pattern)}: '?' is only allowed to mark an optional last parameter ('/a/:id?')`;
  }
  // A trailing slash leaves one empty last segment, a path of its own; any other empty segment is a `//`.
  const segments = outside.split('/').slice(1);
  if (segments.some((s, i) => s === '.' || s === '..' || (s === '' && i !== segments.length - 1))) {
    return `path pattern ${describeValue(pattern)} has an empty or dot segment and could never match a normalised path`;
  }
  try {
    FindMyWay().on('GET', pattern, noop);
  } catch (err) {
    return `path pattern ${describeValue(pattern)} is not accepted by the router: ${(err as Error).message}`;
  }
  return null;
}

const pathPattern = field((value): Checked<string> => {
  if (typeof value !== 'string')
    return { error: `must be a path pattern like /api/agents/*, got ${describeValue(value)}` };
  const problem = checkPathPattern(value);
  return problem === null ? { value } : { error: problem };
});

// ---- upstreams --------------------------------------------------------------------------------------------------

const upstreamUrl = field((value): Checked<Pick<UpstreamConfig, 'url' | 'origin' | 'basePath'>> => {
  if (typeof value !== 'string') return { error: `must be an http(s) URL, got ${describeValue(value)}` };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: `invalid upstream URL ${describeValue(value)}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { error: `upstream URL ${describeValue(value)} must use http or https, not ${url.protocol.slice(0, -1)}` };
  }
  if (url.username !== '' || url.password !== '') {
    return { error: `upstream URL ${describeValue(value)} must not carry credentials` };
  }
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    return { error: `upstream URL ${describeValue(value)} must not have a query or fragment (a path prefix is fine)` };
  }
  const basePath = url.pathname.replace(/\/+$/, '');
  return { value: { url: value, origin: url.origin, basePath } };
});

const hostPolicy = field((value): Checked<HostPolicy> => {
  if (value === 'preserve') return { value: { kind: 'preserve' } };
  if (value === 'upstream') return { value: { kind: 'upstream' } };
  if (typeof value === 'string' && HOST_VALUE.test(value)) return { value: { kind: 'fixed', value } };
  return { error: `host must be preserve, upstream or a host name (with optional :port), got ${describeValue(value)}` };
});

export const upstreamSchema = strictObject({
  url: upstreamUrl,
  timeoutMs: positiveInt.optional(),
  connectTimeoutMs: positiveInt.optional(),
  bodyTimeoutMs: nonNegativeInt.optional(),
  host: hostPolicy.optional(),
  rewriteLocation: z.boolean().optional(),
  connections: positiveInt.optional(),
  // The service treats `x-edge-shadow: 1` as a dry run: only then may a route copy writes to it (load-route-table).
  shadowDryRun: z.boolean().optional(),
}).transform(
  (u): Omit<UpstreamConfig, 'name'> => ({
    ...u.url,
    headersTimeoutMs: u.timeoutMs ?? DEFAULT_UPSTREAM.headersTimeoutMs,
    connectTimeoutMs: u.connectTimeoutMs ?? DEFAULT_UPSTREAM.connectTimeoutMs,
    bodyTimeoutMs: u.bodyTimeoutMs ?? DEFAULT_UPSTREAM.bodyTimeoutMs,
    host: u.host ?? { kind: 'preserve' },
    rewriteLocation: u.rewriteLocation ?? false,
    connections: u.connections ?? DEFAULT_UPSTREAM.connections,
    shadowDryRun: u.shadowDryRun ?? false,
  }),
);

// ---- rollout ----------------------------------------------------------------------------------------------------

/** Rollout keys as written; every one optional, so the same schema serves the defaults and a route's overrides. */
export const rolloutSchema = strictObject({
  steps: stepsField.optional(),
  // 0 is allowed: "advance as soon as the judge is satisfied and minRequests is met".
  stepInterval: durationField({ positive: false }).optional(),
  minRequests: nonNegativeInt.optional(),
  window: durationField({ positive: true }).optional(),
  evaluateEvery: durationField({ positive: true }).optional(),
  maxErrorRate: rate.optional(),
  maxErrorRateIncrease: rate.optional(),
  maxP99Ms: positiveNumber.optional(),
  maxP99Ratio: positiveNumber.optional(),
  // Relative: 0.1 = the service may be up to 10 % slower than the monolith (median and p90, same seconds).
  maxLatencyIncrease: positiveNumber.optional(),
  minSamples: positiveInt.optional(),
  criticalConsecutiveFailures: positiveInt.optional(),
}).transform((r): Partial<RolloutPolicy> => {
  const out: { -readonly [K in keyof RolloutPolicy]?: RolloutPolicy[K] } = {};
  if (r.steps !== undefined) out.steps = r.steps;
  if (r.stepInterval !== undefined) out.stepIntervalMs = r.stepInterval;
  if (r.minRequests !== undefined) out.minRequests = r.minRequests;
  if (r.window !== undefined) out.windowMs = r.window;
  if (r.evaluateEvery !== undefined) out.evaluateEveryMs = r.evaluateEvery;
  if (r.maxErrorRate !== undefined) out.maxErrorRate = r.maxErrorRate;
  if (r.maxErrorRateIncrease !== undefined) out.maxErrorRateIncrease = r.maxErrorRateIncrease;
  if (r.maxP99Ms !== undefined) out.maxP99Ms = r.maxP99Ms;
  if (r.maxP99Ratio !== undefined) out.maxP99Ratio = r.maxP99Ratio;
  if (r.maxLatencyIncrease !== undefined) out.maxLatencyIncrease = r.maxLatencyIncrease;
  if (r.minSamples !== undefined) out.minSamples = r.minSamples;
  if (r.criticalConsecutiveFailures !== undefined) out.criticalConsecutiveFailures = r.criticalConsecutiveFailures;
  return out;
});

// ---- shadow -----------------------------------------------------------------------------------------------------

/**
 * A route's `shadow:` keys. Listing a method that changes data (POST, PUT, PATCH, DELETE) makes the service run that
 * write too, on every shadowed request: only for services that write to their own store or honour `x-edge-shadow`.
 */
const rulePath = field((value): Checked<string> => {
  if (typeof value !== 'string' || pathSegments(value) === null) {
    return {
      error: `rule path ${describeValue(value)} must be a field path like body.items[].updatedAt, header.x-request-id or status`,
    };
  }
  const first = pathSegments(value)?.[0];
  if (first !== 'body' && first !== 'header' && first !== 'status' && first !== '**' && first !== '*') {
    return { error: `rule path ${describeValue(value)} must start with body, header or status` };
  }
  return { value };
});

const ruleKinds = ['ignore', 'tolerance', 'timestamp', 'sameShape', 'array'] as const;

/** One `shadow.rules` entry: a path and exactly one of the rule kinds (see core/structural-diff). */
const diffRule = strictObject({
  path: rulePath,
  ignore: z.literal(true).optional(),
  tolerance: strictObject({ absolute: positiveNumber.optional(), relative: rate.optional() }).optional(),
  timestamp: durationField({ positive: true }).optional(),
  sameShape: z.literal(true).optional(),
  array: z.union([z.literal('unordered'), strictObject({ key: z.string().min(1) })]).optional(),
}).transform((r, ctx): DiffRule => {
  const given = ruleKinds.filter((k) => r[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: `a rule needs exactly one of ${ruleKinds.join(', ')}${given.length > 1 ? `, got ${given.join(' and ')}` : ''}`,
      input: r,
    });
    return z.NEVER;
  }
  if (r.tolerance !== undefined) {
    if (r.tolerance.absolute === undefined && r.tolerance.relative === undefined) {
      ctx.addIssue({ code: 'custom', message: 'tolerance needs absolute, relative or both', input: r.tolerance });
      return z.NEVER;
    }
    return {
      path: r.path,
      kind: 'tolerance',
      absolute: r.tolerance.absolute ?? 0,
      relative: r.tolerance.relative ?? 0,
    };
  }
  if (r.timestamp !== undefined) return { path: r.path, kind: 'timestamp', withinMs: r.timestamp };
  if (r.sameShape !== undefined) return { path: r.path, kind: 'same_shape' };
  if (r.array !== undefined) {
    return r.array === 'unordered'
      ? { path: r.path, kind: 'unordered' }
      : { path: r.path, kind: 'key', key: r.array.key };
  }
  return { path: r.path, kind: 'ignore' };
});

const noiseSchema = strictObject({
  sampleRate: rate.optional(),
  relativeThreshold: rate.optional(),
  absoluteThreshold: rate.optional(),
});

export const shadowSchema = strictObject({
  methods: z
    .array(method)
    .transform((list) => [...new Set(list)])
    .optional(),
  maxBodyBytes: nonNegativeInt.optional(),
  compareHeaders: z
    .array(headerName)
    .transform((list) => [...new Set(list)])
    .optional(),
  maxDiffBytes: positiveInt.optional(),
  rules: z.array(diffRule).optional(),
  gate: z.boolean().optional(),
  minRequests: positiveInt.optional(),
  maxMismatchRate: rate.optional(),
  canarySampleRate: rate.optional(),
  window: durationField({ positive: true }).optional(),
  samples: nonNegativeInt.optional(),
  noise: noiseSchema.optional(),
}).transform(
  (s): ShadowPolicy => ({
    methods: s.methods ?? DEFAULT_SHADOW.methods,
    maxBodyBytes: s.maxBodyBytes ?? DEFAULT_SHADOW.maxBodyBytes,
    compareHeaders: s.compareHeaders ?? DEFAULT_SHADOW.compareHeaders,
    maxDiffBytes: s.maxDiffBytes ?? DEFAULT_SHADOW.maxDiffBytes,
    rules: s.rules ?? DEFAULT_SHADOW.rules,
    gate: s.gate ?? DEFAULT_SHADOW.gate,
    minRequests: s.minRequests ?? DEFAULT_SHADOW.minRequests,
    maxMismatchRate: s.maxMismatchRate ?? DEFAULT_SHADOW.maxMismatchRate,
    canarySampleRate: s.canarySampleRate ?? DEFAULT_SHADOW.canarySampleRate,
    window: s.window ?? DEFAULT_SHADOW.window,
    samples: s.samples ?? DEFAULT_SHADOW.samples,
    noise: {
      sampleRate: s.noise?.sampleRate ?? DEFAULT_SHADOW.noise.sampleRate,
      relativeThreshold: s.noise?.relativeThreshold ?? DEFAULT_SHADOW.noise.relativeThreshold,
      absoluteThreshold: s.noise?.absoluteThreshold ?? DEFAULT_SHADOW.noise.absoluteThreshold,
    },
  }),
);

// ---- fallback ---------------------------------------------------------------------------------------------------

const httpStatus = field((value): Checked<number> => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 500 || value > 599) {
    return { error: `must be a 5xx status, got ${JSON.stringify(value)}` };
  }
  return { value };
});

/**
 * A route's `fallback:` keys: when the service fails a request, answer it from the monolith where that is safe (see
 * core/fallback-policy). On by default; the budget caps fallbacks at a share of the route's requests.
 */
export const fallbackSchema = strictObject({
  enabled: z.boolean().optional(),
  statuses: z.array(httpStatus).optional(),
  maxBodyBytes: nonNegativeInt.optional(),
  idempotencyKey: z.boolean().optional(),
  budget: strictObject({ ratio: rate.optional(), minPerSecond: nonNegativeInt.optional() }).optional(),
}).transform(
  (f): FallbackPolicy => ({
    enabled: f.enabled ?? DEFAULT_FALLBACK.enabled,
    statuses: f.statuses ? [...new Set(f.statuses)] : DEFAULT_FALLBACK.statuses,
    maxBodyBytes: f.maxBodyBytes ?? DEFAULT_FALLBACK.maxBodyBytes,
    idempotencyKey: f.idempotencyKey ?? DEFAULT_FALLBACK.idempotencyKey,
    budgetRatio: f.budget?.ratio ?? DEFAULT_FALLBACK.budgetRatio,
    budgetMinPerSecond: f.budget?.minPerSecond ?? DEFAULT_FALLBACK.budgetMinPerSecond,
  }),
);

// ---- routes and the table ---------------------------------------------------------------------------------------

export const routeSchema = strictObject({
  id: routeId,
  path: pathPattern,
  methods: methodsField.optional(),
  service: z.string().min(1, 'must name an upstream'),
  flag: flagName.optional(),
  mode: z.enum(ROUTE_MODES).optional(),
  adapter: adapterName.optional(),
  /** Beyond the adapter's maxBodyBytes: refuse (413/502) or pass untranslated; default: the adapter's `oversize`. */
  adapterOversize: z.enum(['reject', 'pass'], { error: 'must be reject (413/502) or pass (untranslated)' }).optional(),
  rollout: rolloutSchema.optional(),
  shadow: shadowSchema.optional(),
  fallback: fallbackSchema.optional(),
});

export const routeTableSchema = strictObject({
  version: z.unknown().transform((value, ctx): 1 => {
    if (value !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          value === undefined
            ? 'is required'
            : `unsupported version ${describeValue(value)}: this edge reads version 1`,
        input: value,
      });
      return z.NEVER;
    }
    return 1;
  }),
  upstreams: z.record(upstreamName, upstreamSchema),
  legacy: z.string().min(1, 'must name an upstream'),
  stickiness: stickinessField.optional(),
  trustedProxies: z.array(trustedProxy).optional(),
  override: strictObject({ header: headerName.optional(), cookie: cookieName.optional() }).optional(),
  limits: strictObject({ maxUrlLength: positiveInt.optional(), maxHeaderBytes: positiveInt.optional() }).optional(),
  rollout: rolloutSchema.optional(),
  // An empty `routes:` (null) is a table still being written: everything goes to legacy.
  routes: z.array(routeSchema).nullish(),
});

export type ParsedRouteTable = z.output<typeof routeTableSchema>;
export type ParsedRoute = z.output<typeof routeSchema>;

/**
 * The sentences for zod's own issue kinds (schema-level messages above take precedence). Passed per parse so the
 * global zod configuration other modules rely on stays untouched.
 */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const input: unknown = issue.input;
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) return 'is required';
      const expected: Record<string, string> = {
        string: 'a string',
        number: 'a number',
        int: 'a whole number',
        boolean: 'true or false',
        object: 'a mapping',
        record: 'a mapping',
        array: 'a list',
      };
      return `must be ${expected[issue.expected] ?? issue.expected}, got ${describeValue(input)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(input)}`;
    case 'too_small':
      if (issue.origin === 'array') return `must list at least ${issue.minimum} item(s)`;
      if (issue.origin === 'string') return 'must not be empty';
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}, got ${describeValue(input)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}, got ${describeValue(input)}`;
    default:
      return undefined;
  }
}
