// The v1 agents contract on the v2 agents service, written as a typed adapter: the escape hatch for what a
// declaration cannot say, shown here on the same translation as agents-v1.yaml so the two can be compared (the
// contract test runs the v1 session through both). Pure functions over the request/response description; `tsc`
// (npm test) checks them. A route uses it with `adapter: agents-v1-typed`.
import {
  AdapterFailure,
  type AdapterRequest,
  type AdapterResponse,
  defineAdapter,
  type JsonValue,
  type QueryPair,
} from '../src/core/adapter/types.ts';

type Json = { [key: string]: JsonValue };

const V2_STATE: Readonly<Record<string, string>> = { active: 'ACTIVE', paused: 'PAUSED', archived: 'ARCHIVED' };
const V1_STATUS: Readonly<Record<string, string>> = { ACTIVE: 'active', PAUSED: 'paused', ARCHIVED: 'archived' };
const V1_ERROR: Readonly<Record<string, string>> = {
  AGENT_NOT_FOUND: 'agent_not_found',
  NOT_FOUND: 'not_found',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  MALFORMED_JSON: 'invalid_json',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  PAYLOAD_TOO_LARGE: 'body_too_large',
  PRECONDITION_FAILED: 'precondition_failed',
  VALIDATION_FAILED: 'invalid_agent',
  INVALID_PARAMETER: 'invalid_query',
};
/** v2 names in messages → v1 names (fields, query parameters, enumerations). */
const V1_WORDS: Readonly<Record<string, string>> = {
  displayName: 'name',
  state: 'status',
  pageSize: 'limit',
  cursor: 'offset',
  'must be one of ACTIVE, PAUSED, ARCHIVED': 'must be one of active, paused, archived',
};

function isObject(value: JsonValue | undefined): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function agentToV1(rule: string, agent: JsonValue | undefined): Json {
  if (!isObject(agent) || !isObject(agent['timestamps'])) throw new AdapterFailure(rule, 'not a v2 agent');
  const status = V1_STATUS[String(agent['state'])];
  if (status === undefined) throw new AdapterFailure(rule, `no v1 status for state ${JSON.stringify(agent['state'])}`);
  const iso = (ms: JsonValue | undefined) => new Date(Number(ms)).toISOString();
  return {
    id: agent['id'] ?? null,
    name: agent['displayName'] ?? null,
    description: agent['description'] ?? null,
    model: agent['model'] ?? null,
    status,
    tools: agent['tools'] ?? [],
    createdAt: iso(agent['timestamps']['created']),
    updatedAt: iso(agent['timestamps']['updated']),
  };
}

/** A v1 body for a write: names changed, anything unknown left for the service to refuse. */
function agentToV2(req: AdapterRequest): AdapterRequest {
  if (!isObject(req.body)) return req;
  const out: Json = {};
  for (const [key, value] of Object.entries(req.body)) {
    if (key === 'name') out['displayName'] = value;
    else if (key === 'status') out['state'] = typeof value === 'string' ? (V2_STATE[value] ?? value) : value;
    else out[key] = value;
  }
  return { ...req, body: out };
}

/** `{ error: { code, message, field?, reason?, parameter? } }` → v1's `{ error, message }`. */
function errorToV1(rule: string, res: AdapterResponse): AdapterResponse {
  const error = isObject(res.body) ? res.body['error'] : undefined;
  if (!isObject(error)) return res;
  const code = V1_ERROR[String(error['code'])];
  if (code === undefined) throw new AdapterFailure(rule, `no v1 error for ${JSON.stringify(error['code'])}`);
  const name = error['field'] ?? error['parameter'];
  const reason = error['reason'];
  const word = (w: JsonValue | undefined) => V1_WORDS[String(w)] ?? String(w);
  const message = name !== undefined && reason !== undefined ? `${word(name)} ${word(reason)}` : error['message'];
  return { ...res, body: { error: code, message: message ?? null } };
}

function v1Answer(
  rule: string,
  res: AdapterResponse,
  success: (body: JsonValue | undefined) => JsonValue,
): AdapterResponse {
  if (res.status >= 200 && res.status < 300) return res.body === undefined ? res : { ...res, body: success(res.body) };
  return errorToV1(rule, res);
}

function withLocation(res: AdapterResponse): AdapterResponse {
  const headers = [...res.headers];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]?.toLowerCase() === 'location')
      headers[i + 1] = (headers[i + 1] ?? '').replace('/v2/agents/', '/api/agents/');
  }
  return { ...res, headers };
}

const RENAMED_QUERY: Readonly<Record<string, string>> = { status: 'state', limit: 'pageSize', offset: 'cursor' };

function listQuery(query: readonly QueryPair[]): QueryPair[] {
  const out = query.map((p): QueryPair => {
    const name = RENAMED_QUERY[p.name];
    if (name === undefined) return p;
    const value = name === 'state' && p.value !== null ? (V2_STATE[decodeURIComponent(p.value)] ?? p.value) : p.value;
    return { name, value };
  });
  if (!out.some((p) => p.name === 'pageSize')) out.push({ name: 'pageSize', value: '500' });
  return out;
}

export default defineAdapter({
  maxBodyBytes: 1024 * 1024,
  oversize: 'reject',
  operations: [
    {
      name: 'list',
      methods: ['GET', 'HEAD'],
      path: '/api/agents',
      responseBody: 'all',
      request: (req) => ({ ...req, path: '/v2/agents', query: listQuery(req.query) }),
      response: (res) => {
        const v1 = v1Answer('list.response', res, (body) => {
          if (!isObject(body) || !Array.isArray(body['data']))
            throw new AdapterFailure('list.response', 'not a v2 page');
          return { items: body['data'].map((a) => agentToV1('list.response', a)), total: body['totalCount'] ?? 0 };
        });
        return v1.status === 422 ? { ...v1, status: 400 } : v1;
      },
    },
    {
      name: 'create',
      methods: ['POST'],
      path: '/api/agents',
      requestBody: true,
      responseBody: 'all',
      request: (req) => agentToV2({ ...req, path: '/v2/agents' }),
      response: (res) => withLocation(v1Answer('create.response', res, (body) => agentToV1('create.response', body))),
    },
    {
      name: 'collection-other',
      path: '/api/agents',
      responseBody: 'errors',
      request: (req) => ({ ...req, path: '/v2/agents' }),
      response: (res) => errorToV1('collection-other.response', res),
    },
    {
      name: 'item',
      path: '/api/agents/:id',
      requestBody: true,
      responseBody: 'all',
      request: (req, { params }) => agentToV2({ ...req, path: `/v2/agents/${params['id']}` }),
      response: (res) => v1Answer('item.response', res, (body) => agentToV1('item.response', body)),
    },
    {
      name: 'runs-export',
      methods: ['GET', 'HEAD'],
      path: '/api/agents/:id/runs/export',
      responseBody: 'errors',
      request: (req, { params }) => ({ ...req, path: `/v2/agents/${params['id']}/runs.csv` }),
      response: (res) => {
        const v1 = errorToV1('runs-export.response', res);
        return v1.status === 422 ? { ...v1, status: 400 } : v1;
      },
    },
  ],
});
