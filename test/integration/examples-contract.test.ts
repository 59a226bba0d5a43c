// The bundled examples keep their promises: the extracted agents service answers the agents contract exactly as
// the monolith does, and the monolith's quirks (cookies, SSE, uploads, WebSocket, …) behave as the proxy's tests
// and a person trying the demo rely on.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { createAgentsService } from '../../examples/agents-service.ts';
import { createBlobStream } from '../../examples/blob-stream.ts';
import { FaultInjector } from '../../examples/faults.ts';
import { createMonolith } from '../../examples/monolith.ts';
import { closeServer, listen } from '../../examples/server-lifecycle.ts';
import { AGENT_SESSION, JSON_HEADERS, runSession } from '../support/agents-session.ts';
import { headerLines, headerValues, type RawResponse, rawRequest } from '../support/raw-request.ts';

const FIXED_NOW = () => Date.parse('2025-06-01T12:00:00.000Z');

async function started(server: Server): Promise<string> {
  return listen(server, 0, '127.0.0.1');
}

describe('the agents service in v1 mode keeps the monolith agents contract', () => {
  const monolith = createMonolith({ now: FIXED_NOW, exportChunkDelayMs: 5 });
  const agents = createAgentsService({ now: FIXED_NOW, exportChunkDelayMs: 5, contract: 'v1' });
  let fromMonolith: Map<string, RawResponse>;
  let fromService: Map<string, RawResponse>;

  before(async () => {
    const [monolithUrl, agentsUrl] = await Promise.all([started(monolith), started(agents)]);
    fromMonolith = await runSession(monolithUrl);
    fromService = await runSession(agentsUrl);
  });
  after(() => Promise.all([closeServer(monolith), closeServer(agents)]));

  test('every step answers the expected status on both servers', () => {
    const expected = AGENT_SESSION.map((step) => `${step.name} ${step.status}`);
    assert.deepEqual(
      AGENT_SESSION.map((step) => `${step.name} ${fromMonolith.get(step.name)?.status}`),
      expected,
    );
    assert.deepEqual(
      AGENT_SESSION.map((step) => `${step.name} ${fromService.get(step.name)?.status}`),
      expected,
    );
  });

  test('headers (but date and x-served-by) and body bytes are identical, ETags included', () => {
    for (const step of AGENT_SESSION) {
      const a = fromMonolith.get(step.name);
      const b = fromService.get(step.name);
      assert.ok(a && b);
      assert.deepEqual(
        headerLines(b.rawHeaders, ['date', 'x-served-by']),
        headerLines(a.rawHeaders, ['date', 'x-served-by']),
        step.name,
      );
      assert.equal(b.body.toString('latin1'), a.body.toString('latin1'), step.name);
    }
  });

  test('each server names itself in x-served-by', () => {
    for (const step of AGENT_SESSION) {
      assert.deepEqual(headerValues(fromMonolith.get(step.name)?.rawHeaders ?? [], 'x-served-by'), ['monolith']);
      assert.deepEqual(headerValues(fromService.get(step.name)?.rawHeaders ?? [], 'x-served-by'), ['agents-service']);
    }
  });

  test('the representations are what a client of the old API expects', () => {
    const list = JSON.parse(fromService.get('list')?.body.toString() ?? '') as {
      items: { id: string }[];
      total: number;
    };
    assert.deepEqual(
      list.items.map((agent) => agent.id),
      ['agt_0001', 'agt_0002', 'agt_0003'],
    );
    assert.equal(list.total, 3);
    const head = fromService.get('list head');
    assert.equal(head?.body.length, 0);
    assert.equal(head?.headers['content-length'], String(fromService.get('list')?.body.length));
    assert.equal(fromService.get('get revalidate')?.body.length, 0);
    assert.equal(fromService.get('get revalidate')?.headers.etag, fromService.get('get')?.headers.etag);

    const created = fromService.get('create');
    assert.equal(created?.headers.location, '/api/agents/agt_0004');
    assert.deepEqual(JSON.parse(created?.body.toString() ?? ''), {
      id: 'agt_0004',
      name: 'Lead scorer',
      description: '',
      model: 'raptor-mini',
      status: 'active',
      tools: ['crm'],
      createdAt: '2025-06-01T12:00:00.000Z',
      updatedAt: '2025-06-01T12:00:00.000Z',
    });
    assert.equal(fromService.get('collection delete')?.headers.allow, 'GET, HEAD, POST');
    assert.deepEqual(JSON.parse(fromService.get('get unknown')?.body.toString() ?? ''), {
      error: 'agent_not_found',
      message: 'no agent with id agt_9999',
    });
    assert.equal(fromService.get('delete')?.headers['content-length'], undefined);
    assert.equal(JSON.parse(fromService.get('patch')?.body.toString() ?? '').status, 'paused');
  });

  test('the runs export streams as chunked CSV, one row per run', () => {
    const exported = fromService.get('export');
    assert.equal(exported?.headers['transfer-encoding'], 'chunked');
    assert.equal(exported?.headers['content-length'], undefined);
    assert.equal(exported?.headers['content-type'], 'text/csv; charset=utf-8');
    const lines = exported?.body.toString().trimEnd().split('\n') ?? [];
    assert.equal(lines[0], 'run_id,agent_id,started_at,duration_ms,status,tokens');
    assert.equal(lines.length, 46);
    assert.match(lines[45] ?? '', /^run_0001_000045,agt_0001,/);
  });
});

