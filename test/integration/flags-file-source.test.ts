// The embedded flag source on a real directory: edits apply by themselves, broken edits are refused and the
// flags in force keep answering.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createFileFlagSource, type FileFlagSource } from '../../src/adapters/flags/file-flag-source.ts';
import { createMetrics, type EdgeMetrics } from '../../src/adapters/metrics.ts';
import { EdgeError } from '../../src/core/errors.ts';
import type { FlagContext } from '../../src/core/types.ts';
import { type CapturedLog, captureLog } from '../support/log-capture.ts';
import { waitFor } from '../support/wait.ts';

const user: FlagContext = { userId: 'user-1', sessionId: '', remoteAddress: '10.0.0.1', properties: {} };

function feature(name: string, enabled: boolean, rollout = 100, extra: Record<string, unknown> = {}) {
  return {
    name,
    enabled,
    strategies: [
      {
        name: 'flexibleRollout',
        constraints: [],
        parameters: { rollout: String(rollout), stickiness: 'default', groupId: name },
      },
    ],
    variants: [],
    ...extra,
  };
}

function documentOf(...features: unknown[]): string {
  return `${JSON.stringify({ version: 2, features }, null, 2)}\n`;
}

describe('file flag source', () => {
  let dir: string;
  let log: CapturedLog;
  let metrics: EdgeMetrics;
  let source: FileFlagSource | null = null;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rf-edge-flags-file-'));
    log = captureLog();
    metrics = createMetrics({ processMetrics: false });
  });

  afterEach(async () => {
    await source?.stop();
    source = null;
    await rm(dir, { recursive: true, force: true });
  });

  test('evaluates the flags of every file in the directory', async () => {
    await writeFile(join(dir, 'a.json'), documentOf(feature('shop.checkout', true), feature('shop.search', false)));
    await writeFile(join(dir, 'b.json'), documentOf(feature('shop.cart', true, 0)));
    await writeFile(join(dir, 'notes.txt'), 'not a flags file');
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await source.start();

    assert.equal(source.evaluate('shop.checkout', user).kind, 'eligible');
    assert.equal(source.evaluate('shop.search', user).kind, 'off');
    assert.equal(source.evaluate('shop.cart', user).kind, 'not_eligible');
    assert.equal(source.evaluate('shop.unknown', user).kind, 'no_flag_data');
    assert.deepEqual([...source.knownFlags()].sort(), ['shop.cart', 'shop.checkout', 'shop.search']);
    assert.equal(source.status().state, 'file');
    const gauge = (await metrics.flagSourceState.get()).values;
    assert.equal(gauge.find((v) => v.labels.state === 'file')?.value, 1);
  });

  test('an edit to a flags file applies by itself and tells the listeners', async () => {
    const file = join(dir, 'flags.json');
    await writeFile(file, documentOf(feature('shop.checkout', true)));
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await source.start();
    let heard = 0;
    source.onChange(() => heard++);

    await writeFile(file, documentOf(feature('shop.checkout', false)));
    const ms = await waitFor('the edit to apply', () => source?.evaluate('shop.checkout', user).kind === 'off');
    process.stdout.write(`# flags file edit applied after ${Math.round(ms)} ms (watcher)\n`);
    assert.equal(heard, 1);
    assert.equal(log.events('flags.reloaded').length, 1);
  });

  test('without file events, the stat poll still picks up a new file', async () => {
    await writeFile(join(dir, 'a.json'), documentOf(feature('shop.checkout', true)));
    source = createFileFlagSource({ dir, log: log.log, metrics, watch: false, pollMs: 100 });
    await source.start();

    await writeFile(join(dir, 'b.json'), documentOf(feature('shop.cart', true)));
    const ms = await waitFor('the new file to apply', () => source?.knownFlags().has('shop.cart') === true);
    process.stdout.write(`# new flags file applied after ${Math.round(ms)} ms (stat poll, 100 ms)\n`);
    assert.equal(source.evaluate('shop.cart', user).kind, 'eligible');
  });

  test('an invalid edit is logged and counted, the previous flags keep working, and fixing it applies', async () => {
    const file = join(dir, 'flags.json');
    await writeFile(file, documentOf(feature('shop.checkout', true)));
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await source.start();

    await writeFile(file, '{ "version": 2, "features": [ { "name": "shop.checkout", "enabled": fals');
    await waitFor('the failed reload to be logged', () => log.events('flags.reload_failed').length > 0);
    assert.equal(source.evaluate('shop.checkout', user).kind, 'eligible');
    const failure = log.events('flags.reload_failed')[0];
    assert.equal(failure?.['level'], 'error');
    assert.match(JSON.stringify(failure?.['problems']), /not valid JSON/);
    const counted = (await metrics.flagErrors.get()).values.find((v) => v.labels.kind === 'file_invalid');
    assert.ok((counted?.value ?? 0) >= 1);

    await writeFile(file, documentOf(feature('shop.checkout', false)));
    await waitFor('the fix to apply', () => source?.evaluate('shop.checkout', user).kind === 'off');
  });

  test('a flag defined in two files is refused as a whole', async () => {
    await writeFile(join(dir, 'a.json'), documentOf(feature('shop.checkout', true)));
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await source.start();

    await writeFile(join(dir, 'b.json'), documentOf(feature('shop.checkout', false), feature('shop.cart', true)));
    assert.equal(await source.reload(), false);
    assert.equal(source.evaluate('shop.checkout', user).kind, 'eligible');
    assert.equal(source.knownFlags().has('shop.cart'), false);
    const failure = log.events('flags.reload_failed').at(-1);
    assert.match(JSON.stringify(failure?.['problems']), /"shop\.checkout\\" is already defined in .*a\.json/);
  });

  test('a reload that finds nothing new changes nothing and tells no one', async () => {
    await writeFile(join(dir, 'a.json'), documentOf(feature('shop.checkout', true)));
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await source.start();
    let heard = 0;
    source.onChange(() => heard++);
    assert.equal(await source.reload(), false);
    assert.equal(heard, 0);
  });

  test('start refuses an invalid directory with every problem listed', async () => {
    await writeFile(join(dir, 'a.json'), documentOf({ name: 'shop.checkout', enabled: 'yes', strategies: [] }));
    source = createFileFlagSource({ dir, log: log.log, metrics });
    await assert.rejects(source.start(), (err: unknown) => {
      assert.ok(err instanceof EdgeError);
      assert.equal(err.code, 'RF_FLAGS');
      assert.match(JSON.stringify(err.details), /flag \\"shop\.checkout\\": enabled/);
      return true;
    });
  });
});
