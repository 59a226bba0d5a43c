// The agents service's own contract (v2), as a team that extracted it would design it: resources under `/v2`,
// `displayName` and an upper-case `state`, timestamps as epoch milliseconds grouped under `timestamps`, cursor paging
// (`{ data, nextCursor, totalCount }`, `?pageSize=&cursor=`), `?state=` filtering, one error envelope
// `{ error: { code, message, field?, reason?, parameter? } }` with 422 for every invalid input, and gzip/br for
// clients that accept it. It shares nothing with the v1 contract but the domain (agents-data.ts): old clients reach
// it only through the edge's adapter (legacy-adapter/agents-v1.yaml).
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Agent, AgentFields, AgentStatus, AgentStore } from './agents-data.ts';
import { streamRunsCsv } from './agents-endpoints.ts';
import { BodyError, readSmallBody, sendJson, splitTarget } from './respond.ts';

const PREFIX = '/v2/agents';
export const V2_STATES = ['ACTIVE', 'PAUSED', 'ARCHIVED'] as const;
export type AgentState = (typeof V2_STATES)[number];
const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 500;
/** Bodies smaller than this are not worth compressing. */
const COMPRESS_MIN_BYTES = 256;

export interface AgentV2 {
  readonly id: string;
  readonly displayName: string;
  readonly description: string;
  readonly model: string;
  readonly state: AgentState;
  readonly tools: readonly string[];
  readonly timestamps: { readonly created: number; readonly updated: number };
}

export interface AgentsV2Options {
  readonly store: AgentStore;
  readonly exportChunkDelayMs?: number;
}

export function toV2(agent: Agent): AgentV2 {
  return {
    id: agent.id,
    displayName: agent.name,
    description: agent.description,
    model: agent.model,
    state: agent.status.toUpperCase() as AgentState,
    tools: agent.tools,
    timestamps: { created: Date.parse(agent.createdAt), updated: Date.parse(agent.updatedAt) },
  };
}

interface V2Error {
  readonly code: string;
  readonly message: string;
  readonly field?: string;
  readonly reason?: string;
  readonly parameter?: string;
}

class V2Failure extends Error {
  constructor(
    readonly status: number,
    readonly body: V2Error,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(body.message);
  }
}

function invalid(field: string, reason: string): V2Failure {
  return new V2Failure(422, { code: 'VALIDATION_FAILED', message: `${field} ${reason}`, field, reason });
}

/** The ETag of a representation: sha256 of its JSON, like the monolith's (a different representation, another tag). */
function etagOf(body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
}

function tagMatches(header: string | undefined, etag: string, weak: boolean): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    if (tag === '*') return true;
    return weak ? tag.replace(/^W\//, '') === etag : tag === etag;
  });
}

/** br, then gzip, when the client accepts them (q=0 refuses); identity otherwise. */
function chooseEncoding(accept: string | undefined): 'br' | 'gzip' | null {
  if (accept === undefined) return null;
  const accepted = new Set(
    accept
      .split(',')
      .map((part) => part.trim().toLowerCase().split(';'))
      .filter(([, q]) => q === undefined || !/^\s*q=0(\.0*)?\s*$/.test(q))
      .map(([coding]) => coding ?? ''),
  );
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip')) return 'gzip';
  return null;
}

/** JSON, compressed (br, then gzip) for a client that accepts it once it is worth it; `Vary` says so either way. */
function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  sendJson(req, res, status, body, { vary: 'Accept-Encoding', ...headers }, (bytes) => {
    const encoding = bytes.length >= COMPRESS_MIN_BYTES ? chooseEncoding(req.headers['accept-encoding']) : null;
    if (encoding === 'gzip') return { bytes: gzipSync(bytes), encoding };
    if (encoding === 'br') {
      return { bytes: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }), encoding };
    }
    return { bytes, encoding: null };
  });
}

function sendRepresentation(req: IncomingMessage, res: ServerResponse, body: unknown, extra: OutgoingHttpHeaders = {}) {
  const etag = etagOf(body);
  const headers = { 'cache-control': 'no-cache', etag, ...extra };
  if (tagMatches(req.headers['if-none-match'], etag, true)) send(req, res, 304, undefined, headers);
  else send(req, res, 200, body, headers);
}

