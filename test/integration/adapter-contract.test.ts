// "Existing clients unchanged": the same v1 session (reads and writes, errors, paging, conditional requests,
// compressed answers) sent to the monolith directly and through the edge to the v2 agents service at weight 100,
// translated by the repository's legacy-adapter/agents-v1.yaml. Every step must give the same status, the same JSON
// (deep), the same contract headers and, for non-JSON bodies (the CSV export), the same bytes.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createAgentsService } from '../../examples/agents-service.ts';
import { createMonolith } from '../../examples/monolith.ts';
import { closeServer } from '../../examples/server-lifecycle.ts';
import { AGENT_SESSION, runSession, type Step, startExamplesEdge } from '../support/agents-session.ts';
import type { EdgeApp } from '../support/edge-app.ts';
import type { RawResponse } from '../support/raw-request.ts';

const FIXED_NOW = () => Date.parse('2025-06-01T12:00:00.000Z');

/** Headers a v1 client reads: they must be equal. (ETags differ by design: derived; their behaviour is checked.) */
const CONTRACT_HEADERS = ['content-type', 'cache-control', 'location', 'allow', 'content-disposition'];

// Not in the adapted session: `deeper path` (/api/agents/:id/nothing) is no endpoint of the v1 contract, so no
// operation of the adapter describes it and the edge answers 502 RF_ADAPTER_FAILED (adapter-failures.test.ts).
const SESSION: readonly Step[] = [
  ...AGENT_SESSION.filter((step) => step.name !== 'deeper path'),
  { name: 'page 1', method: 'GET', path: '/api/agents?limit=2', status: 200 },
  { name: 'page 2', method: 'GET', path: '/api/agents?limit=2&offset=2', status: 200 },
  { name: 'page past the end', method: 'GET', path: '/api/agents?offset=10', status: 200 },
  { name: 'page filtered', method: 'GET', path: '/api/agents?status=active&limit=1&offset=1', status: 200 },
  { name: 'bad limit', method: 'GET', path: '/api/agents?limit=0', status: 400 },
  { name: 'bad offset', method: 'GET', path: '/api/agents?offset=abc', status: 400 },
  { name: 'export bad rows', method: 'GET', path: '/api/agents/agt_0001/runs/export?rows=x', status: 400 },
  { name: 'list gzip', method: 'GET', path: '/api/agents', headers: { 'accept-encoding': 'gzip' }, status: 200 },
  { name: 'list br', method: 'GET', path: '/api/agents', headers: { 'accept-encoding': 'br, gzip' }, status: 200 },
  {
    name: 'get gzip revalidate',
    method: 'GET',
    path: '/api/agents/agt_0001',
    headers: { 'accept-encoding': 'gzip' },
    etagFrom: { step: 'get', header: 'if-none-match' },
    status: 304,
  },
];

function adaptedRoutes(adapter: string): string {
  return `rollout: { steps: [100] }
routes:
  - id: agents-list
    path: /api/agents
    service: agents
    flag: raptorflow.agents-read
    mode: canary
    adapter: ${adapter}
  - id: agents-item
    path: /api/agents/*
    service: agents
    flag: raptorflow.agents-read
    mode: canary
    adapter: ${adapter}
`;
}

function decoded(res: RawResponse): Buffer {
  const coding = res.headers['content-encoding'];
  if (coding === 'gzip') return gunzipSync(res.body);
  if (coding === 'br') return brotliDecompressSync(res.body);
  return res.body;
}

function json(res: RawResponse): unknown {
  const body = decoded(res);
  return body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
}

