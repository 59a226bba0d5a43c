// The HTTP contract of the agents endpoints, served identically by the monolith and the extracted agents service:
// the strangler-fig promise is that a client cannot tell which one answered, apart from `x-served-by`.
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AGENT_STATUSES,
  type Agent,
  type AgentStatus,
  type AgentStore,
  runsCsvChunks,
  validateAgentFields,
} from './agents-data.ts';
import { BodyError, drained, readJsonBody, sendError, sendJson, sendMethodNotAllowed, splitTarget } from './respond.ts';

export interface AgentsEndpointsOptions {
  readonly store: AgentStore;
  /** Pause between CSV export chunks: the export is slow on purpose, to exercise streaming through the edge. */
  readonly exportChunkDelayMs?: number;
}

const PREFIX = '/api/agents';
const EXPORT_ROWS_DEFAULT = 120;
const EXPORT_ROWS_MAX = 1_000_000;
const EXPORT_ROWS_PER_CHUNK = 20;
/** Largest page of `GET /api/agents?limit=`; also the page when no limit is given. */
export const LIST_LIMIT_MAX = 500;

// Agents change under the client's feet, so caches must revalidate; the ETag makes that cheap (a 304).
const CACHE_HEADERS = { 'cache-control': 'no-cache' } as const;

/** A strong ETag derived from the representation's bytes, so two servers holding the same agent agree on it. */
export function etagOf(body: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
  return `"${digest.slice(0, 27)}"`;
}

/** RFC 9110 §13.1.2: If-None-Match uses the weak comparison; `*` matches any current representation. */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === opaque;
  });
}

/** RFC 9110 §13.1.1: If-Match uses the strong comparison, and a weak tag never matches. */
function ifMatchFails(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return !header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag;
  });
}

