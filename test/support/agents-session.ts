// A v1 client session touching every agents endpoint (happy paths and errors, in an order where writes matter),
// run against any base URL: the monolith, the agents service in v1 mode, or the edge in front of the v2 service.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { listen } from '../../examples/server-lifecycle.ts';
import { type EdgeApp, type StartEdgeAppOptions, startEdgeApp } from './edge-app.ts';
import { type RawRequestOptions, type RawResponse, rawRequest } from './raw-request.ts';

/** The repository's legacy-adapter/ folder (agents-v1 translates this session for the v2 service). */
export const REPO_ADAPTERS = fileURLToPath(new URL('../../legacy-adapter', import.meta.url));

export interface Step {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Sets If-None-Match / If-Match from the ETag of an earlier step's response. */
  readonly etagFrom?: { readonly step: string; readonly header: 'if-none-match' | 'if-match' };
  readonly status: number;
}

export const JSON_HEADERS = { 'content-type': 'application/json' };

// A client session touching every agents endpoint, happy paths and errors alike, in an order where writes matter.
export const AGENT_SESSION: readonly Step[] = [
  { name: 'list', method: 'GET', path: '/api/agents', status: 200 },
  { name: 'list filtered', method: 'GET', path: '/api/agents?status=paused', status: 200 },
  { name: 'list bad filter', method: 'GET', path: '/api/agents?status=bogus', status: 400 },
  { name: 'list head', method: 'HEAD', path: '/api/agents', status: 200 },
  { name: 'get', method: 'GET', path: '/api/agents/agt_0001', status: 200 },
  { name: 'get head', method: 'HEAD', path: '/api/agents/agt_0001', status: 200 },
  {
    name: 'get revalidate',
    method: 'GET',
    path: '/api/agents/agt_0001',
    etagFrom: { step: 'get', header: 'if-none-match' },
    status: 304,
  },
  {
    name: 'get stale tag',
    method: 'GET',
    path: '/api/agents/agt_0001',
    headers: { 'if-none-match': '"x"' },
    status: 200,
  },
  { name: 'get encoded id', method: 'GET', path: '/api/agents/%61gt_0002', status: 200 },
  { name: 'get unknown', method: 'GET', path: '/api/agents/agt_9999', status: 404 },
  { name: 'head unknown', method: 'HEAD', path: '/api/agents/agt_9999', status: 404 },
  { name: 'deeper path', method: 'GET', path: '/api/agents/agt_0001/nothing', status: 404 },
  { name: 'export', method: 'GET', path: '/api/agents/agt_0001/runs/export?rows=45', status: 200 },
  { name: 'export unknown', method: 'GET', path: '/api/agents/agt_9999/runs/export', status: 404 },
  { name: 'collection delete', method: 'DELETE', path: '/api/agents', status: 405 },
  {
    name: 'create',
    method: 'POST',
    path: '/api/agents',
    headers: JSON_HEADERS,
    body: JSON.stringify({ tools: ['crm'], name: 'Lead scorer', model: 'raptor-mini' }),
    status: 201,
  },
  {
    name: 'create bad json',
    method: 'POST',
    path: '/api/agents',
    headers: JSON_HEADERS,
    body: '{"name":',
    status: 400,
  },
  {
    name: 'create wrong type',
    method: 'POST',
    path: '/api/agents',
    headers: { 'content-type': 'text/plain' },
    body: 'x',
    status: 415,
  },
  {
    name: 'create no name',
    method: 'POST',
    path: '/api/agents',
    headers: JSON_HEADERS,
    body: '{"model":"m"}',
    status: 422,
  },
  {
    name: 'create unknown key',
    method: 'POST',
    path: '/api/agents',
    headers: JSON_HEADERS,
    body: '{"name":"a","x":1}',
    status: 422,
  },
  { name: 'get created', method: 'GET', path: '/api/agents/agt_0004', status: 200 },
  {
    name: 'replace',
    method: 'PUT',
    path: '/api/agents/agt_0004',
    headers: JSON_HEADERS,
    body: JSON.stringify({ name: 'Lead scorer v2', status: 'active', tools: [] }),
    etagFrom: { step: 'get created', header: 'if-match' },
    status: 200,
  },
  {
    name: 'patch stale',
    method: 'PATCH',
    path: '/api/agents/agt_0004',
    headers: JSON_HEADERS,
    body: '{"status":"paused"}',
    etagFrom: { step: 'get created', header: 'if-match' },
    status: 412,
  },
  {
    name: 'patch',
    method: 'PATCH',
    path: '/api/agents/agt_0004',
    headers: JSON_HEADERS,
    body: '{"status":"paused"}',
    status: 200,
  },
  {
    name: 'patch bad status',
    method: 'PATCH',
    path: '/api/agents/agt_0004',
    headers: JSON_HEADERS,
    body: '{"status":"gone"}',
    status: 422,
  },
  { name: 'item post', method: 'POST', path: '/api/agents/agt_0004', status: 405 },
  { name: 'delete', method: 'DELETE', path: '/api/agents/agt_0004', status: 204 },
  { name: 'get deleted', method: 'GET', path: '/api/agents/agt_0004', status: 404 },
  { name: 'delete again', method: 'DELETE', path: '/api/agents/agt_0004', status: 404 },
  { name: 'list after', method: 'GET', path: '/api/agents', status: 200 },
];

export async function runSession(
  baseUrl: string,
  session: readonly Step[] = AGENT_SESSION,
): Promise<Map<string, RawResponse>> {
  const responses = new Map<string, RawResponse>();
  for (const step of session) {
    const headers: Record<string, string> = { ...step.headers };
    if (step.etagFrom !== undefined) {
      const etag = responses.get(step.etagFrom.step)?.headers.etag;
      assert.ok(etag, `step "${step.etagFrom.step}" gave no ETag`);
      headers[step.etagFrom.header] = etag;
    }
    const options: RawRequestOptions = {
      method: step.method,
      headers,
      ...(step.body === undefined ? {} : { body: step.body }),
    };
    responses.set(step.name, await rawRequest(baseUrl, step.path, options));
  }
  return responses;
}

/**
 * The example monolith and agents service on port 0 behind an in-process edge whose table has them as `monolith`
 * (legacy) and `agents`; `rest` is the rest of routes.yaml (rollout, routes…). Adapters from `adaptersDir`.
 */
export async function startExamplesEdge(
  monolith: Server,
  service: Server,
  rest: string,
  options: StartEdgeAppOptions & { adaptersDir?: string; serviceDryRun?: boolean } = {},
): Promise<{ edge: EdgeApp; monolithUrl: string; serviceUrl: string }> {
  const [monolithUrl, serviceUrl] = await Promise.all([
    listen(monolith, 0, '127.0.0.1'),
    listen(service, 0, '127.0.0.1'),
  ]);
  const { adaptersDir = REPO_ADAPTERS, serviceDryRun = false, env, ...edgeOptions } = options;
  const table = `version: 1
upstreams:
  monolith: { url: ${monolithUrl} }
  agents: { url: ${serviceUrl}${serviceDryRun ? ', shadowDryRun: true' : ''} }
legacy: monolith
${rest}`;
  const edge = await startEdgeApp(table, { ...edgeOptions, env: { ADAPTERS_DIR: adaptersDir, ...env } });
  return { edge, monolithUrl, serviceUrl };
}
