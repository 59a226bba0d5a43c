// The Unleash-backed flag source against a real unleash-server 7.5.1 on its own PostgreSQL database: flags/ pushed
// through the admin API, changes made there reaching evaluate, and the outage story (stale, then a restart that
// routes the same from the SDK's backup).

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  fetchClientFeatures,
  setConstraints,
  setFlagEnabled,
  setRolloutPercent,
} from '../../src/adapters/flags/unleash-admin.ts';
import { createUnleashFlagSource, type UnleashFlagSource } from '../../src/adapters/flags/unleash-flag-source.ts';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import { pullFlags, pushFlags } from '../../src/cli/flags-command.ts';
import { normalizedBucket } from '../../src/core/bucket.ts';
import type { FlagContext, FlagVerdict } from '../../src/core/types.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { startUnleashServer, type UnleashTestServer } from '../support/unleash-server.ts';
import { waitFor } from '../support/wait.ts';

const FLAG = 'raptorflow.agents-read';
const REFRESH_MS = 300;
const USERS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
const TENANTS = ['a', 'b', 'c', ''];
const repoFlagsFile = new URL('../../flags/raptorflow.json', import.meta.url);

function context(userId: string, i = 0): FlagContext {
  const tenantId = TENANTS[i % TENANTS.length] ?? '';
  return { userId, sessionId: '', remoteAddress: '10.0.0.1', properties: tenantId === '' ? {} : { tenantId } };
}

function verdicts(source: UnleashFlagSource): FlagVerdict['kind'][] {
  return USERS.map((u, i) => source.evaluate(FLAG, context(u, i)).kind);
}

function eligibleSet(source: UnleashFlagSource): Set<string> {
  return new Set(USERS.filter((u) => source.evaluate(FLAG, context(u)).kind === 'eligible'));
}