function notAllowed(req: IncomingMessage, allow: readonly string[]): V2Failure {
  return new V2Failure(
    405,
    { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here` },
    { allow: allow.join(', ') },
  );
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new V2Failure(415, { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json' });
  }
  let raw: Buffer;
  try {
    raw = await readSmallBody(req);
  } catch (err) {
    if (err instanceof BodyError)
      throw new V2Failure(413, { code: 'PAYLOAD_TOO_LARGE', message: err.message }, { connection: 'close' });
    throw err;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new V2Failure(400, { code: 'MALFORMED_JSON', message: 'request body is not valid JSON' });
  }
}

const V2_FIELDS = new Set(['displayName', 'description', 'model', 'state', 'tools']);

/** The v2 body's fields in the domain's terms; `full` (POST, PUT) needs displayName. */
function fieldsFromV2(input: unknown, full: boolean): Partial<AgentFields> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new V2Failure(422, { code: 'VALIDATION_FAILED', message: 'body must be a JSON object' });
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!V2_FIELDS.has(key)) throw new V2Failure(422, { code: 'VALIDATION_FAILED', message: `unknown field "${key}"` });
  }
  const out: { -readonly [K in keyof AgentFields]?: AgentFields[K] } = {};
  if ('displayName' in record) {
    const name = record['displayName'];
    if (typeof name !== 'string' || name.trim() === '' || name.length > 200) {
      throw invalid('displayName', 'must be a non-empty string of at most 200 characters');
    }
    out.name = name;
  } else if (full) throw invalid('displayName', 'is required');
  for (const key of ['description', 'model'] as const) {
    if (!(key in record)) continue;
    const value = record[key];
    if (typeof value !== 'string' || value.length > 2000)
      throw invalid(key, 'must be a string of at most 2000 characters');
    out[key] = value;
  }
  if ('state' in record) {
    const state = record['state'];
    if (typeof state !== 'string' || !(V2_STATES as readonly string[]).includes(state)) {
      throw invalid('state', `must be one of ${V2_STATES.join(', ')}`);
    }
    out.status = state.toLowerCase() as AgentStatus;
  }
  if ('tools' in record) {
    const tools = record['tools'];
    if (!Array.isArray(tools) || !tools.every((t): t is string => typeof t === 'string')) {
      throw invalid('tools', 'must be an array of strings');
    }
    out.tools = [...tools];
  }
  if (!full) return out;
  return { description: '', model: 'raptor-base', status: 'active', tools: [], ...out };
}

/**
 * Answers the request when its path is under `/v2/agents`; resolves false (and writes nothing) otherwise.
 * `/v2/agents` (GET, HEAD, POST), `/v2/agents/{id}` (GET, HEAD, PUT, PATCH, DELETE), `/v2/agents/{id}/runs.csv`.
 */
export async function handleAgentsV2Request(
  options: AgentsV2Options,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const { path, query } = splitTarget(req.url ?? '/');
  if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
  const segments = path === PREFIX ? [] : path.slice(PREFIX.length + 1).split('/');
  try {
    if (segments.length === 0) await collection(options, req, res, query);
    else if (segments.length === 1) await item(options, req, res, segments[0] ?? '');
    else if (segments.length === 2 && segments[1] === 'runs.csv')
      await runs(options, req, res, segments[0] ?? '', query);
    else throw new V2Failure(404, { code: 'NOT_FOUND', message: `no agents endpoint at ${path}` });
  } catch (err) {
    if (!(err instanceof V2Failure)) throw err;
    send(req, res, err.status, { error: err.body }, err.headers);
  }
  return true;
}

/** The edge marks its shadow copies `x-edge-shadow: 1`; this service runs such writes as dry runs (shadowDryRun). */
function isDryRun(req: IncomingMessage): boolean {
  return req.headers['x-edge-shadow'] === '1';
}

async function collection(
  { store }: AgentsV2Options,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) {
  if (req.method === 'GET' || req.method === 'HEAD') {
    const state = query.get('state');
    if (state !== null && !(V2_STATES as readonly string[]).includes(state)) {
      throw badParameter('state', `must be one of ${V2_STATES.join(', ')}`);
    }
    const pageSize = integerParam(query, 'pageSize', PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX);
    // The cursor is opaque to clients; today it is the offset of the page's first agent.
    const from = integerParam(query, 'cursor', 0, 0, Number.MAX_SAFE_INTEGER);
    const all = store.list(state === null ? {} : { status: state.toLowerCase() as AgentStatus });
    const data = all.slice(from, from + pageSize).map(toV2);
    const next = from + pageSize < all.length ? String(from + pageSize) : null;
    sendRepresentation(req, res, { data, nextCursor: next, totalCount: all.length });
    return;
  }
  if (req.method === 'POST') {
    const agent = store.create(fieldsFromV2(await readBody(req), true) as AgentFields, isDryRun(req));
    const body = toV2(agent);
    send(req, res, 201, body, { location: `${PREFIX}/${agent.id}`, etag: etagOf(body) });
    return;
  }
  throw notAllowed(req, ['GET', 'HEAD', 'POST']);
}

function badParameter(parameter: string, reason: string): V2Failure {
  return new V2Failure(422, { code: 'INVALID_PARAMETER', message: `${parameter} ${reason}`, parameter, reason });
}

function integerParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw badParameter(name, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

function decodeId(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

async function item({ store }: AgentsV2Options, req: IncomingMessage, res: ServerResponse, rawId: string) {
  const allow = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'];
  if (!allow.includes(req.method ?? '')) throw notAllowed(req, allow);
  const id = decodeId(rawId);
  const current = id === undefined ? undefined : store.get(id);
  if (id === undefined || current === undefined) {
    throw new V2Failure(404, { code: 'AGENT_NOT_FOUND', message: `no agent with id ${id ?? rawId}` });
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    sendRepresentation(req, res, toV2(current));
    return;
  }
  const etag = etagOf(toV2(current));
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && !tagMatches(ifMatch, etag, false)) {
    throw new V2Failure(412, { code: 'PRECONDITION_FAILED', message: 'the agent changed since you read it' }, { etag });
  }
  if (req.method === 'DELETE') {
    store.delete(id, isDryRun(req));
    send(req, res, 204, undefined);
    return;
  }
  const fields = fieldsFromV2(await readBody(req), req.method === 'PUT');
  const updated = toV2(store.update(id, fields, isDryRun(req)) as Agent);
  send(req, res, 200, updated, { 'cache-control': 'no-cache', etag: etagOf(updated) });
}

async function runs(
  { store, exportChunkDelayMs = 30 }: AgentsV2Options,
  req: IncomingMessage,
  res: ServerResponse,
  rawId: string,
  query: URLSearchParams,
) {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw notAllowed(req, ['GET', 'HEAD']);
  const id = decodeId(rawId);
  const agent = id === undefined ? undefined : store.get(id);
  if (agent === undefined)
    throw new V2Failure(404, { code: 'AGENT_NOT_FOUND', message: `no agent with id ${id ?? rawId}` });
  await streamRunsCsv(req, res, agent, integerParam(query, 'rows', 120, 0, 1_000_000), exportChunkDelayMs);
}
