// forward() on its own, against real upstreams on port 0: the seam that response translation and fallback build on.
// The head arrives before any body byte, a sink can hold the body back, a Buffer body can be sent twice (to one
// upstream, then to another), and a failure says whether it came before the head.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/adapters/logger.ts';
import type { UpstreamConfig } from '../../src/config/types.ts';
import { type BodySource, type ForwardSink, forward, type UpstreamCall } from '../../src/http/forward.ts';
import { UpstreamPools } from '../../src/http/upstream-pools.ts';
import { makeTable } from '../support/edge.ts';
import { digestBody, startUpstream, type TestUpstream } from '../support/upstream.ts';

/** Records what a sink hears, in order. */
class RecordingSink implements ForwardSink {
  readonly events: string[] = [];
  status = 0;
  headers: string[] = [];
  body = '';
  pauseFirstChunk = false;
  paused: UpstreamCall | null = null;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor() {
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  onHead(_call: UpstreamCall, status: number, statusText: string, rawHeaders: string[]): void {
    this.events.push(`head ${status} ${statusText}`);
    this.status = status;
    this.headers = rawHeaders;
  }
  onData(call: UpstreamCall, chunk: Buffer): boolean {
    this.events.push('data');
    this.body += chunk.toString();
    if (this.pauseFirstChunk && this.paused === null) {
      this.paused = call;
      return false;
    }
    return true;
  }
  onEnd(): void {
    this.events.push('end');
    this.#resolve();
  }
  onError(_call: UpstreamCall, err: Error, afterHead: boolean): void {
    this.events.push(`error ${afterHead ? 'after' : 'before'} head ${(err as { code?: string }).code}`);
    this.#resolve();
  }
}

describe('forward: one upstream exchange through the dispatcher API', () => {
  let one: TestUpstream;
  let two: TestUpstream;
  let pools: UpstreamPools;
  let upstreams: Map<string, UpstreamConfig>;

  const answer = (name: string) =>
    startUpstream(name, (req, res) => {
      digestBody(req, ({ bytes }) => {
        res.writeHead(
          201,
          'Made',
          [
            ['X-Served-By', name],
            ['Set-Cookie', 'a=1'],
            ['Set-Cookie', 'b=2'],
          ].flat(),
        );
        res.write(`${name}:${req.method}:${req.url}:`);
        setTimeout(() => res.end(`${bytes}`), 20);
      });
    });

  before(async () => {
    one = await answer('one');
    two = await answer('two');
    const table = makeTable({ upstreams: { one: one.url, two: two.url }, legacy: 'one' });
    upstreams = new Map(table.upstreams);
    pools = new UpstreamPools(createLogger('silent'));
    pools.useTable(table);
  });

  after(async () => {
    await pools.close();
    await one.close();
    await two.close();
  });

  function send(upstream: string, path: string, body: BodySource, sink: RecordingSink): UpstreamCall {
    const config = upstreams.get(upstream)!;
    return forward(
      pools,
      body === null ? 'GET' : 'POST',
      { upstream: config, path, headers: ['Host', 'x'] },
      body,
      sink,
    );
  }

  test('the head (status, reason, raw header list with repeats) comes before any body byte', async () => {
    const sink = new RecordingSink();
    send('one', '/a?x=%2F', null, sink);
    await sink.done;
    assert.equal(sink.events[0], 'head 201 Made');
    assert.equal(sink.events.at(-1), 'end');
    assert.deepEqual(
      sink.headers.filter((_, i) => i % 2 === 0 && /^(X-Served-By|Set-Cookie)$/.test(sink.headers[i]!)),
      ['X-Served-By', 'Set-Cookie', 'Set-Cookie'],
    );
    assert.equal(sink.body, 'one:GET:/a?x=%2F:0');
  });

  test('a sink returning false holds the body until resume()', async () => {
    const sink = new RecordingSink();
    sink.pauseFirstChunk = true;
    send('one', '/slow', null, sink);
    while (sink.paused === null) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sink.events, ['head 201 Made', 'data'], 'nothing more while paused');
    sink.paused.resume();
    await sink.done;
    assert.equal(sink.events.at(-1), 'end');
  });

  test('a Buffer body can be forwarded twice, to another upstream the second time', async () => {
    const body = Buffer.from('replayable body');
    const first = new RecordingSink();
    send('one', '/p', body, first);
    await first.done;
    const second = new RecordingSink();
    send('two', '/p', body, second);
    await second.done;
    assert.equal(first.body, `one:POST:/p:${body.length}`);
    assert.equal(second.body, `two:POST:/p:${body.length}`);
  });

  test('an upstream that cannot be reached fails before the head', async () => {
    const closed = await startUpstream('gone');
    const table = makeTable({ upstreams: { gone: closed.url }, legacy: 'gone' });
    await closed.close();
    const local = new UpstreamPools(createLogger('silent'));
    local.useTable(table);
    const sink = new RecordingSink();
    forward(local, 'GET', { upstream: table.upstreams.get('gone')!, path: '/', headers: [] }, null, sink);
    await sink.done;
    await local.close();
    assert.deepEqual(sink.events, ['error before head ECONNREFUSED']);
  });
});