describe('monolith quirks', () => {
  const monolith = createMonolith({ now: FIXED_NOW, sseIntervalMs: 20, maxUploadBytes: 8 * 1024 * 1024 });
  let url: string;
  before(async () => {
    url = await started(monolith);
  });
  after(() => closeServer(monolith));

  test('login sets several cookies on separate Set-Cookie lines, commas in Expires and all', async () => {
    const res = await rawRequest(url, '/api/auth/login', {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ username: 'ada', password: 'raptor' }),
    });
    assert.equal(res.status, 200);
    const cookies = headerValues(res.rawHeaders, 'set-cookie');
    assert.equal(cookies.length, 3);
    const [session, csrf] = cookies;
    assert.match(
      session ?? '',
      /^session_id=[0-9a-f]{32}; Path=\/; Expires=Mon, 02 Jun 2025 12:00:00 GMT; HttpOnly; SameSite=Lax$/,
    );
    assert.match(csrf ?? '', /^csrf_token=[\w-]+; Path=\/; Expires=Mon, 02 Jun 2025 12:00:00 GMT; SameSite=Strict$/);
    const csrfValue = /^csrf_token=([\w-]+);/.exec(csrf ?? '')?.[1];
    assert.equal(JSON.parse(res.body.toString()).csrfToken, csrfValue);

    const sessionCookie = (session ?? '').split(';')[0] ?? '';
    const me = await rawRequest(url, '/api/auth/me', { headers: { cookie: `theme=dark; ${sessionCookie}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(JSON.parse(me.body.toString()), { user: { username: 'ada' } });

    const logout = await rawRequest(url, '/api/auth/logout', {
      headers: { cookie: sessionCookie, host: 'app.example:8080' },
    });
    assert.equal(logout.status, 302);
    assert.equal(logout.headers.location, 'http://app.example:8080/login');
    assert.deepEqual(
      headerValues(logout.rawHeaders, 'set-cookie').map((cookie) => cookie.split(';')[0]),
      ['session_id=', 'csrf_token='],
    );
    const afterLogout = await rawRequest(url, '/api/auth/me', { headers: { cookie: sessionCookie } });
    assert.equal(afterLogout.status, 401);
  });

  test('with the clock and token source fixed, two monoliths answer a login byte for byte alike', async () => {
    const fixed = () => createMonolith({ now: FIXED_NOW, randomBytes: (size) => Buffer.alloc(size, 0xab) });
    const servers = [fixed(), fixed()];
    try {
      const answers = [];
      for (const server of servers) {
        answers.push(
          await rawRequest(await started(server), '/api/auth/login', {
            method: 'POST',
            headers: JSON_HEADERS,
            body: '{"username":"ada","password":"raptor"}',
          }),
        );
      }
      const [first, second] = answers;
      assert.ok(first && second);
      assert.deepEqual(headerLines(second.rawHeaders, ['date']), headerLines(first.rawHeaders, ['date']));
      assert.deepEqual(second.body, first.body);
      assert.match(headerValues(first.rawHeaders, 'set-cookie')[0] ?? '', /^session_id=(ab){16};/);
    } finally {
      await Promise.all(servers.map(closeServer));
    }
  });

  test('login refuses a wrong password, and the legacy urlencoded form still signs in', async () => {
    const wrong = await rawRequest(url, '/api/auth/login', {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ username: 'ada', password: 'nope' }),
    });
    assert.equal(wrong.status, 401);
    assert.deepEqual(headerValues(wrong.rawHeaders, 'set-cookie'), []);
    const form = await rawRequest(url, '/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=grace&password=raptor',
    });
    assert.equal(form.status, 200);
    assert.equal(JSON.parse(form.body.toString()).user.username, 'grace');
  });

  test('me without a session is 401 with a challenge', async () => {
    const res = await rawRequest(url, '/api/auth/me');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Session realm="raptorflow"');
  });

  test('the analytics summary carries caching headers and is gzip-encoded only when asked', async () => {
    const plain = await rawRequest(url, '/api/analytics/summary');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['cache-control'], 'private, max-age=60');
    assert.equal(plain.headers.vary, 'Accept-Encoding, Cookie');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(plain.body.toString()).period, '7d');

    const gzipped = await rawRequest(url, '/api/analytics/summary', { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.equal(gzipped.headers.vary, 'Accept-Encoding, Cookie');
    assert.equal(Number(gzipped.headers['content-length']), gzipped.body.length);
    assert.deepEqual(gunzipSync(gzipped.body), plain.body);

    const refused = await rawRequest(url, '/api/analytics/summary', { headers: { 'accept-encoding': 'gzip;q=0' } });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  test('the SSE feed sends numbered events and closes after ?limit', async () => {
    const res = await rawRequest(url, '/api/notifications/stream?limit=3');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const events = res.body
      .toString()
      .split('\n\n')
      .filter((block) => block.startsWith('id: '));
    assert.deepEqual(
      events.map((block) => block.split('\n')[0]),
      ['id: 1', 'id: 2', 'id: 3'],
    );
    assert.equal(JSON.parse(events[0]?.split('\n')[2]?.slice('data: '.length) ?? '').id, 1);
  });

  test('the SSE feed resumes after Last-Event-ID', async () => {
    const res = await rawRequest(url, '/api/notifications/stream?limit=2', { headers: { 'last-event-id': '41' } });
    const ids = res.body
      .toString()
      .split('\n')
      .filter((line) => line.startsWith('id: '));
    assert.deepEqual(ids, ['id: 42', 'id: 43']);
  });

  test('an upload of 5 MiB sent after 100 Continue is hashed as it streams', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const res = await rawRequest(url, '/api/files/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      body,
      expectContinue: true,
    });
    assert.equal(res.continued, true);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), {
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      contentType: 'application/octet-stream',
    });
  });

  test('a chunked upload without a length is counted too', async () => {
    const res = await rawRequest(url, '/api/files/upload', { method: 'POST', body: createBlobStream(300_000) });
    const expected = createHash('sha256');
    for await (const chunk of createBlobStream(300_000)) expected.update(chunk as Buffer);
    assert.deepEqual(JSON.parse(res.body.toString()), {
      bytes: 300_000,
      sha256: expected.digest('hex'),
      contentType: null,
    });
  });

  test('an upload over the limit is refused before its body is invited', async () => {
    const res = await rawRequest(url, '/api/files/upload', {
      method: 'POST',
      headers: { 'content-length': String(9 * 1024 * 1024) },
      expectContinue: true,
    });
    assert.equal(res.continued, false);
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body.toString()).error, 'body_too_large');
  });

  test('the blob download streams exactly the requested deterministic bytes, fixed-length or chunked', async () => {
    const size = 200_000 + 17;
    const expected = createHash('sha256');
    for await (const chunk of createBlobStream(size)) expected.update(chunk as Buffer);
    const digest = expected.digest('hex');

    const fixed = await rawRequest(url, `/api/files/blob?size=${size}`);
    assert.equal(fixed.headers['content-length'], String(size));
    assert.equal(createHash('sha256').update(fixed.body).digest('hex'), digest);
    assert.equal(fixed.body.subarray(0, 23).toString(), 'blob-block:00000000000\n');
    assert.equal(fixed.body.subarray(65_536, 65_536 + 23).toString(), 'blob-block:00000000001\n');

    const chunked = await rawRequest(url, `/api/files/blob?size=${size}&chunked=1`);
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.equal(createHash('sha256').update(chunked.body).digest('hex'), digest);

    const head = await rawRequest(url, `/api/files/blob?size=${size}`, { method: 'HEAD' });
    assert.equal(head.headers['content-length'], String(size));
    assert.equal(head.body.length, 0);
    assert.equal((await rawRequest(url, '/api/files/blob?size=-1')).status, 400);
  });

  test('echo reports the request target and header lines exactly as they arrived', async () => {
    const target = '/api/echo/a%2Fb/./c?a&b=1+2&c=%2F&d=%zz';
    const res = await rawRequest(url, target, {
      method: 'PATCH',
      headers: ['Host', 'svc.internal', 'X-Mixed-Case', 'One', 'x-dup', '1', 'X-Dup', '2', 'Content-Length', '5'],
      body: 'hello',
    });
    assert.equal(res.status, 200);
    const echoed = JSON.parse(res.body.toString());
    assert.equal(echoed.method, 'PATCH');
    assert.equal(echoed.url, target);
    assert.deepEqual(echoed.rawHeaders, [
      'Host',
      'svc.internal',
      'X-Mixed-Case',
      'One',
      'x-dup',
      '1',
      'X-Dup',
      '2',
      'Content-Length',
      '5',
      'Connection',
      'close',
    ]);
    assert.deepEqual(echoed.body, {
      bytes: 5,
      sha256: createHash('sha256').update('hello').digest('hex'),
      text: 'hello',
    });
  });

  test('echo answers the status asked for in x-echo-status', async () => {
    const res = await rawRequest(url, '/api/echo', { headers: { 'x-echo-status': '503' } });
    assert.equal(res.status, 503);
    assert.equal(JSON.parse(res.body.toString()).url, '/api/echo');
  });

  test('unknown paths are a JSON 404 from the monolith, and /healthz is up', async () => {
    const missing = await rawRequest(url, '/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['x-served-by'], 'monolith');
    assert.equal(JSON.parse(missing.body.toString()).error, 'not_found');
    const health = await rawRequest(url, '/healthz');
    assert.deepEqual(JSON.parse(health.body.toString()), { status: 'ok', service: 'monolith' });
  });

  test('the WebSocket endpoint echoes text and binary messages with a monolith: prefix', async () => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/api/notifications/ws`);
    const servedBy = new Promise<string | undefined>((resolve) =>
      socket.once('upgrade', (res) => resolve(res.headers['x-served-by'] as string | undefined)),
    );
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => {
        socket.send('hello');
        socket.send(Buffer.from([1, 2, 3]), { binary: true });
      });
      socket.on('message', (data, isBinary) => {
        replies.push(isBinary ? `binary:${(data as Buffer).toString('hex')}` : (data as Buffer).toString());
        if (replies.length === 2) resolve();
      });
    });
    assert.equal(await servedBy, 'monolith');
    assert.deepEqual(replies, ['monolith:hello', `binary:${Buffer.from('monolith:').toString('hex')}010203`]);
    socket.close();
  });

  test('an upgrade on another path is refused with 404', async () => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/api/elsewhere`);
    const status = await new Promise<number | undefined>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      socket.once('error', () => resolve(undefined));
    });
    assert.equal(status, 404);
  });
});

describe('fault knobs', () => {
  const injector = new FaultInjector();
  const service = createAgentsService({ faults: injector, contract: 'v1' });
  const programmed = createAgentsService({ faults: { errorRate: 1, status: 500 }, contract: 'v1' });
  const monolith = createMonolith();
  let serviceUrl: string;
  let programmedUrl: string;
  let monolithUrl: string;
  before(async () => {
    [serviceUrl, programmedUrl, monolithUrl] = await Promise.all([
      started(service),
      started(programmed),
      started(monolith),
    ]);
  });
  after(() => Promise.all([closeServer(service), closeServer(programmed), closeServer(monolith)]));

  const statuses = async (base: string, count: number, path = '/api/agents'): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < count; i += 1) out.push((await rawRequest(base, path)).status);
    return out;
  };

  test('POST /__faults fails an exact, evenly spread share of requests until DELETE clears it', async () => {
    const set = await rawRequest(serviceUrl, '/__faults', {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ errorRate: 0.5, status: 503 }),
    });
    assert.equal(set.status, 200);
    assert.deepEqual(await statuses(serviceUrl, 6), [200, 503, 200, 503, 200, 503]);
    const failed = await rawRequest(serviceUrl, '/api/agents/agt_0001');
    const failedAgain = await rawRequest(serviceUrl, '/api/agents/agt_0001');
    const injected = failed.status === 503 ? failed : failedAgain;
    assert.equal(injected.headers['x-served-by'], 'agents-service');
    assert.equal(JSON.parse(injected.body.toString()).error, 'injected_fault');
    assert.equal((await rawRequest(serviceUrl, '/healthz')).status, 200);

    const stats = JSON.parse((await rawRequest(serviceUrl, '/__faults')).body.toString());
    assert.deepEqual(stats, {
      settings: { errorRate: 0.5, latencyMs: 0, status: 503, closeConnection: false },
      requests: 8,
      injected: 4,
    });

    assert.equal((await rawRequest(serviceUrl, '/__faults', { method: 'DELETE' })).status, 200);
    assert.deepEqual(await statuses(serviceUrl, 4), [200, 200, 200, 200]);
  });

  test('a quarter error rate fails every fourth request', async () => {
    injector.set({ errorRate: 0.25, status: 502 });
    assert.deepEqual(await statuses(serviceUrl, 8), [200, 200, 200, 502, 200, 200, 200, 502]);
    injector.clear();
  });

  test('closeConnection cuts the connection instead of answering', async () => {
    injector.set({ errorRate: 1, closeConnection: true });
    await assert.rejects(rawRequest(serviceUrl, '/api/agents'), (err: NodeJS.ErrnoException) => {
      assert.ok(err.code === 'ECONNRESET' || err.message === 'socket hang up', String(err));
      return true;
    });
    injector.clear();
    assert.equal((await rawRequest(serviceUrl, '/api/agents')).status, 200);
  });

  test('latencyMs delays the answer by at least that long', async () => {
    injector.set({ latencyMs: 150 });
    const started = performance.now();
    const res = await rawRequest(serviceUrl, '/api/agents');
    const elapsed = performance.now() - started;
    injector.clear();
    assert.equal(res.status, 200);
    // setTimeout may fire up to a millisecond early; nothing here bounds how late it may be.
    assert.ok(elapsed >= 148, `answered after ${elapsed} ms`);
  });

  test('invalid fault settings are refused with 400 and change nothing', async () => {
    for (const body of ['{"errorRate":2}', '{"status":200}', '{"latency":5}', '[]']) {
      const res = await rawRequest(serviceUrl, '/__faults', { method: 'POST', headers: JSON_HEADERS, body });
      assert.equal(res.status, 400, body);
    }
    assert.deepEqual(await statuses(serviceUrl, 2), [200, 200]);
  });

  test('faults passed to createAgentsService apply from the first request', async () => {
    assert.deepEqual(await statuses(programmedUrl, 2), [500, 500]);
  });

  test('the monolith has the same knob, so both sides can fail alike', async () => {
    await rawRequest(monolithUrl, '/__faults', { method: 'POST', headers: JSON_HEADERS, body: '{"errorRate":1}' });
    assert.deepEqual(await statuses(monolithUrl, 2, '/api/echo'), [503, 503]);
    assert.equal((await rawRequest(monolithUrl, '/healthz')).status, 200);
    await rawRequest(monolithUrl, '/__faults', { method: 'DELETE' });
    assert.deepEqual(await statuses(monolithUrl, 1, '/api/echo'), [200]);
  });
});
