// `rf-edge judge replay` end to end: the judge's seconds recorded in DATA_DIR (bounded by rotation) or in a real,
// throwaway PostgreSQL database, read back, and re-run by the CLI command under today's and a candidate policy.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readMigrations, runMigrations } from '../../src/adapters/audit/index.ts';
import { createFileJudgeSlotStore, createPgJudgeSlotStore } from '../../src/adapters/judge-slots/index.ts';
import { runJudgeReplay } from '../../src/cli/judge-replay-command.ts';
import { loadEnv } from '../../src/config/env.ts';
import type { RecordedSecond } from '../../src/core/judge-replay.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { JUDGE_T0_SECOND, recordedSeconds } from '../support/judge-fixtures.ts';
import { captureLog } from '../support/log-capture.ts';
import { ROUTE_ID, routesYaml } from '../support/rollout-harness.ts';

function seconds(n: number, serviceMs: string, from: number): RecordedSecond[] {
  return recordedSeconds(ROUTE_ID, n, serviceMs, from);
}

describe('judge replay', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rf-judge-replay-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('DATA_DIR: seconds are appended per route and rotated, one older generation kept', async () => {
    const slotsDir = join(dir, 'rotation');
    const store = createFileJudgeSlotStore({ dir: slotsDir, log: captureLog().log, maxBytes: 500 });
    const batches = [0, 1, 2].map((b) => seconds(10, '50', JUDGE_T0_SECOND + b * 10));
    for (const batch of batches) {
      for (const r of batch) store.record(r);
      await store.flush();
    }
    await store.close();
    assert.deepEqual((await readdir(slotsDir)).sort(), [`${ROUTE_ID}.1.jsonl`, `${ROUTE_ID}.jsonl`]);
    const back = await createFileJudgeSlotStore({ dir: slotsDir, log: captureLog().log }).read(ROUTE_ID, 0, 1e12);
    // Each batch is bigger than 500 bytes: the oldest was rotated away, the last two remain, in order.
    assert.deepEqual(
      back.map((r) => r.second),
      [...(batches[1] ?? []), ...(batches[2] ?? [])].map((r) => r.second),
    );
    assert.equal(back[0]?.service?.requests, 20);
  });

  test('the CLI replays recorded seconds under the route policy, and under a candidate file', async () => {
    const dataDir = join(dir, 'data');
    const store = createFileJudgeSlotStore({ dir: join(dataDir, 'judge-slots'), log: captureLog().log });
    for (const r of [...seconds(60, '50', JUDGE_T0_SECOND), ...seconds(60, '60', JUDGE_T0_SECOND + 60)])
      store.record(r);
    await store.close();
    const upstreams = { monolith: 'http://127.0.0.1:9', service: 'http://127.0.0.1:9' };
    const today = join(dir, 'routes.yaml');
    await writeFile(today, routesYaml(upstreams, {}));
    const candidate = join(dir, 'candidate.yaml');
    await writeFile(
      candidate,
      routesYaml(upstreams, { maxP99Ratio: 3 }).replace('minSamples: 10', 'minSamples: 10\n  maxLatencyIncrease: 0.5'),
    );
    const env = loadEnv({ DATA_DIR: dataDir, ROUTES_FILE: today });
    const run = async (routes: string | undefined, from?: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runJudgeReplay({
        env,
        sub: 'replay',
        routeId: ROUTE_ID,
        from,
        to: undefined,
        routes,
        json: false,
        io: { out: (s) => out.push(s), err: (s) => err.push(s) },
      });
      return { code, out, err };
    };

    const now = await run(undefined);
    assert.equal(now.code, 0, now.err.join('\n'));
    assert.match(now.out[0] ?? '', /judge replay of agents-list under .*routes\.yaml .*: 120 recorded seconds/);
    assert.match(now.out.at(-1) ?? '', /^would have rolled back at \S+ \((latency|p99_ratio)\)/);
    assert.match(now.out[1] ?? '', /^\d{4}-\d\d-\d\dT\S+Z {2}insufficient_data/);

    const wider = await run(candidate);
    assert.equal(wider.code, 0, wider.err.join('\n'));
    assert.equal(wider.out.length, 122, 'a header, one line per second, a summary');
    assert.match(wider.out.at(-1) ?? '', /^no rollback: \d+ healthy and \d+ holding verdicts/);

    const late = await run(undefined, new Date((JUDGE_T0_SECOND + 100) * 1000).toISOString());
    assert.match(late.out[0] ?? '', /: 20 recorded seconds/);

    const bad = await runJudgeReplay({
      ...{ env, sub: 'replay', routeId: 'nope', from: undefined, to: undefined, routes: undefined, json: false },
      io: { out: () => {}, err: () => {} },
    });
    assert.equal(bad, 1);
  });

  describe('PostgreSQL', () => {
    let db: TestDatabase;
    before(async () => {
      db = await createTestDatabase('judge-slots');
      await runMigrations({ connectionString: db.url() }, await readMigrations(), captureLog().log);
    });
    after(async () => {
      await db.drop();
    });

    test('seconds are written once (a retried batch is harmless), read back by range, and pruned when old', async () => {
      const store = createPgJudgeSlotStore({ url: db.url(), log: captureLog().log, retainMs: 3600_000 });
      // Seconds from two hours ago are past the retention: the first write prunes them.
      const old = seconds(5, '50', Math.floor(Date.now() / 1000) - 7200);
      const T = Math.floor(Date.now() / 1000) - 100;
      const records = seconds(30, '50', T);
      for (const r of old) store.record(r);
      for (const r of records) store.record(r);
      await store.flush();
      for (const r of records.slice(0, 5)) store.record(r);
      await store.flush();
      const all = await store.read(ROUTE_ID, 0, 1e12);
      assert.equal(all.length, 30);
      assert.deepEqual(
        all[3],
        records[3] && {
          ...records[3],
          service: { ...records[3].service, latency: all[3]?.service?.latency },
          legacy: { ...records[3].legacy, latency: all[3]?.legacy?.latency },
        },
      );
      const some = await store.read(ROUTE_ID, T + 10, T + 19);
      assert.deepEqual(
        some.map((r) => r.second - T),
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
      );
      await store.close();
    });
  });
});
