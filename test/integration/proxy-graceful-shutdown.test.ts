// Graceful shutdown: stop accepting, let in-flight requests finish (bounded), tell keep-alive clients to go, close
// every socket and pool. The last test restarts a child-process edge under steady keep-alive load and checks that
// no request the old edge accepted failed.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { requestLines, startEdge, startEdgeProcess } from '../support/edge.ts';
import { send } from '../support/http-client.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';

/** An upstream answering after `?delay=ms` with a body naming the request, so a client can check it is its own. */
async function startDelayedUpstream(): Promise<TestUpstream> {
  return startUpstream('slow', (req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    const body = `answer for ${req.url}`;
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, delay);
    res.once('close', () => clearTimeout(timer));
  });
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('close() in process', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startDelayedUpstream();
  });
  after(() => upstream.close());

  test('in-flight requests finish with Connection: close; new connections are refused; idle keep-alive sockets go', async () => {
    const edge = await startEdge({ upstreams: { slow: upstream.url }, legacy: 'slow' }, { shutdownTimeoutMs: 5_000 });
    const idleAgent = new http.Agent({ keepAlive: true });
    const idle = await send(edge.port, { path: '/warm', agent: idleAgent });
    assert.equal(idle.status, 200);
    const idleSocketClosed = new Promise<void>((resolve) => {
      const sockets = Object.values(idleAgent.freeSockets).flat();
      assert.equal(sockets.length, 1, 'one idle keep-alive socket');
      sockets[0]!.once('close', () => resolve());
    });

    const inFlight = send(edge.port, { path: '/slow?delay=300', agent: new http.Agent({ keepAlive: true }) });
    while (edge.edge.inFlight() === 0) await new Promise((r) => setTimeout(r, 5));
    const closing = edge.close();
    await idleSocketClosed;
    assert.equal(await connectRefused(edge.port), true, 'no new connections once close() started');

    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'answer for /slow?delay=300');
    assert.equal(res.headers.connection, 'close', 'keep-alive clients are told to go');
    await closing;
    assert.equal(edge.edge.inFlight(), 0);
    idleAgent.destroy();
  });

  test('requests still running at shutdownTimeoutMs are cut off and close() resolves', async () => {
    const edge = await startEdge({ upstreams: { slow: upstream.url }, legacy: 'slow' }, { shutdownTimeoutMs: 200 });
    const stuck = send(edge.port, { path: '/stuck?delay=5000' }).then(
      () => 'answered',
      () => 'cut',
    );
    while (edge.edge.inFlight() === 0) await new Promise((r) => setTimeout(r, 5));
    await edge.close();
    assert.equal(await stuck, 'cut');
    assert.ok(edge.logs.some((l) => l['event'] === 'edge.drain_timeout'));
  });
});

describe('restart under steady keep-alive load (edge as a child process, SIGTERM)', () => {
  test('every request the old edge accepted gets a full, correct response', async (t) => {
    const upstream = await startDelayedUpstream();
    const spec = { upstreams: { slow: upstream.url }, legacy: 'slow', shutdownTimeoutMs: 5_000 };
    const oldEdge = await startEdgeProcess(spec);
    let newEdge: Awaited<ReturnType<typeof startEdgeProcess>> | null = null;
    let target = oldEdge.port;

    interface Attempt {
      readonly id: string;
      readonly port: number;
      result: 'ok' | 'wrong' | 'refused' | 'reset';
    }
    const attempts: Attempt[] = [];
    let running = true;

    // Each loop is a client with its own keep-alive connection, sending the next request as soon as one is done.
    async function loop(n: number): Promise<void> {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let seq = 0; running; seq++) {
        const id = `load-${n}-${seq}`;
        const path = `/load/${n}/${seq}?delay=${(seq % 4) * 5}`;
        const port = target;
        const attempt: Attempt = { id, port, result: 'reset' };
        attempts.push(attempt);
        try {
          const res = await send(port, { path, agent, headers: { 'x-request-id': id } });
          attempt.result = res.status === 200 && res.body.toString() === `answer for ${path}` ? 'ok' : 'wrong';
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          attempt.result = code === 'ECONNREFUSED' ? 'refused' : 'reset';
          // The old edge stopped accepting: this client moves to the new instance.
          if (code === 'ECONNREFUSED' && newEdge !== null) target = newEdge.port;
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      agent.destroy();
    }

    const loops = Array.from({ length: 8 }, (_, n) => loop(n));
    try {
      await new Promise((r) => setTimeout(r, 300));
      newEdge = await startEdgeProcess(spec);
      const stopped = oldEdge.stop();
      const exit = await stopped;
      await new Promise((r) => setTimeout(r, 300));
      running = false;
      await Promise.all(loops);

      assert.equal(exit.code, 0, 'the old edge exits cleanly after draining');
      const accepted = new Set(requestLines(oldEdge.logs).map((l) => String(l['reqId'])));
      const byId = new Map(attempts.map((a) => [a.id, a]));
      const failedAccepted = [...accepted].filter((id) => byId.get(id)?.result !== 'ok');
      const onOld = attempts.filter((a) => a.port === oldEdge.port);
      const servedByNew = requestLines(newEdge.logs).length;
      t.diagnostic(
        `old edge accepted ${accepted.size} requests (drained in ${exit.closedMs} ms); ` +
          `attempts on it: ${onOld.length} (${onOld.filter((a) => a.result === 'refused').length} refused, ` +
          `${onOld.filter((a) => a.result === 'reset').length} reset before being accepted); new edge served ${servedByNew}`,
      );
      assert.ok(accepted.size > 50, 'the old edge was under load');
      assert.ok(servedByNew > 50, 'the load moved to the new edge');
      assert.deepEqual(failedAccepted, [], 'accepted requests that did not get a full, correct response');
      assert.equal(attempts.filter((a) => a.result === 'wrong').length, 0, 'no response was wrong');
      // A connection reset is only acceptable for a request the old edge never saw.
      for (const a of attempts.filter((x) => x.result === 'reset')) assert.ok(!accepted.has(a.id), a.id);
    } finally {
      running = false;
      await Promise.all(loops);
      await oldEdge.stop();
      if (newEdge) await newEdge.stop();
      await upstream.close();
    }
  });
});
