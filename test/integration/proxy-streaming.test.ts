// Bodies stream through the edge instead of being buffered: server-sent events arrive one by one, and hundreds of
// MiB pass each way while the edge's memory stays flat.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type EdgeProcess, startEdge, startEdgeProcess, type TestEdge } from '../support/edge.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';

const MiB = 1024 * 1024;

describe('server-sent events', () => {
  let upstream: TestUpstream;
  let edge: TestEdge;
  /** Lock-step feed: the upstream writes event n+1 only after the client has seen event n. */
  let clientSaw: (n: number) => void = () => {};

  before(async () => {
    upstream = await startUpstream('events', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      if (req.url === '/lockstep') {
        let n = 0;
        const next = () => {
          n++;
          if (n > 5) {
            res.end();
            return;
          }
          res.write(`id: ${n}\ndata: event ${n}\n\n`);
        };
        clientSaw = () => next();
        next();
        return;
      }
      let n = 0;
      const timer = setInterval(() => {
        n++;
        res.write(`data: tick ${n}\n\n`);
        if (n === 5) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
    });
    edge = await startEdge({
      upstreams: { events: { url: upstream.url, headersTimeoutMs: 2_000, bodyTimeoutMs: 0 } },
      legacy: 'events',
    });
  });

  after(async () => {
    await edge.close();
    await upstream.close();
  });

  /** Reads events (split on blank lines), calling `onEvent` as each one arrives. */
  function readEvents(path: string, onEvent: (event: string, at: number) => void): Promise<string[]> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: edge.port, path, agent: false }, (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          const events: string[] = [];
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let at = buffer.indexOf('\n\n');
            while (at !== -1) {
              const event = buffer.slice(0, at);
              buffer = buffer.slice(at + 2);
              events.push(event);
              onEvent(event, performance.now());
              at = buffer.indexOf('\n\n');
            }
          });
          res.on('end', () => resolve(events));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  }

  test('each event reaches the client before the upstream writes the next one (no buffering)', async () => {
    // Were the edge to buffer, the client would never see event 1, the upstream would never write event 2, and the
    // test would hang: completing at all proves every event was delivered on its own.
    let seen = 0;
    const events = await readEvents('/lockstep', () => {
      seen++;
      clientSaw(seen);
    });
    assert.deepEqual(
      events,
      [1, 2, 3, 4, 5].map((n) => `id: ${n}\ndata: event ${n}`),
    );
  });

  test('events written 100 ms apart arrive spread out, not all at the end', async () => {
    const arrivals: number[] = [];
    const events = await readEvents('/paced', (_e, at) => arrivals.push(at));
    assert.equal(events.length, 5);
    // The upstream needs ≥ 400 ms between its first and last event; a buffering proxy would deliver all five
    // within a few ms of each other.
    const spread = arrivals.at(-1)! - arrivals[0]!;
    assert.ok(spread >= 300, `events arrived within ${spread.toFixed(1)} ms of each other`);
  });
});

describe('large bodies stream both ways with flat memory (edge in a child process)', () => {
  let upstream: TestUpstream;
  let edge: EdgeProcess;
  const TOTAL = 300 * MiB;
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) % 251;

  before(async () => {
    upstream = await startUpstream('bulk', (req, res) => {
      if (req.method === 'POST') {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
        });
        req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
      let sent = 0;
      const pump = () => {
        while (sent < TOTAL) {
          sent += block.length;
          if (!res.write(block)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    edge = await startEdgeProcess(
      { upstreams: { bulk: { url: upstream.url, bodyTimeoutMs: 30_000 } }, legacy: 'bulk' },
      { sampleMs: 20 },
    );
  });

  after(async () => {
    await edge.stop();
    await upstream.close();
  });

  function expectedSha(): string {
    const hash = createHash('sha256');
    for (let sent = 0; sent < TOTAL; sent += block.length) hash.update(block);
    return hash.digest('hex');
  }

  function upload(): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: edge.port,
        method: 'POST',
        path: '/upload',
        headers: { 'content-length': String(TOTAL), 'content-type': 'application/octet-stream' },
        agent: false,
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve(JSON.parse(text) as { bytes: number; sha256: string }));
      });
      let sent = 0;
      const pump = () => {
        while (sent < TOTAL) {
          sent += block.length;
          if (!req.write(block)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  }

  function download(): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: edge.port, path: '/download', agent: false }, (res) => {
          const hash = createHash('sha256');
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            hash.update(c);
          });
          res.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  }

  test('300 MiB up and 300 MiB down: every byte arrives and the edge grows by less than 64 MiB', async (t) => {
    const sha = expectedSha();
    // Warm up (JIT, pools, first buffers) before taking the baseline.
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: edge.port, path: '/warm', agent: false }, (res) => {
          res.destroy();
          resolve();
        })
        .on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    const baseline = edge.memory.at(-1)!;
    const from = edge.memory.length;

    const started = performance.now();
    const up = await upload();
    const upMs = performance.now() - started;
    const down = await download();
    const downMs = performance.now() - started - upMs;
    await new Promise((r) => setTimeout(r, 60));

    assert.equal(up.bytes, TOTAL);
    assert.equal(up.sha256, sha);
    assert.equal(down.bytes, TOTAL);
    assert.equal(down.sha256, sha);

    const samples = edge.memory.slice(from);
    assert.ok(samples.length > 5, 'the edge reported its memory while the bodies streamed');
    const peakRss = Math.max(...samples.map((s) => s.rss));
    const peakHeap = Math.max(...samples.map((s) => s.heapUsed));
    const peakBuffers = Math.max(...samples.map((s) => s.arrayBuffers));
    const rssGrowth = peakRss - baseline.rss;
    t.diagnostic(
      `upload ${(TOTAL / MiB / (upMs / 1000)).toFixed(0)} MiB/s, download ${(TOTAL / MiB / (downMs / 1000)).toFixed(0)} MiB/s; ` +
        `edge RSS ${(baseline.rss / MiB).toFixed(1)} → peak ${(peakRss / MiB).toFixed(1)} MiB (+${(rssGrowth / MiB).toFixed(1)}), ` +
        `heap ${(baseline.heapUsed / MiB).toFixed(1)} → peak ${(peakHeap / MiB).toFixed(1)} MiB, ` +
        `buffers ${(baseline.arrayBuffers / MiB).toFixed(1)} → peak ${(peakBuffers / MiB).toFixed(1)} MiB, ${samples.length} samples`,
    );
    assert.ok(rssGrowth < 64 * MiB, `edge RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB`);
  });
});
