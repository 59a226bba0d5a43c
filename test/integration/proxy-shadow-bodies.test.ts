// Shadow copies of requests with a body: off by default (a copied write runs twice), and when a route opts in, the
// body reaches the service identical while the primary upload is streamed on unchanged; bodies over the limit are
// not copied.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_SHADOW } from '../../src/config/routes-schema.ts';
import { startEdge, type TestEdge } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { parsePrometheusText } from '../support/prometheus-scrape.ts';
import { digestBody, startUpstream, type TestUpstream } from '../support/upstream.ts';
import { waitFor } from '../support/wait.ts';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly shadow: boolean;
  readonly bytes: number;
  readonly sha256: string;
}

/** Reads the whole body, remembers its size and hash, answers them as JSON. */
function bodyRecorder(into: Received[]): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) =>
    digestBody(req, (digest) => {
      const got: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        shadow: req.headers['x-edge-shadow'] === '1',
        ...digest,
      };
      into.push(got);
      const text = JSON.stringify({ bytes: got.bytes, sha256: got.sha256 });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A body sent in several chunks without a Content-Length (chunked), so only the tee can tell its size. */
function chunked(data: Buffer, pieces = 8): Readable {
  const size = Math.ceil(data.length / pieces);
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function shadowCount(edge: TestEdge, route: string, result: string): Promise<number> {
  const scrape = parsePrometheusText(await edge.metrics.registry.metrics());
  return scrape.value('rf_edge_shadow_requests_total', { route, result }) ?? 0;
}

describe('shadow copies of requests with a body', () => {
  const atLegacy: Received[] = [];
  const atService: Received[] = [];
  let monolith: TestUpstream;
  let service: TestUpstream;
  let edge: TestEdge;

  before(async () => {
    monolith = await startUpstream('monolith', bodyRecorder(atLegacy));
    service = await startUpstream('service', bodyRecorder(atService));
    edge = await startEdge({
      upstreams: { monolith: monolith.url, agents: service.url },
      legacy: 'monolith',
      routes: [
        { id: 'reads-only', prefix: '/r', service: 'agents', mode: 'shadow' },
        {
          id: 'writes-too',
          prefix: '/w',
          service: 'agents',
          mode: 'shadow',
          shadow: {
            ...DEFAULT_SHADOW,
            methods: ['POST', 'PUT'],
            maxBodyBytes: 64 * 1024,
            compareHeaders: ['content-type'],
          },
        },
      ],
    });
  });

  after(async () => {
    await edge.close();
    await monolith.close();
    await service.close();
  });

  test('by default a POST is served by legacy and not copied (counted skipped)', async () => {
    const body = Buffer.from('{"name":"agent smith"}');
    const before = await shadowCount(edge, 'reads-only', 'skipped');
    const copiesBefore = atService.length;
    const res = await send(edge.port, { method: 'POST', path: '/r/agents', body });
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(res.body.toString()), { bytes: body.length, sha256: sha256(body) });
    assert.equal(await shadowCount(edge, 'reads-only', 'skipped'), before + 1);
    // A GET on the same route is copied: had the POST been copied, it would have arrived before this one.
    await send(edge.port, { path: '/r/agents' });
    await waitFor('the GET copy at the service', () => atService.length > copiesBefore);
    assert.deepEqual(
      atService.slice(copiesBefore).map((r) => `${r.method} ${r.url}`),
      ['GET /r/agents'],
    );
  });

  test('an opted-in POST reaches the service with the same body; the primary body is unchanged', async () => {
    const body = Buffer.alloc(40_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
    const before = await shadowCount(edge, 'writes-too', 'match');
    const res = await send(edge.port, { method: 'POST', path: '/w/agents?dry=0', body });
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(res.body.toString()), { bytes: body.length, sha256: sha256(body) });
    await waitFor('the copy at the service', () => atService.some((r) => r.url === '/w/agents?dry=0'));
    const copy = atService.find((r) => r.url === '/w/agents?dry=0')!;
    assert.deepEqual(copy, {
      method: 'POST',
      url: '/w/agents?dry=0',
      shadow: true,
      bytes: 40_000,
      sha256: sha256(body),
    });
    const primary = atLegacy.find((r) => r.url === '/w/agents?dry=0')!;
    assert.deepEqual(primary, {
      method: 'POST',
      url: '/w/agents?dry=0',
      shadow: false,
      bytes: 40_000,
      sha256: sha256(body),
    });
    // Both echo the same figures: the answers match.
    await waitFor('match counted', async () => (await shadowCount(edge, 'writes-too', 'match')) === before + 1);
  });

  test('a chunked upload is copied once it is complete, and streamed to legacy unchanged', async () => {
    const body = Buffer.from('x'.repeat(30_000));
    const res = await send(edge.port, { method: 'PUT', path: '/w/chunked', body: chunked(body) });
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(res.body.toString()), { bytes: body.length, sha256: sha256(body) });
    await waitFor('the copy at the service', () => atService.some((r) => r.url === '/w/chunked'));
    const copy = atService.find((r) => r.url === '/w/chunked')!;
    assert.equal(copy.bytes, body.length);
    assert.equal(copy.sha256, sha256(body));
  });

  test('a method the route does not list is not copied, even on a route that copies writes', async () => {
    const before = await shadowCount(edge, 'writes-too', 'skipped');
    const res = await send(edge.port, { method: 'DELETE', path: '/w/agents/1' });
    assert.equal(res.status, 201);
    assert.equal(await shadowCount(edge, 'writes-too', 'skipped'), before + 1);
    assert.equal(
      atService.some((r) => r.method === 'DELETE'),
      false,
    );
  });

  for (const framing of ['content-length', 'chunked'] as const) {
    test(`a body over maxBodyBytes (${framing}) is not copied; legacy still gets all of it`, async () => {
      const body = Buffer.alloc(200_000, 0x61);
      const path = `/w/too-big-${framing}`;
      const before = await shadowCount(edge, 'writes-too', 'skipped');
      const res = await send(edge.port, {
        method: 'POST',
        path,
        body: framing === 'chunked' ? chunked(body, 20) : body,
      });
      assert.equal(res.status, 201);
      assert.deepEqual(JSON.parse(res.body.toString()), { bytes: body.length, sha256: sha256(body) });
      await waitFor('skipped counted', async () => (await shadowCount(edge, 'writes-too', 'skipped')) === before + 1);
      // A GET sent after it is copied; the big POST never is.
      await send(edge.port, { path: `${path}-probe` });
      await waitFor('the probe copy at the service', () => atService.some((r) => r.url === `${path}-probe`));
      assert.equal(
        atService.some((r) => r.url === path),
        false,
      );
    });
  }

  test('a client that breaks off a copied upload leaves the edge healthy and nothing is copied', async () => {
    const before = await shadowCount(edge, 'writes-too', 'skipped');
    const http = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: edge.port,
        method: 'POST',
        path: '/w/aborted',
        headers: { 'content-length': '10000' },
        agent: false,
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000, 1));
      setTimeout(() => req.destroy(), 50);
    });
    await waitFor('skipped counted', async () => (await shadowCount(edge, 'writes-too', 'skipped')) === before + 1);
    assert.equal(
      atService.some((r) => r.url === '/w/aborted'),
      false,
    );
    const res = await send(edge.port, { method: 'POST', path: '/w/after', body: 'ok' });
    assert.equal(res.status, 201);
  });
});