// The same session through the declarative adapter and through its typed twin (legacy-adapter/agents-v1-typed.ts).
for (const adapter of ['agents-v1', 'agents-v1-typed']) {
  describe(`v1 clients through the edge (adapter ${adapter}) to the v2 agents service see the monolith contract`, () => {
    const monolith = createMonolith({ now: FIXED_NOW, exportChunkDelayMs: 2 });
    const service = createAgentsService({ now: FIXED_NOW, exportChunkDelayMs: 2 });
    let edge: EdgeApp;
    let direct: Map<string, RawResponse>;
    let adapted: Map<string, RawResponse>;

    before(async () => {
      const started = await startExamplesEdge(monolith, service, adaptedRoutes(adapter));
      edge = started.edge;
      direct = await runSession(started.monolithUrl, SESSION);
      adapted = await runSession(edge.url, SESSION);
    });
    after(async () => {
      await edge?.close();
      await Promise.all([closeServer(monolith), closeServer(service as Server)]);
    });

    test('every answer came from the v2 service (and the monolith answered the direct session)', () => {
      for (const step of SESSION) {
        assert.equal(adapted.get(step.name)?.headers['x-served-by'], 'agents-service', step.name);
        assert.equal(direct.get(step.name)?.headers['x-served-by'], 'monolith', step.name);
      }
    });

    test('every step answers the same status as the monolith', () => {
      const expected = SESSION.map((step) => `${step.name} ${step.status}`);
      assert.deepEqual(
        SESSION.map((step) => `${step.name} ${direct.get(step.name)?.status}`),
        expected,
      );
      assert.deepEqual(
        SESSION.map((step) => `${step.name} ${adapted.get(step.name)?.status}`),
        expected,
      );
    });

    test('JSON bodies are deep-equal, other bodies byte-equal, contract headers equal', () => {
      for (const step of SESSION) {
        const a = direct.get(step.name);
        const b = adapted.get(step.name);
        assert.ok(a && b, step.name);
        if ((a.headers['content-type'] ?? '').startsWith('application/json')) {
          assert.deepEqual(json(b), json(a), step.name);
        } else {
          assert.equal(decoded(b).toString('latin1'), decoded(a).toString('latin1'), step.name);
        }
        for (const name of CONTRACT_HEADERS) assert.equal(b.headers[name], a.headers[name], `${step.name}: ${name}`);
        assert.equal(
          b.headers.etag === undefined,
          a.headers.etag === undefined,
          `${step.name}: an ETag on both or neither`,
        );
      }
    });

    test('Content-Length is that of the translated bytes (the HEAD answers: of the GET body)', () => {
      for (const step of SESSION) {
        const res = adapted.get(step.name);
        if (res === undefined || res.headers['content-length'] === undefined || res.status === 304) continue;
        const length = Number(res.headers['content-length']);
        if (step.method === 'HEAD') {
          assert.equal(res.body.length, 0, step.name);
          assert.equal(res.headers['content-length'], direct.get(step.name)?.headers['content-length'], step.name);
        } else assert.equal(length, res.body.length, step.name);
      }
    });

    test('a compressed answer is translated and sent in the coding the client asked for', () => {
      assert.equal(adapted.get('list gzip')?.headers['content-encoding'], 'gzip');
      assert.equal(adapted.get('list br')?.headers['content-encoding'], 'br');
      assert.equal(adapted.get('list')?.headers['content-encoding'], undefined);
      assert.deepEqual(json(adapted.get('list gzip') as RawResponse), json(direct.get('list') as RawResponse));
    });

    test("the edge's ETags revalidate: the v1 tag it handed out gets a 304, a stale one the full answer", () => {
      const etag = adapted.get('get')?.headers.etag ?? '';
      assert.match(etag, /^"[^"]+-rfa[0-9a-f]{8}"$/);
      assert.equal(adapted.get('get revalidate')?.headers.etag, etag);
      assert.equal(adapted.get('get revalidate')?.body.length, 0);
      assert.equal(adapted.get('get stale tag')?.status, 200);
      // An If-Match with the tag of the created agent replaced it; the same stale tag then failed with 412.
      assert.equal(adapted.get('replace')?.status, 200);
      assert.equal(adapted.get('patch stale')?.status, 412);
      assert.equal(adapted.get('patch stale')?.headers.etag, adapted.get('replace')?.headers.etag);
    });

    test('Location points at the v1 resource, headers describing the v2 bytes are gone', () => {
      assert.equal(adapted.get('create')?.headers.location, '/api/agents/agt_0004');
      for (const [name, res] of adapted) {
        assert.equal(res.headers['content-md5'], undefined, name);
        assert.equal(res.headers.digest, undefined, name);
      }
    });

    test('the CSV export is streamed through untranslated (chunked, never buffered)', () => {
      assert.equal(adapted.get('export')?.headers['transfer-encoding'], 'chunked');
      assert.equal(adapted.get('export')?.body.toString(), direct.get('export')?.body.toString());
    });
  });
}
