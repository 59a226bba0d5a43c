// The Unleash flag source when Unleash cannot be used: nothing listening, a server that never answers, a token it
// refuses. The SDK is real and really connects; flags/ (the bootstrap) answers, startup is not held up, and SDK
// failures become log events and metrics instead of crashes.

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import { createUnleashFlagSource, type UnleashFlagSource } from '../../src/adapters/flags/unleash-flag-source.ts';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import type { FlagContext } from '../../src/core/types.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { waitFor } from '../support/wait.ts';

const user: FlagContext = { userId: 'user-1', sessionId: '', remoteAddress: '10.0.0.1', properties: {} };
const repoFlagsFile = new URL('../../flags/raptorflow.json', import.meta.url);

function listen(server: Server | NetServer): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

describe('Unleash flag source without a usable Unleash', () => {
  let root: string;
  let flagsDir: string;
  let log: CapturedLog;
  let metrics: EdgeMetrics;
  let source: UnleashFlagSource | null = null;
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rf-edge-flags-down-'));
    flagsDir = join(root, 'flags');
    await mkdir(flagsDir);
    await copyFile(repoFlagsFile, join(flagsDir, 'raptorflow.json'));
    log = captureLog();
    metrics = createMetrics({ processMetrics: false });
  });

  afterEach(async () => {
    await source?.stop();
    source = null;
    for (const close of closers.splice(0)) await close();
    await rm(root, { recursive: true, force: true });
  });

  const create = (url: string, extra: { startTimeoutMs?: number; apiToken?: string } = {}) =>
    createUnleashFlagSource({
      url,
      apiToken: extra.apiToken ?? 'default:development.not-a-real-token',
      refreshMs: 300,
      dataDir: join(root, 'data'),
      bootstrapDir: flagsDir,
      log: log.log,
      metrics,
      ...(extra.startTimeoutMs ? { startTimeoutMs: extra.startTimeoutMs } : {}),
    });

  test('with nothing listening, flags/ answers and the source reports itself stale', async () => {
    // A port that was free a moment ago: connections are refused.
    const port = await freePort();

    source = create(`http://127.0.0.1:${port}/api`);
    await source.start();
    assert.equal(source.evaluate('raptorflow.agents-read', user).kind, 'eligible');
    assert.equal(source.evaluate('raptorflow.agents-write', user).kind, 'off');
    assert.equal(source.evaluate('raptorflow.unknown', user).kind, 'no_flag_data');
    assert.deepEqual([...source.knownFlags()].sort(), ['raptorflow.agents-read', 'raptorflow.agents-write']);

    await waitFor('state stale', () => source?.status().state === 'stale', 10_000);
    assert.equal(source.evaluate('raptorflow.agents-read', user).kind, 'eligible');
    assert.ok(log.events('flags.sdk_error').length > 0, 'the SDK error became a pino event');
    const errors = (await metrics.flagErrors.get()).values.find((v) => v.labels.kind === 'sdk_error');
    assert.ok((errors?.value ?? 0) > 0);
  });

  test('stopping while a fetch is under way leaves no unhandled rejection behind when it fails', async () => {
    // Unleash answers 400 to every poll, but only when told to: the test stops the source in between.
    const waiting: Array<() => void> = [];
    let requests = 0;
    const answering = createHttpServer((_req, res) => {
      requests++;
      waiting.push(() => res.writeHead(400).end('{}'));
    });
    const port = await listen(answering);
    closers.push(
      () =>
        new Promise((r) => {
          answering.closeAllConnections();
          answering.close(() => r());
        }),
    );
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const stopping = create(`http://127.0.0.1:${port}/api`, { startTimeoutMs: 50 });
      await stopping.start();
      for (const answer of waiting.splice(0)) answer(); // the first poll fails while the source runs
      await waitFor('the next poll', () => requests >= 2 && waiting.length > 0, 10_000);
      await stopping.stop();
      for (const answer of waiting.splice(0)) answer(); // … and the one in flight fails after stop()
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(rejections, []);
  });

  test('start() does not wait for an Unleash that never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket); // accept, read nothing, answer nothing
    });
    const port = await listen(silent);
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });

    source = create(`http://127.0.0.1:${port}/api`, { startTimeoutMs: 300 });
    const started = performance.now();
    await source.start();
    const ms = performance.now() - started;
    // The SDK's own fetch timeout is 5 s (and it retries): start() returned on its 300 ms bound instead.
    assert.ok(ms < 5000, `start() took ${ms} ms`);
    assert.equal(source.status().state, 'bootstrap');
    assert.equal(source.evaluate('raptorflow.agents-read', user).kind, 'eligible');
  });

  test('a token Unleash refuses is an error event and a stale source, not a crash', async () => {
    const refusing = createHttpServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"unauthorized"}');
    });
    const port = await listen(refusing);
    closers.push(
      () =>
        new Promise((r) => {
          refusing.closeAllConnections(); // the SDK's keep-alive sockets would hold close() open
          refusing.close(() => r());
        }),
    );

    source = create(`http://127.0.0.1:${port}/api`);
    await source.start();
    await waitFor('state stale', () => source?.status().state === 'stale', 10_000);
    const event = log.events('flags.sdk_error').find((e) => String(e['detail']).includes('401'));
    assert.ok(event, 'the 401 was logged');
    assert.equal(source.evaluate('raptorflow.agents-read', user).kind, 'eligible');
  });
});
