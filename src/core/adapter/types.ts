// The typed description an adapter translates: a request on its way to the service and the service's answer on its
// way back. Pure data, so a declarative adapter (legacy-adapter/<name>.yaml) and a typed one
// (legacy-adapter/<name>.ts) are the same thing to the edge: functions from one description to the next.

/** Any JSON value, as JSON.parse returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One `name=value` pair of the query, still percent-encoded as the client sent it (the bytes are forwarded as is). */
export interface QueryPair {
  readonly name: string;
  readonly value: string | null;
}

export interface AdapterRequest {
  /** Upper case. */
  readonly method: string;
  /** Raw path (percent-encoded as received), without the query. */
  readonly path: string;
  readonly query: readonly QueryPair[];
  /** Flat `[name, value, …]` list (the shape of Node's rawHeaders); names keep their case, lookups ignore it. */
  readonly headers: readonly string[];
  /** The parsed JSON body; undefined when the request has none or its body is not translated (streamed through). */
  readonly body?: JsonValue | undefined;
}

export interface AdapterResponse {
  readonly status: number;
  /** Flat `[name, value, …]` list. */
  readonly headers: readonly string[];
  /** The parsed JSON body; undefined when there is none (HEAD, 204, 304) or it is streamed through. */
  readonly body?: JsonValue | undefined;
}

/** What an operation's response step knows besides the answer: the client's request and the template's captures. */
export interface AdapterContext {
  /** The client's (v1) request, before translation. */
  readonly request: AdapterRequest;
  /** Values captured by the operation's path template (`/api/agents/:id` → `{ id }`), still percent-encoded. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * One endpoint of the old contract and how to reach it on the service. `request`/`response` may throw (an
 * AdapterFailure names the rule; anything else is reported as the operation's own failure): the edge answers
 * 502 `RF_ADAPTER_FAILED` then, never a half answer.
 */
export interface AdapterOperation {
  readonly name: string;
  /** Upper-case methods this operation serves; null for all. */
  readonly methods: readonly string[] | null;
  /** Path template of the old contract: static segments and `:name` captures, e.g. `/api/agents/:id`. */
  readonly path: string;
  /** True when the request body must be parsed and handed to `request` (otherwise it streams through untouched). */
  readonly translatesRequestBody: boolean;
  /** True when the answer's JSON body with this status must be parsed and handed to `response`. */
  translatesResponseBody(status: number): boolean;
  request(req: AdapterRequest, ctx: AdapterContext): AdapterRequest;
  response(res: AdapterResponse, ctx: AdapterContext): AdapterResponse;
}

/** What to do with a body larger than `maxBodyBytes`: refuse it (413 / 502) or let it through untranslated. */
export type OversizePolicy = 'reject' | 'pass';

export interface Adapter {
  readonly name: string;
  /** Largest JSON body (either direction, as sent on the wire, decoded) the adapter parses. Default 1 MiB. */
  readonly maxBodyBytes: number;
  readonly oversize: OversizePolicy;
  /** In order; the first whose method and path match serves the request. */
  readonly operations: readonly AdapterOperation[];
  /** sha256 prefix of the adapter's source: part of every ETag the edge derives, so an edit invalidates caches. */
  readonly version: string;
}

export const DEFAULT_ADAPTER_MAX_BODY_BYTES = 1024 * 1024;

/** A translation that cannot be done: the rule that refused, and why. Becomes 502 `RF_ADAPTER_FAILED`. */
export class AdapterFailure extends Error {
  /** Where in the adapter, e.g. `get.response.body[2].map`. */
  readonly rule: string;
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdapterFailure';
    this.rule = rule;
  }
}

/** The shape a typed adapter (`legacy-adapter/<name>.ts`) exports as default. */
export interface TypedAdapterOperation {
  readonly name: string;
  /** Methods; absent for all. */
  readonly methods?: readonly string[];
  readonly path: string;
  /** Parse and hand over the request body (default false: it streams through). */
  readonly requestBody?: boolean;
  /** Parse and hand over the response body: all, success (2xx), errors (4xx/5xx) or a test; default none (streamed). */
  readonly responseBody?: 'all' | 'success' | 'errors' | ((status: number) => boolean);
  readonly request?: (req: AdapterRequest, ctx: AdapterContext) => AdapterRequest;
  readonly response?: (res: AdapterResponse, ctx: AdapterContext) => AdapterResponse;
}

export interface TypedAdapter {
  readonly maxBodyBytes?: number;
  readonly oversize?: OversizePolicy;
  readonly operations: readonly TypedAdapterOperation[];
}

/** Identity helper that gives a typed adapter file its types: `export default defineAdapter({ … })`. */
export function defineAdapter(adapter: TypedAdapter): TypedAdapter {
  return adapter;
}