/** Sends a cacheable representation: 304 when the client already holds it. */
function sendRepresentation(req: IncomingMessage, res: ServerResponse, body: unknown, extra: OutgoingHttpHeaders = {}) {
  const etag = etagOf(body);
  const headers = { ...CACHE_HEADERS, etag, ...extra };
  if (noneMatch(req.headers['if-none-match'], etag)) {
    sendJson(req, res, 304, undefined, headers);
    return;
  }
  sendJson(req, res, 200, body, headers);
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Answers the request when its path is under `/api/agents`; resolves false (and writes nothing) otherwise.
 * Routes: `/api/agents` (GET, HEAD, POST), `/api/agents/:id` (GET, HEAD, PUT, PATCH, DELETE),
 * `/api/agents/:id/runs/export` (GET, HEAD).
 */
export async function handleAgentsRequest(
  options: AgentsEndpointsOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const { path, query } = splitTarget(req.url ?? '/');
  if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
  const rest = path.slice(PREFIX.length + 1);
  const segments = path === PREFIX ? [] : rest.split('/');
  try {
    if (segments.length === 0) await collection(options, req, res, query);
    else if (segments.length === 1) await item(options, req, res, segments[0] ?? '');
    else if (segments.length === 3 && segments[1] === 'runs' && segments[2] === 'export') {
      await runsExport(options, req, res, segments[0] ?? '', query);
    } else sendError(req, res, 404, 'not_found', `no agents endpoint at ${path}`);
  } catch (err) {
    if (!(err instanceof BodyError)) throw err;
    sendError(req, res, err.status, err.code, err.message, err.status === 413 ? { connection: 'close' } : {});
  }
  return true;
}

async function collection(
  { store }: AgentsEndpointsOptions,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  switch (req.method) {
    case 'GET':
    case 'HEAD': {
      const status = query.get('status');
      if (status !== null && !(AGENT_STATUSES as readonly string[]).includes(status)) {
        sendError(req, res, 400, 'invalid_query', `status must be one of ${AGENT_STATUSES.join(', ')}`);
        return;
      }
      const limit = integerQuery(query, 'limit', LIST_LIMIT_MAX, 1, LIST_LIMIT_MAX);
      const offset = integerQuery(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
      if (typeof limit === 'string' || typeof offset === 'string') {
        sendError(req, res, 400, 'invalid_query', typeof limit === 'string' ? limit : (offset as string));
        return;
      }
      const all = store.list(status === null ? {} : { status: status as AgentStatus });
      // Offset paging: `total` counts every match, `items` holds the page.
      sendRepresentation(req, res, { items: all.slice(offset, offset + limit), total: all.length });
      return;
    }
    case 'POST': {
      const fields = validateAgentFields(await readJsonBody(req), 'full');
      if (!fields.ok) {
        sendError(req, res, 422, 'invalid_agent', fields.message);
        return;
      }
      const agent = store.create(fields.value);
      // A relative Location (RFC 9110 §10.2.2 allows it): the edge must pass it through untouched.
      sendJson(req, res, 201, agent, { location: `${PREFIX}/${agent.id}`, etag: etagOf(agent) });
      return;
    }
    default:
      sendMethodNotAllowed(req, res, ['GET', 'HEAD', 'POST']);
  }
}

/** The integer query parameter, its fallback when absent, or the message saying what is wrong. */
function integerQuery(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number | string {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  return /^\d+$/.test(raw) && n >= min && n <= max ? n : `${name} must be an integer from ${min} to ${max}`;
}

async function item(
  { store }: AgentsEndpointsOptions,
  req: IncomingMessage,
  res: ServerResponse,
  rawId: string,
): Promise<void> {
  const allow = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'];
  if (!allow.includes(req.method ?? '')) {
    sendMethodNotAllowed(req, res, allow);
    return;
  }
  const id = decodeSegment(rawId);
  const current = id === undefined ? undefined : store.get(id);
  if (id === undefined || current === undefined) {
    sendError(req, res, 404, 'agent_not_found', `no agent with id ${id ?? rawId}`);
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    sendRepresentation(req, res, current);
    return;
  }
  // Optimistic concurrency: a writer holding a stale ETag is refused instead of overwriting someone else's edit.
  if (ifMatchFails(req.headers['if-match'], etagOf(current))) {
    sendError(req, res, 412, 'precondition_failed', 'the agent changed since you read it', { etag: etagOf(current) });
    return;
  }
  if (req.method === 'DELETE') {
    store.delete(id);
    sendJson(req, res, 204, undefined);
    return;
  }
  const body = await readJsonBody(req);
  const fields = req.method === 'PUT' ? validateAgentFields(body, 'full') : validateAgentFields(body, 'partial');
  if (!fields.ok) {
    sendError(req, res, 422, 'invalid_agent', fields.message);
    return;
  }
  const updated = store.update(id, fields.value);
  sendJson(req, res, 200, updated, { ...CACHE_HEADERS, etag: etagOf(updated) });
}

async function runsExport(
  { store, exportChunkDelayMs = 30 }: AgentsEndpointsOptions,
  req: IncomingMessage,
  res: ServerResponse,
  rawId: string,
  query: URLSearchParams,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendMethodNotAllowed(req, res, ['GET', 'HEAD']);
    return;
  }
  const id = decodeSegment(rawId);
  const agent = id === undefined ? undefined : store.get(id);
  if (agent === undefined) {
    sendError(req, res, 404, 'agent_not_found', `no agent with id ${id ?? rawId}`);
    return;
  }
  const rowsParam = query.get('rows');
  const rows = rowsParam === null ? EXPORT_ROWS_DEFAULT : Number(rowsParam);
  if (!Number.isInteger(rows) || rows < 0 || rows > EXPORT_ROWS_MAX) {
    sendError(req, res, 400, 'invalid_query', `rows must be an integer from 0 to ${EXPORT_ROWS_MAX}`);
    return;
  }
  await streamRunsCsv(req, res, agent, rows, exportChunkDelayMs);
}

/** The run history as slow chunked CSV (both contracts' export endpoints send exactly this). */
export async function streamRunsCsv(
  req: IncomingMessage,
  res: ServerResponse,
  agent: Agent,
  rows: number,
  chunkDelayMs: number,
): Promise<void> {
  // No Content-Length: the export is produced as it is sent, so node frames it with Transfer-Encoding: chunked.
  res.writeHead(200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${agent.id}-runs.csv"`,
    'cache-control': 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  let first = true;
  for (const chunk of runsCsvChunks(agent, rows, EXPORT_ROWS_PER_CHUNK)) {
    if (res.destroyed) return;
    if (!first && chunkDelayMs > 0) await sleep(chunkDelayMs);
    first = false;
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}
