// Turns a declarative adapter (already validated by src/config) or a typed one into the single Adapter shape the
// edge runs: operations with `request`/`response` functions. Pure; no I/O.

import { applyBodyRules, type LabelledBodyRule } from './body-rules.ts';
import { applyHeaderRules, applyQueryRules, type HeaderRule, type Labelled, type QueryRule } from './field-rules.ts';
import { type ExpandPart, expandTemplate, matchPath, type PathMatcher, parseMatchTemplate } from './path-template.ts';
import {
  type Adapter,
  type AdapterContext,
  AdapterFailure,
  type AdapterOperation,
  type AdapterRequest,
  type AdapterResponse,
  DEFAULT_ADAPTER_MAX_BODY_BYTES,
  type OversizePolicy,
  type TypedAdapter,
} from './types.ts';

/** The key of an error-body rule list: the service's status, or `default` for any other non-2xx. */
export type ErrorKey = number | 'default';

export interface DeclaredOperation {
  readonly name: string;
  readonly methods: readonly string[] | null;
  /** Old-contract template, `/api/agents/:id`. */
  readonly path: string;
  readonly request: {
    readonly method: string | null;
    /** Service path template, `/v2/agents/{id}`; null keeps the path. */
    readonly path: readonly ExpandPart[] | null;
    readonly query: readonly Labelled<QueryRule>[];
    readonly headers: readonly Labelled<HeaderRule>[];
    readonly body: readonly LabelledBodyRule[];
  };
  readonly response: {
    /** Service status → client status. */
    readonly status: ReadonlyMap<number, number>;
    readonly headers: readonly Labelled<HeaderRule>[];
    /** On 2xx bodies. */
    readonly body: readonly LabelledBodyRule[];
    /** On 4xx/5xx bodies, by the service's status (or `default`), after the adapter's own `errors` rules. */
    readonly errors: ReadonlyMap<ErrorKey, readonly LabelledBodyRule[]>;
  };
}

export interface DeclaredAdapter {
  readonly name: string;
  readonly maxBodyBytes: number;
  readonly oversize: OversizePolicy;
  readonly version: string;
  /** The error envelope shared by every operation, by the service's status (or `default`). */
  readonly errors: ReadonlyMap<ErrorKey, readonly LabelledBodyRule[]>;
  readonly operations: readonly DeclaredOperation[];
}

const NONE: readonly LabelledBodyRule[] = [];

function byStatus(
  map: ReadonlyMap<ErrorKey, readonly LabelledBodyRule[]>,
  status: number,
): readonly LabelledBodyRule[] {
  return map.get(status) ?? map.get('default') ?? NONE;
}

/** 2xx: the operation's body rules; 4xx/5xx: the adapter's error envelope, then the operation's own error rules. */
function responseRules(adapter: DeclaredAdapter, op: DeclaredOperation, status: number): readonly LabelledBodyRule[] {
  if (status >= 200 && status < 300) return op.response.body;
  // Redirects and other 3xx carry no contract body (an HTML note at most): their headers are translated, not them.
  if (status < 400) return NONE;
  const shared = byStatus(adapter.errors, status);
  const own = byStatus(op.response.errors, status);
  return shared.length === 0 ? own : own.length === 0 ? shared : [...shared, ...own];
}

export function compileDeclaredAdapter(declared: DeclaredAdapter): Adapter {
  return {
    name: declared.name,
    maxBodyBytes: declared.maxBodyBytes,
    oversize: declared.oversize,
    version: declared.version,
    operations: declared.operations.map((op): AdapterOperation => {
      const req = op.request;
      const res = op.response;
      return {
        name: op.name,
        methods: op.methods,
        path: op.path,
        translatesRequestBody: req.body.length > 0,
        translatesResponseBody: (status) => responseRules(declared, op, status).length > 0,
        request(incoming, ctx) {
          const path = req.path === null ? incoming.path : expandTemplate(req.path, ctx.params);
          const body =
            incoming.body === undefined || req.body.length === 0
              ? incoming.body
              : applyBodyRules(incoming.body, req.body);
          return {
            method: req.method ?? incoming.method,
            path,
            query: req.query.length === 0 ? incoming.query : applyQueryRules(incoming.query, req.query),
            headers: req.headers.length === 0 ? incoming.headers : applyHeaderRules(incoming.headers, req.headers),
            body,
          };
        },
        response(answer) {
          const rules = responseRules(declared, op, answer.status);
          const body =
            answer.body === undefined || rules.length === 0 ? answer.body : applyBodyRules(answer.body, rules);
          return {
            status: res.status.get(answer.status) ?? answer.status,
            headers: res.headers.length === 0 ? answer.headers : applyHeaderRules(answer.headers, res.headers),
            body,
          };
        },
      };
    }),
  };
}

/** A typed adapter (legacy-adapter/<name>.ts) as the edge runs it. Thrown non-AdapterFailure errors name the step. */
export function compileTypedAdapter(name: string, version: string, typed: TypedAdapter): Adapter {
  return {
    name,
    version,
    maxBodyBytes: typed.maxBodyBytes ?? DEFAULT_ADAPTER_MAX_BODY_BYTES,
    oversize: typed.oversize ?? 'reject',
    operations: typed.operations.map((op): AdapterOperation => {
      const wants = op.responseBody;
      const translatesResponseBody =
        typeof wants === 'function'
          ? wants
          : wants === 'all'
            ? () => true
            : wants === 'success'
              ? (s: number) => s >= 200 && s < 300
              : wants === 'errors'
                ? (s: number) => s >= 400
                : () => false;
      return {
        name: op.name,
        methods: op.methods?.map((m) => m.toUpperCase()) ?? null,
        path: op.path,
        translatesRequestBody: op.requestBody ?? false,
        translatesResponseBody,
        request: (req, ctx) => guarded(`${op.name}.request`, () => (op.request ? op.request(req, ctx) : req)),
        response: (res, ctx) => guarded(`${op.name}.response`, () => (op.response ? op.response(res, ctx) : res)),
      };
    }),
  };
}

function guarded<T>(rule: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AdapterFailure) throw err;
    throw new AdapterFailure(rule, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** An adapter with its operations' templates parsed once, for matching requests. */
export interface AdapterPlan {
  readonly adapter: Adapter;
  readonly matchers: readonly PathMatcher[];
}

export function planAdapter(adapter: Adapter): AdapterPlan {
  return {
    adapter,
    matchers: adapter.operations.map((op) => {
      const matcher = parseMatchTemplate(op.path);
      if (typeof matcher === 'string') throw new AdapterFailure(`${op.name}.match`, matcher);
      return matcher;
    }),
  };
}

export interface MatchedOperation {
  readonly operation: AdapterOperation;
  readonly params: Readonly<Record<string, string>>;
}

/** The first operation serving `method` and the raw `path`; null when none does. */
export function matchOperation(plan: AdapterPlan, method: string, path: string): MatchedOperation | null {
  const ops = plan.adapter.operations;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as AdapterOperation;
    const allowed =
      op.methods === null || op.methods.includes(method) || (method === 'HEAD' && op.methods.includes('GET'));
    if (!allowed) continue;
    const params = matchPath(plan.matchers[i] as PathMatcher, path);
    if (params !== null) return { operation: op, params };
  }
  return null;
}

/** Runs an operation's request step; failures keep their rule. */
export function translateRequest(match: MatchedOperation, req: AdapterRequest): AdapterRequest {
  return match.operation.request(req, { request: req, params: match.params });
}

export function translateResponse(match: MatchedOperation, res: AdapterResponse, ctx: AdapterContext): AdapterResponse {
  return match.operation.response(res, ctx);
}
