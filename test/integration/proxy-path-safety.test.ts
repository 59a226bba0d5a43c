// Path safety and framing checks as a client meets them: through a real edge, over raw TCP so that nothing on the
// client side normalises the request first. Every refused request must be answered 400/414/431 with the JSON error
// body, counted, logged, and must never reach the upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { requestLines, startEdge, type TestEdge } from '../support/edge.ts';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { rawExchange, rawJsonBody, rawStatus } from '../support/http-client.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

interface RefusalCase {
  readonly name: string;
  readonly request: string;
  readonly status: number;
  readonly code: string;
  /** rf_edge_rejected_requests_total reason label. */
  readonly metric: string;
}

function get(target: string, extra = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: shop.example\r\n${extra}Connection: close\r\n\r\n`;
}

const refusals: RefusalCase[] = [
  {
    name: 'encoded slash %2f',
    request: get('/api/agents%2f..%2fadmin'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  { name: 'encoded slash %2F', request: get('/api/a%2Fb'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  { name: 'encoded backslash %5c', request: get('/api/a%5cb'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  { name: 'raw backslash', request: get('/api/a\\b'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  {
    name: 'raw dot-dot segment',
    request: get('/api/agents/../admin'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  { name: 'raw dot segment', request: get('/api/./agents'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  { name: 'trailing dot-dot', request: get('/api/agents/..'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  {
    name: 'encoded dot-dot %2e%2e',
    request: get('/api/%2e%2e/admin'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'half-encoded dot-dot .%2E',
    request: get('/api/.%2E/admin'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'double-encoded dot-dot %252e%252e',
    request: get('/api/%252e%252e/admin'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'double-encoded slash %252f',
    request: get('/api/a%252fb'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  { name: 'encoded NUL %00', request: get('/api/a%00.json'), status: 400, code: 'RF_BAD_PATH', metric: 'bad_path' },
  {
    name: 'matrix parameter ;',
    request: get('/api/admin;x=1/agents'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'malformed escape %zz in the path',
    request: get('/api/%zz'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'escape that is not UTF-8',
    request: get('/api/%c3%28'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'absolute-form target',
    request: get('http://internal.example/api/agents'),
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'asterisk-form target',
    request: 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    status: 400,
    code: 'RF_BAD_PATH',
    metric: 'bad_path',
  },
  {
    name: 'duplicate Host',
    request: 'GET /api/agents HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n',
    status: 400,
    code: 'RF_BAD_REQUEST',
    metric: 'smuggling',
  },
  {
    name: 'Transfer-Encoding other than a single chunked',
    request:
      'POST /api/agents HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
    status: 400,
    code: 'RF_BAD_REQUEST',
    metric: 'smuggling',
  },
  {
    name: 'URL longer than limits.maxUrlLength → 414',
    request: get(`/api/${'a'.repeat(300)}`),
    status: 414,
    code: 'RF_URI_TOO_LONG',
    metric: 'uri_too_long',
  },
  {
    name: 'headers larger than limits.maxHeaderBytes → 431',
    request: get('/api/agents', `X-Big: ${'b'.repeat(5000)}\r\n`),
    status: 431,
    code: 'RF_HEADERS_TOO_LARGE',
    metric: 'headers_too_large',
  },
];

describe('path safety and framing through the edge', () => {
  let upstream: TestUpstream;
  let edge: TestEdge;

  before(async () => {
    upstream = await startUpstream('monolith');
    edge = await startEdge({
      upstreams: { monolith: upstream.url },
      legacy: 'monolith',
      limits: { maxUrlLength: 256, maxHeaderBytes: 4096 },
    });
  });

  after(async () => {
    await edge.close();
    await upstream.close();
  });

  for (const c of refusals) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = upstream.received.length;
      const text = await rawExchange(edge.port, c.request);
      assert.equal(rawStatus(text), c.status, text);
      const body = rawJsonBody(text) as { error: { code: string; message: string } };
      assert.equal(body.error.code, c.code);
      assert.equal(typeof body.error.message, 'string');
      assert.equal(upstream.received.length, before, 'a refused request never reaches the upstream');
      assert.match(
        await edge.metrics.registry.getSingleMetricAsString('rf_edge_rejected_requests_total'),
        new RegExp(`reason="${c.metric}"\\} [1-9]`),
      );
    });
  }

  test('conflicting Content-Length and Transfer-Encoding are refused (by Node or by the edge) before any upstream', async () => {
    const before = upstream.received.length;
    const text = await rawExchange(
      edge.port,
      'POST /api/agents HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
    );
    assert.equal(rawStatus(text), 400);
    assert.equal((rawJsonBody(text) as { error: { code: string } }).error.code, 'RF_BAD_REQUEST');
    assert.equal(upstream.received.length, before);
  });

  test('two different Content-Length values are refused before any upstream', async () => {
    const before = upstream.received.length;
    const text = await rawExchange(
      edge.port,
      'POST /api/agents HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!',
    );
    assert.equal(rawStatus(text), 400);
    assert.equal(upstream.received.length, before);
  });

  test('a refused request is logged once with its reason', async () => {
    const text = await rawExchange(edge.port, get('/api/%2e%2e/x', 'X-Request-Id: refused-1\r\n'));
    assert.equal(rawStatus(text), 400);
    await waitFor(
      'the refused request line',
      () => requestLines(edge.logs).some((l) => l['reqId'] === 'refused-1'),
      2000,
    );
    const lines = requestLines(edge.logs).filter((l) => l['reqId'] === 'refused-1');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['status'], 400);
    assert.equal(lines[0]!['rejected'], 'dot_segment');
    assert.equal(lines[0]!['route'], '-');
  });

  test('allowed oddities pass: dots inside names, %25 on its own, encoded unreserved, empty segments', async () => {
    for (const target of ['/a/..b/c..', '/100%25', '/%41%42/x', '/a//b/', '/.well-known/x']) {
      const text = await rawExchange(edge.port, get(target));
      assert.equal(rawStatus(text), 200, target);
      assert.equal(upstream.received.at(-1)!.url, target);
    }
  });
});

// The real router (routes.yaml through createEdge), not the prefix stand-in of support/edge.ts: a path spelled with
// empty segments must land where its merged form is routed, since a monolith that merges slashes would otherwise
// serve its own (pre-extraction) copy of an endpoint a route has moved to the service.
describe('empty path segments are routed as their merged form', () => {
  let monolith: TestUpstream;
  let service: TestUpstream;
  let app: EdgeApp;

  before(async () => {
    monolith = await startUpstream('monolith');
    service = await startUpstream('agents');
    app = await startEdgeApp(
      [
        'version: 1',
        'upstreams:',
        `  monolith: { url: ${monolith.url} }`,
        `  agents: { url: ${service.url} }`,
        'legacy: monolith',
        'routes:',
        '  - { id: agent-by-id, path: /api/agents/:id, service: agents, mode: service }',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await app.close();
    await service.close();
    await monolith.close();
  });

  for (const target of ['//api/agents/1', '/api//agents/1', '/api/agents//1', '///api///agents///1?x=1']) {
    test(`${target} goes to the service, never the monolith, and is forwarded as written`, async () => {
      const monolithBefore = monolith.received.length;
      const text = await rawExchange(app.edge.port, get(target));
      assert.equal(rawStatus(text), 200, text);
      assert.equal(service.received.at(-1)?.url, target);
      assert.equal(monolith.received.length, monolithBefore, 'the monolith saw nothing');
    });
  }

  test('a trailing slash stays significant: /api/agents/1/ is not the route, and goes to legacy', async () => {
    const serviceBefore = service.received.length;
    const text = await rawExchange(app.edge.port, get('/api/agents/1/'));
    assert.equal(rawStatus(text), 200, text);
    assert.equal(monolith.received.at(-1)?.url, '/api/agents/1/');
    assert.equal(service.received.length, serviceBefore);
  });
});
