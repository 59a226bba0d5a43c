// The embedded state store: memory, persisted to DATA_DIR so a restart resumes the same step.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { createMemoryStateStore, createStateStore } from '../../src/adapters/state/index.ts';
import { EdgeError } from '../../src/core/errors.ts';
import type { RouteRolloutState } from '../../src/core/types.ts';
import { captureLog } from '../support/log-capture.ts';
import { nextState, outcome, routeState } from '../support/state-fixtures.ts';

describe('memory state store', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'rf-state-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('a restart (new instance, same data dir) resumes the same step', async () => {
    const dataDir = join(root, 'restart');
    const first = createMemoryStateStore({ dataDir, log: captureLog().log });
    await first.load();
    const start = routeState({ routeId: 'agents-read', revision: 0 });
    assert.equal(await first.compareAndSet(start, -1), true);
    const step3 = nextState(start, { stepIndex: 2, weight: 30, stepRequests: 412, reason: 'advanced' });
    assert.equal(await first.compareAndSet(step3, 0), true);
    await first.close();

    const second = createMemoryStateStore({ dataDir, log: captureLog().log });
    assert.equal(second.get('agents-read'), undefined, 'nothing before load()');
    await second.load();
    assert.deepEqual(second.get('agents-read'), step3);
    // And it continues from there: the stored revision is the one to compare against.
    assert.equal(await second.compareAndSet(nextState(step3, { weight: 40, stepIndex: 3 }), 0), false);
    assert.equal(await second.compareAndSet(nextState(step3, { weight: 40, stepIndex: 3 }), 1), true);
    await second.close();
  });

  test('after a burst of changes the file holds the last state, written atomically (no temp file left behind)', async () => {
    const dataDir = join(root, 'burst');
    const store = createMemoryStateStore({ dataDir, log: captureLog().log, persistDelayMs: 30 });
    await store.load();
    let state: RouteRolloutState = routeState({ routeId: 'burst', revision: 0 });
    assert.equal(await store.compareAndSet(state, -1), true);
    for (let i = 1; i <= 50; i++) {
      const next = nextState(state, { stepRequests: i });
      assert.equal(await store.compareAndSet(next, state.revision), true);
      state = next;
    }
    await store.close();
    const files = await readdir(dataDir);
    assert.deepEqual(files, ['rollout-state.json']);
    const saved = JSON.parse(await readFile(join(dataDir, 'rollout-state.json'), 'utf8')) as {
      routes: RouteRolloutState[];
    };
    assert.deepEqual(saved.routes, [state]);
  });

  test('a change is saved without close() once the debounce passes', async () => {
    const dataDir = join(root, 'debounce');
    const store = createMemoryStateStore({ dataDir, log: captureLog().log, persistDelayMs: 10 });
    await store.load();
    const state = routeState({ routeId: 'saved', revision: 0 });
    await store.compareAndSet(state, -1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reader = createMemoryStateStore({ dataDir, log: captureLog().log });
    await reader.load();
    assert.deepEqual(reader.get('saved'), state);
    await Promise.all([store.close(), reader.close()]);
  });

  test('compare-and-set refuses a stale revision and announces each accepted change', async () => {
    const store = createMemoryStateStore({ dataDir: join(root, 'cas'), log: captureLog().log });
    await store.load();
    const seen: number[] = [];
    const stop = store.onChange((s) => seen.push(s.revision));
    const s0 = routeState({ routeId: 'cas', revision: 0 });
    assert.equal(await store.compareAndSet(s0, -1), true);
    assert.equal(await store.compareAndSet(routeState({ routeId: 'cas', revision: 0 }), -1), false, 'already exists');
    assert.equal(await store.compareAndSet(nextState(s0, { weight: 20 }), 0), true);
    assert.equal(await store.compareAndSet(nextState(s0, { weight: 30 }), 0), false, 'revision 0 is stale');
    await assert.rejects(
      store.compareAndSet(routeState({ routeId: 'cas', revision: 1 }), 1),
      (err: unknown) => err instanceof EdgeError && err.code === 'RF_STATE_STORE',
    );
    await assert.rejects(
      store.compareAndSet({ ...routeState({ routeId: 'cas', revision: 2 }), weight: 140 }, 1),
      (err: unknown) => err instanceof EdgeError && err.code === 'RF_STATE_STORE',
    );
    assert.equal(store.get('cas')?.weight, 20);
    assert.deepEqual(seen, [0, 1]);
    stop();
    // applyLocal takes only newer news.
    store.applyLocal(routeState({ routeId: 'cas', revision: 1, weight: 99 }));
    assert.equal(store.get('cas')?.weight, 20);
    store.applyLocal(routeState({ routeId: 'cas', revision: 2, weight: 0, phase: 'rolled_back', stepIndex: -1 }));
    assert.equal(store.get('cas')?.phase, 'rolled_back');
    await store.remove('cas');
    assert.equal(store.get('cas'), undefined);
    assert.equal(await store.acquireLease('anyone', 1000), true);
    assert.equal(store.healthy(), true);
    await store.close();
  });

  test('window stats count outcomes in the window only', async () => {
    const store = createMemoryStateStore({ dataDir: join(root, 'window'), log: captureLog().log });
    const now = 1_700_000_010_500;
    for (let i = 0; i < 8; i++) store.recordOutcome(outcome({ routeId: 'w', at: now - 100 }));
    store.recordOutcome(outcome({ routeId: 'w', at: now - 100, status: 500 }));
    store.recordOutcome(outcome({ routeId: 'w', at: now - 100, status: 0, transportError: true }));
    store.recordOutcome(outcome({ routeId: 'w', target: 'legacy', at: now - 2000, status: 404 }));
    store.recordOutcome(outcome({ routeId: 'w', at: now - 30_000 }));
    const stats = await store.windowStats('w', 5000, now);
    assert.equal(stats.service.requests, 10);
    assert.equal(stats.service.errors, 2);
    assert.equal(stats.service.consecutiveTransportFailures, 1);
    assert.equal(stats.legacy.requests, 1);
    assert.equal(stats.legacy.errors, 0);
    assert.deepEqual(store.localWindowStats('w', 5000, now), stats);
    await store.close();
  });

  test('an unreadable state file is moved aside and the store starts empty instead of failing', async () => {
    const dataDir = join(root, 'corrupt');
    const first = createMemoryStateStore({ dataDir, log: captureLog().log });
    await first.compareAndSet(routeState({ routeId: 'x', revision: 0 }), -1);
    await first.close();
    await writeFile(join(dataDir, 'rollout-state.json'), '{"version":1,"routes":[{"routeId":');
    const captured = captureLog();
    const store = createMemoryStateStore({ dataDir, log: captured.log });
    await store.load();
    assert.equal(store.all().size, 0);
    assert.equal(captured.events('state.file_corrupt').length, 1);
    const files = await readdir(dataDir);
    assert.ok(
      files.some((f) => f.startsWith('rollout-state.json.corrupt-')),
      files.join(', '),
    );
    await store.close();
  });

  test('a malformed entry is skipped, the others load', async () => {
    const dataDir = join(root, 'partial');
    const good = routeState({ routeId: 'good', revision: 3 });
    await rm(dataDir, { recursive: true, force: true });
    const writer = createMemoryStateStore({ dataDir, log: captureLog().log });
    await writer.compareAndSet(good, -1);
    await writer.close();
    const saved = JSON.parse(await readFile(join(dataDir, 'rollout-state.json'), 'utf8')) as { routes: unknown[] };
    saved.routes.push({ routeId: 'bad', phase: 'sideways' });
    await writeFile(join(dataDir, 'rollout-state.json'), JSON.stringify(saved));
    const captured = captureLog();
    const store = createMemoryStateStore({ dataDir, log: captured.log });
    await store.load();
    assert.deepEqual([...store.all().keys()], ['good']);
    assert.equal(captured.events('state.entry_invalid').length, 1);
    await store.close();
  });

  test('the factory picks the embedded store without REDIS_URL and Redis with it', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const embedded = createStateStore({ env: { DATA_DIR: join(root, 'factory') }, log: captureLog().log, metrics });
    assert.equal(embedded.kind, 'memory');
    await embedded.close();
    const blank = createStateStore({
      env: { DATA_DIR: join(root, 'factory'), REDIS_URL: '  ' },
      log: captureLog().log,
      metrics,
    });
    assert.equal(blank.kind, 'memory');
    await blank.close();
    const shared = createStateStore({
      env: {
        DATA_DIR: join(root, 'factory'),
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: 'rf-test:factory:',
      },
      log: captureLog().log,
      metrics,
    });
    assert.equal(shared.kind, 'redis');
    await shared.close();
  });
});