describe('flags against a real Unleash', () => {
  let server: UnleashTestServer;
  let root: string;
  let flagsDir: string;
  let dataDir: string;
  let log: CapturedLog;
  let metrics: EdgeMetrics;
  let source: UnleashFlagSource;
  const sources: UnleashFlagSource[] = [];
  let beforeOutage: FlagVerdict['kind'][] = [];

  const servedByUnleash = async (predicate: (enabled: boolean, rollout: string | undefined) => boolean) => {
    const doc = await fetchClientFeatures(server.url, server.clientToken);
    const feature = doc.features.find((f) => f.name === FLAG);
    const rollout = feature?.strategies[0]?.parameters?.['rollout'];
    return feature !== undefined && predicate(feature.enabled, rollout === undefined ? undefined : String(rollout));
  };

  before(async () => {
    server = await startUnleashServer();
    root = await mkdtemp(join(tmpdir(), 'rf-edge-flags-unleash-'));
    flagsDir = join(root, 'flags');
    dataDir = join(root, 'data');
    await mkdir(flagsDir);
    await copyFile(repoFlagsFile, join(flagsDir, 'raptorflow.json'));
    log = captureLog();
    metrics = createMetrics({ processMetrics: false });
    process.stdout.write(`# unleash-server 7.5.1 healthy after ${Math.round(server.startupMs)} ms (fresh database)\n`);
  });

  after(async () => {
    for (const s of sources) await s.stop();
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('push creates the flags of flags/ in Unleash, and a second push changes nothing', async () => {
    const first = await pushFlags({ dir: flagsDir, url: server.url, adminToken: server.adminToken, log: log.log });
    assert.deepEqual(first.created.sort(), ['raptorflow.agents-read', 'raptorflow.agents-write']);
    const served = await fetchClientFeatures(server.url, server.clientToken);
    const byName = new Map(served.features.map((f) => [f.name, f]));
    assert.equal(byName.get('raptorflow.agents-read')?.enabled, true);
    assert.equal(byName.get('raptorflow.agents-write')?.enabled, false);
    assert.equal(byName.get('raptorflow.agents-read')?.strategies[0]?.parameters?.['rollout'], '100');

    const second = await pushFlags({ dir: flagsDir, url: server.url, adminToken: server.adminToken, log: log.log });
    assert.deepEqual(second.changes, []);
    assert.deepEqual(second.unchanged.sort(), ['raptorflow.agents-read', 'raptorflow.agents-write']);
  });

  test('pull exports back exactly what push imported, and a second pull rewrites nothing', async () => {
    const original = JSON.parse(await readFile(repoFlagsFile, 'utf8')) as { features: unknown[] };
    const into = join(root, 'pulled');
    await mkdir(into);
    const report = await pullFlags({ dir: into, url: server.url, adminToken: server.adminToken });
    assert.deepEqual(report.added.sort(), ['raptorflow.agents-read', 'raptorflow.agents-write']);
    const pulled = JSON.parse(await readFile(join(into, 'flags.json'), 'utf8')) as {
      version: number;
      features: unknown[];
    };
    assert.equal(pulled.version, 2);
    assert.deepEqual(pulled.features, original.features);

    const again = await pullFlags({ dir: into, url: server.url, apiToken: server.clientToken });
    assert.deepEqual(again.written, []);
    assert.deepEqual(again.removed, []);
  });

  test('the flag source goes live on the pushed flags', async () => {
    source = createUnleashFlagSource({
      url: server.url,
      apiToken: server.clientToken,
      refreshMs: REFRESH_MS,
      dataDir,
      bootstrapDir: flagsDir,
      log: log.log,
      metrics,
    });
    sources.push(source);
    await source.start();
    await waitFor('state live', () => source.status().state === 'live', 10_000);
    assert.equal(source.evaluate(FLAG, context('someone')).kind, 'eligible');
    assert.equal(source.evaluate('raptorflow.agents-write', context('someone')).kind, 'off');
    assert.equal(source.evaluate('raptorflow.unknown', context('someone')).kind, 'no_flag_data');
    assert.deepEqual([...source.knownFlags()].sort(), ['raptorflow.agents-read', 'raptorflow.agents-write']);
  });

  test('a backup that cannot be written is an error event, while the flags stay live', async () => {
    const blockedDir = join(root, 'blocked-data');
    const blockedLog = captureLog();
    const blocked = createUnleashFlagSource({
      url: server.url,
      apiToken: server.clientToken,
      refreshMs: REFRESH_MS,
      dataDir: blockedDir,
      bootstrapDir: flagsDir,
      log: blockedLog.log,
      metrics: createMetrics({ processMetrics: false }),
      sendUsageMetrics: false,
    });
    sources.push(blocked);
    // A directory where the SDK wants to write its backup file: the write fails with EISDIR, even as root.
    await mkdir(blocked.backupPath, { recursive: true });
    await blocked.start();
    await waitFor(
      'the failed backup write to be logged',
      () => blockedLog.events('flags.sdk_error').some((e) => e['backupPath'] === blocked.backupPath),
      10_000,
    );
    assert.equal(blocked.status().state, 'live');
    assert.equal(blocked.evaluate(FLAG, context('someone')).kind, 'eligible');
    await blocked.stop();
  });

  test('a flag switched off in Unleash is off for every user within one refresh', async () => {
    const changes: number[] = [];
    const unsubscribe = source.onChange(() => changes.push(Date.now()));
    await setFlagEnabled(server.url, server.adminToken, FLAG, false);
    // Unleash itself publishes a change on a 1 s schedule; what the edge owns is the time from "Unleash serves
    // it" to "evaluate says it".
    await waitFor('Unleash to serve the flag off', () => servedByUnleash((enabled) => !enabled), 10_000);
    const edgeMs = await waitFor(
      'evaluate to say off',
      () => source.evaluate(FLAG, context('someone')).kind === 'off',
      10_000,
    );
    process.stdout.write(
      `# flag off: evaluate followed Unleash after ${Math.round(edgeMs)} ms (refresh ${REFRESH_MS} ms)\n`,
    );
    assert.ok(edgeMs <= REFRESH_MS + 1000, `evaluate took ${edgeMs} ms after Unleash served the change`);
    assert.ok(USERS.every((u) => source.evaluate(FLAG, context(u)).kind === 'off'));
    assert.ok(changes.length > 0, 'onChange listeners heard about it');
    unsubscribe();

    await setFlagEnabled(server.url, server.adminToken, FLAG, true);
    await waitFor(
      'evaluate to say eligible again',
      () => source.evaluate(FLAG, context('someone')).kind === 'eligible',
      10_000,
    );
  });

  test('the rollout percentage decides the eligible share, nested with the edge bucket, and raising it keeps users', async () => {
    const matchesPercent = (percent: number) => () =>
      USERS.every(
        (u) => (source.evaluate(FLAG, context(u)).kind === 'eligible') === normalizedBucket(FLAG, u) <= percent,
      );

    await setRolloutPercent(server.url, server.adminToken, FLAG, 30);
    await waitFor('30 % to reach evaluate', matchesPercent(30), 10_000);
    const at30 = eligibleSet(source);
    assert.ok(Math.abs((at30.size / USERS.length) * 100 - 30) <= 3, `share at 30 %: ${at30.size} of ${USERS.length}`);

    await setRolloutPercent(server.url, server.adminToken, FLAG, 50);
    await waitFor('50 % to reach evaluate', matchesPercent(50), 10_000);
    const at50 = eligibleSet(source);
    assert.ok(Math.abs((at50.size / USERS.length) * 100 - 50) <= 3, `share at 50 %: ${at50.size} of ${USERS.length}`);
    const left = [...at30].filter((u) => !at50.has(u));
    assert.deepEqual(left, [], 'users eligible at 30 % stay eligible at 50 %');
  });

  test('a tenant constraint makes only matching users eligible', async () => {
    await setRolloutPercent(server.url, server.adminToken, FLAG, 100);
    await setConstraints(server.url, server.adminToken, FLAG, [
      { contextName: 'tenantId', operator: 'IN', values: ['a', 'b'] },
    ]);
    const expected = USERS.map((_, i) =>
      ['a', 'b'].includes(TENANTS[i % TENANTS.length] ?? '') ? 'eligible' : 'not_eligible',
    );
    await waitFor(
      'the constraint to reach evaluate',
      () => verdicts(source).every((v, i) => v === expected[i]),
      10_000,
    );
    assert.ok(expected.includes('eligible') && expected.includes('not_eligible'));
  });

  test('when Unleash stops, the last known flags keep answering and the source turns stale', async () => {
    beforeOutage = verdicts(source);
    await server.halt();
    await waitFor('state stale', () => source.status().state === 'stale', 10_000);
    assert.deepEqual(verdicts(source), beforeOutage);
    const status = source.status();
    assert.ok(status.staleSince !== null && status.staleSince <= Date.now());
    const gauge = (await metrics.flagSourceState.get()).values;
    assert.equal(gauge.find((v) => v.labels.state === 'stale')?.value, 1);
    assert.equal(gauge.find((v) => v.labels.state === 'live')?.value, 0);
    assert.ok(((await metrics.flagStaleSince.get()).values[0]?.value ?? 0) > 0);
    const errors = (await metrics.flagErrors.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.ok(errors > 0, 'SDK errors are counted');
    assert.ok(log.events('flags.state_changed').some((e) => e['to'] === 'stale'));
  });

  test('a flag source started while Unleash is down answers from its backup, not from flags/', async () => {
    const fresh = createUnleashFlagSource({
      url: server.url,
      apiToken: server.clientToken,
      refreshMs: REFRESH_MS,
      dataDir,
      bootstrapDir: flagsDir,
      log: log.log,
      metrics: createMetrics({ processMetrics: false }),
    });
    sources.push(fresh);
    await readFile(fresh.backupPath, 'utf8'); // the SDK kept its backup where we said
    const started = performance.now();
    await fresh.start();
    const startMs = performance.now() - started;
    process.stdout.write(`# start() with Unleash down and a backup: ${Math.round(startMs)} ms\n`);
    assert.deepEqual(verdicts(fresh), beforeOutage);
    // flags/ says 100 % without a constraint: had the bootstrap won, tenant "c" would be eligible.
    assert.equal(fresh.evaluate(FLAG, context('user-2', 2)).kind, 'not_eligible');
    await waitFor('state stale', () => fresh.status().state === 'stale', 10_000);
  });

  test('when Unleash is back, the source is live again', async () => {
    await server.restart();
    process.stdout.write(`# unleash-server restart (existing database): ${Math.round(server.lastRestartMs())} ms\n`);
    await waitFor('state live', () => source.status().state === 'live', 20_000);
    assert.equal(source.status().staleSince, null);
    assert.deepEqual(verdicts(source), beforeOutage);
  });
});
