// WebSocket upgrades through the edge, with the `ws` client and real `ws` servers on port 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort } from '../../bench/child-processes.ts';
import { requestLines, startEdge, type TestEdge } from '../support/edge.ts';
import { rawExchange, rawJsonBody, rawStatus } from '../support/http-client.ts';
import { waitFor } from '../support/wait.ts';

interface WsUpstream {
  readonly url: string;
  /** Headers of every upgrade request that reached it. */
  readonly handshakes: http.IncomingHttpHeaders[];
  readonly paths: string[];
  close(): Promise<void>;
}

/** A ws server that prefixes every message with its name; `/refuse` answers the upgrade with 403. */
async function startWsUpstream(name: string): Promise<WsUpstream> {
  const handshakes: http.IncomingHttpHeaders[] = [];
  const paths: string[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(426).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    handshakes.push(req.headers);
    paths.push(req.url ?? '');
    if (req.url?.endsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nno way!');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`${name}:hello`);
      ws.on('message', (data, isBinary) =>
        ws.send(isBinary ? data : `${name}:${data.toString()}`, { binary: isBinary }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    handshakes,
    paths,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Opens a socket, collects `count` messages (the greeting first), sending `outgoing` after the greeting. */
function converse(url: string, outgoing: Array<string | Buffer>, count: number, headers: Record<string, string> = {}) {
  return new Promise<Array<string | Buffer>>((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const received: Array<string | Buffer> = [];
    ws.on('error', reject);
    ws.on('message', (data: Buffer, isBinary) => {
      received.push(isBinary ? data : data.toString());
      if (received.length === 1) for (const m of outgoing) ws.send(m);
      if (received.length === count) {
        ws.close();
        resolve(received);
      }
    });
  });
}

describe('WebSocket upgrades', () => {
  let monolith: WsUpstream;
  let agents: WsUpstream;
  let edge: TestEdge;
  let deadPort: number;

  before(async () => {
    monolith = await startWsUpstream('monolith');
    agents = await startWsUpstream('agents');
    deadPort = await freePort();
    edge = await startEdge({
      upstreams: { monolith: monolith.url, agents: agents.url, dead: `http://127.0.0.1:${deadPort}` },
      legacy: 'monolith',
      routes: [
        { id: 'agents-live', prefix: '/ws/agents', service: 'agents' },
        { id: 'dead', prefix: '/ws/dead', service: 'dead' },
      ],
    });
  });

  after(async () => {
    await edge.close();
    await monolith.close();
    await agents.close();
  });

  test('messages flow both ways, text and binary, to the target the route chose', async () => {
    const binary = Buffer.from([0, 1, 2, 250, 255]);
    const got = await converse(`ws://127.0.0.1:${edge.port}/ws/agents/stream?token=a%2Fb`, ['ping', binary, 'two'], 4);
    assert.deepEqual(got, ['agents:hello', 'agents:ping', binary, 'agents:two']);
    assert.equal(agents.paths.at(-1), '/ws/agents/stream?token=a%2Fb', 'the raw target reaches the upstream');
  });

  test('an unmatched path upgrades to legacy', async () => {
    const got = await converse(`ws://127.0.0.1:${edge.port}/ws/other`, ['x'], 2);
    assert.deepEqual(got, ['monolith:hello', 'monolith:x']);
  });

  test('the upstream sees forwarded headers and the request id, not the override header', async () => {
    await converse(`ws://127.0.0.1:${edge.port}/ws/agents/h`, [], 1, {
      'x-request-id': 'ws-req-1',
      'x-forwarded-for': '6.6.6.6',
      'x-edge-route': 'service.1.sig',
    });
    const seen = agents.handshakes.at(-1)!;
    assert.equal(seen['x-request-id'], 'ws-req-1');
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'untrusted peer: the client value is replaced');
    assert.equal(seen['x-edge-route'], undefined);
    assert.equal(String(seen.upgrade).toLowerCase(), 'websocket');
    await waitFor(
      'the upgrade request line',
      () => requestLines(edge.logs).some((l) => l['reqId'] === 'ws-req-1'),
      2000,
    );
    const line = requestLines(edge.logs).find((l) => l['reqId'] === 'ws-req-1')!;
    assert.equal(line['status'], 101);
    assert.equal(line['route'], 'agents-live');
    assert.ok(edge.outcomes.some((o) => o.routeId === 'agents-live' && o.status === 101));
  });

  test('an upstream refusing the upgrade: its answer reaches the client as sent', async () => {
    const text = await rawExchange(
      edge.port,
      'GET /ws/agents/refuse HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.equal(rawStatus(text), 403);
    assert.ok(text.endsWith('no way!'));
  });

  test('an unreachable upstream answers a 502 head with the JSON error and closes', async () => {
    const text = await rawExchange(
      edge.port,
      'GET /ws/dead/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.equal(rawStatus(text), 502);
    assert.equal((rawJsonBody(text) as { error: { code: string } }).error.code, 'RF_UPSTREAM_CONNECT');
    assert.match(
      await edge.metrics.registry.metrics(),
      /rf_edge_upstream_errors_total\{upstream="dead",kind="connect"\} 1/,
    );
  });

  test('path safety applies to upgrades too', async () => {
    const before = agents.handshakes.length;
    const text = await rawExchange(
      edge.port,
      'GET /ws/agents/%2e%2e/admin HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.equal(rawStatus(text), 400);
    assert.equal((rawJsonBody(text) as { error: { code: string } }).error.code, 'RF_BAD_PATH');
    assert.equal(agents.handshakes.length, before);
  });

  test('close() ends open tunnels instead of waiting for them forever', async () => {
    const own = await startEdge({ upstreams: { monolith: monolith.url }, legacy: 'monolith' });
    const ws = new WebSocket(`ws://127.0.0.1:${own.port}/ws/long`);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    assert.equal(own.edge.inFlight(), 1);
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await own.close();
    await closed;
    assert.equal(own.edge.inFlight(), 0);
  });
});
