// The hot-reload watcher against real files in a temporary directory: edits in place, rename-replace saves,
// deletions, the poll fallback alone, and reload() (what SIGHUP calls).
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RouteTableWatcherOptions, watchRouteTable } from '../../src/adapters/route-table-watcher.ts';
import { hashRouteTableText } from '../../src/config/load-route-table.ts';
import type { ConfigProblem, RouteTable } from '../../src/config/types.ts';
import { captureLog } from '../support/log-capture.ts';
import { waitFor } from '../support/wait.ts';

const FLAGS = new Set(['raptorflow.agents-read']);

/** A valid table whose only route is `id`, so which table was applied is one glance away. */
function tableText(id: string, flag = 'raptorflow.agents-read'): string {
  return [
    'version: 1',
    'upstreams:',
    '  monolith: { url: http://127.0.0.1:3001 }',
    '  agents: { url: http://127.0.0.1:3002 }',
    'legacy: monolith',
    'routes:',
    `  - id: ${id}`,
    '    path: /api/agents/*',
    '    service: agents',
    `    flag: ${flag}`,
    '    mode: canary',
    '',
  ].join('\n');
}

const INVALID = [
  'version: 1',
  'upstreams:',
  '  monolith: { url: http://127.0.0.1:3001 }',
  'legacy: monolith',
  'routes:',
  '  - id: Bad_Id',
  '    path: api/agents',
  '    service: monolith',
  '',
].join('\n');

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rf-edge-watch-'));
  dirs.push(dir);
  const file = join(dir, 'routes.yaml');
  await writeFile(file, content);
  return file;
}

interface Harness {
  readonly tables: RouteTable[];
  readonly rejections: (readonly ConfigProblem[])[];
  readonly watcher: ReturnType<typeof watchRouteTable>;
  readonly logs: ReturnType<typeof captureLog>;
}

function start(file: string, options: Partial<RouteTableWatcherOptions> = {}): Harness {
  const tables: RouteTable[] = [];
  const rejections: (readonly ConfigProblem[])[] = [];
  const logs = captureLog('debug');
  const watcher = watchRouteTable({
    file,
    knownFlags: () => FLAGS,
    onTable: (table) => tables.push(table),
    onRejected: (problems) => rejections.push(problems),
    log: logs.log,
    ...options,
  });
  return { tables, rejections, watcher, logs };
}

/** A watcher over a new file holding tableText('first'), told that table is the one already serving. */
async function watchFirst(options: Partial<RouteTableWatcherOptions> = {}): Promise<{ file: string; h: Harness }> {
  const file = await tempFile(tableText('first'));
  return { file, h: start(file, { currentHash: hashRouteTableText(tableText('first')), ...options }) };
}

/** Longer than a debounce plus a poll period of the fast harness settings, so a late duplicate would have shown. */
const FAST = { debounceMs: 20, pollIntervalMs: 50 } as const;
const SETTLE_MS = 300;

describe('watchRouteTable', { concurrency: true }, () => {
  test('an in-place edit is applied within a second, exactly once, with default timings', async () => {
    const { file, h } = await watchFirst();
    try {
      await sleep(50);
      await writeFile(file, tableText('second'));
      await waitFor('the edit applied', () => h.tables.length > 0, 1000);
      assert.deepEqual(
        h.tables.map((t) => t.routes[0]?.id),
        ['second'],
      );
      assert.equal(h.tables[0]?.hash, hashRouteTableText(tableText('second')));
      assert.ok(Object.isFrozen(h.tables[0]));
      // Both triggers (fs.watch and the stat poll) see this edit; the content hash lets only one through.
      await sleep(800);
      assert.equal(h.tables.length, 1);
      assert.deepEqual(h.rejections, []);
    } finally {
      h.watcher.close();
    }
  });

  test('an invalid edit is rejected with every problem, once, and never reaches onTable; a fix then applies', async () => {
    const { file, h } = await watchFirst(FAST);
    try {
      await writeFile(file, INVALID);
      await waitFor('the rejection', () => h.rejections.length > 0, 1000);
      await sleep(SETTLE_MS);
      assert.equal(h.rejections.length, 1, 'the same broken content is reported once');
      assert.equal(h.tables.length, 0);
      const problems = h.rejections[0]!.map((p) => `${p.file}:${p.line}:${p.col} ${p.message.split(' ')[0]}`);
      assert.deepEqual(problems, [`${file}:6:9 routes[0].id:`, `${file}:7:11 routes[0].path:`]);

      await writeFile(file, tableText('fixed'));
      await waitFor('the fix applied', () => h.tables.length > 0, 1000);
      assert.equal(h.tables[0]?.routes[0]?.id, 'fixed');
    } finally {
      h.watcher.close();
    }
  });

  test('breaking the same way twice after a good edit is reported again', async () => {
    const { file, h } = await watchFirst(FAST);
    try {
      await writeFile(file, INVALID);
      await waitFor('first rejection', () => h.rejections.length === 1, 1000);
      await writeFile(file, tableText('first'));
      await sleep(SETTLE_MS);
      assert.deepEqual(h.tables, [], 'back to the serving content: nothing new to apply');
      await writeFile(file, INVALID);
      await waitFor('second rejection', () => h.rejections.length === 2, 1000);
    } finally {
      h.watcher.close();
    }
  });

  test('rename-replace saves (write a temp file, rename it over) are applied, again and again', async () => {
    const { file, h } = await watchFirst();
    try {
      for (const id of ['second', 'third']) {
        const temp = `${file}.${id}.tmp`;
        await writeFile(temp, tableText(id));
        await rename(temp, file);
        await waitFor(`${id} applied`, () => h.tables.at(-1)?.routes[0]?.id === id, 1000);
      }
      assert.deepEqual(
        h.tables.map((t) => t.routes[0]?.id),
        ['second', 'third'],
      );
    } finally {
      h.watcher.close();
    }
  });

  test('the stat poll alone applies an edit within a second', async () => {
    const { file, h } = await watchFirst({ fsWatch: false });
    try {
      await sleep(50);
      await writeFile(file, tableText('polled'));
      await waitFor('the polled edit applied', () => h.tables.length > 0, 1000);
      assert.equal(h.tables[0]?.routes[0]?.id, 'polled');
    } finally {
      h.watcher.close();
    }
  });

  test('reload() applies now, is true for the table already serving, and re-reports a rejection on demand', async () => {
    // No automatic trigger can fire during this test: only reload() reads the file.
    const { file, h } = await watchFirst({ fsWatch: false, pollIntervalMs: 60_000 });
    try {
      assert.equal(await h.watcher.reload(), true);
      assert.equal(h.tables.length, 0);

      await writeFile(file, tableText('second'));
      assert.equal(await h.watcher.reload(), true);
      assert.deepEqual(
        h.tables.map((t) => t.routes[0]?.id),
        ['second'],
      );
      assert.equal(await h.watcher.reload(), true);
      assert.equal(h.tables.length, 1, 'unchanged content is not applied twice');

      await writeFile(file, INVALID);
      assert.equal(await h.watcher.reload(), false);
      assert.equal(await h.watcher.reload(), false);
      assert.equal(h.rejections.length, 2, 'an operator asking twice hears twice');
      assert.equal(h.tables.length, 1);
    } finally {
      h.watcher.close();
    }
  });

  test('known flags are read at every check: a flag added since start is accepted', async () => {
    const flags = new Set(FLAGS);
    const { file, h } = await watchFirst({ fsWatch: false, pollIntervalMs: 60_000, knownFlags: () => flags });
    try {
      await writeFile(file, tableText('new-flag', 'raptorflow.brand-new'));
      assert.equal(await h.watcher.reload(), false);
      assert.match(h.rejections[0]?.[0]?.message ?? '', /unknown flag "raptorflow\.brand-new"/);
      flags.add('raptorflow.brand-new');
      assert.equal(await h.watcher.reload(), true);
      assert.equal(h.tables[0]?.routes[0]?.flag, 'raptorflow.brand-new');
    } finally {
      h.watcher.close();
    }
  });

  test('without currentHash the content at start is the serving one; with it, an edit made before start applies', async () => {
    const file = await tempFile(tableText('first'));
    const fresh = start(file, FAST);
    try {
      await sleep(SETTLE_MS);
      assert.deepEqual(fresh.tables, [], 'nothing to apply at start');
      await writeFile(file, tableText('second'));
      await waitFor('second applied', () => fresh.tables.length === 1, 1000);
    } finally {
      fresh.watcher.close();
    }

    // The caller loaded 'second'; the file changed to 'third' before the watcher started.
    await writeFile(file, tableText('third'));
    const late = start(file, { ...FAST, currentHash: hashRouteTableText(tableText('second')) });
    try {
      await waitFor('third applied', () => late.tables.length === 1, 1000);
      assert.equal(late.tables[0]?.routes[0]?.id, 'third');
    } finally {
      late.watcher.close();
    }
  });

  test('a deleted file is reported once at 1:1 with the OS error; bringing it back applies it', async () => {
    const { file, h } = await watchFirst(FAST);
    try {
      await unlink(file);
      await waitFor('the missing file reported', () => h.rejections.length > 0, 1000);
      await sleep(SETTLE_MS);
      assert.equal(h.rejections.length, 1);
      const [problem] = h.rejections[0]!;
      assert.equal(`${problem?.line}:${problem?.col}`, '1:1');
      assert.match(problem?.message ?? '', /cannot read the route table: ENOENT/);

      await writeFile(file, tableText('restored'));
      await waitFor('the restored file applied', () => h.tables.length === 1, 1000);
      assert.equal(h.tables[0]?.routes[0]?.id, 'restored');
    } finally {
      h.watcher.close();
    }
  });

  test('a file left empty is reported (after a grace period: a non-atomic write looks empty for a moment)', async () => {
    const { file, h } = await watchFirst(FAST);
    try {
      await writeFile(file, '');
      await waitFor('the empty file reported', () => h.rejections.length === 1, 2000);
      assert.match(h.rejections[0]?.[0]?.message ?? '', /must be a mapping, got null/);
      assert.deepEqual(h.tables, []);
    } finally {
      h.watcher.close();
    }
  });

  test('fs.watch alone picks up in-place and rename-replace edits (the poll is idle here)', async () => {
    const { file, h } = await watchFirst({ debounceMs: 20, pollIntervalMs: 60_000 });
    try {
      await writeFile(file, tableText('in-place'));
      await waitFor('in-place edit applied', () => h.tables.length === 1, 1000);
      await writeFile(`${file}.tmp`, tableText('renamed'));
      await rename(`${file}.tmp`, file);
      await waitFor('renamed file applied', () => h.tables.length === 2, 1000);
      assert.deepEqual(
        h.tables.map((t) => t.routes[0]?.id),
        ['in-place', 'renamed'],
      );
    } finally {
      h.watcher.close();
    }
  });

  test('a file that is empty only for a moment (a slow non-atomic write) is not reported', async () => {
    const { file, h } = await watchFirst({ debounceMs: 20, pollIntervalMs: 60_000 });
    try {
      await writeFile(file, '');
      // Well past the debounce, so the empty file has been read; well inside the grace an empty file is given.
      await sleep(300);
      await writeFile(file, tableText('written'));
      await waitFor('the finished write applied', () => h.tables.length === 1, 1000);
      assert.deepEqual(h.rejections, []);
    } finally {
      h.watcher.close();
    }
  });

  test('rewriting identical content applies nothing', async () => {
    const { file, h } = await watchFirst(FAST);
    try {
      await writeFile(file, tableText('first'));
      await sleep(SETTLE_MS);
      assert.deepEqual(h.tables, []);
      assert.deepEqual(h.rejections, []);
    } finally {
      h.watcher.close();
    }
  });

  test('after close() edits are ignored and reload() is false', async () => {
    const { file, h } = await watchFirst(FAST);
    h.watcher.close();
    await writeFile(file, tableText('second'));
    await sleep(SETTLE_MS);
    assert.deepEqual(h.tables, []);
    assert.equal(await h.watcher.reload(), false);
    assert.deepEqual(h.tables, []);
  });

  test('a throwing callback is logged and the watcher keeps working', async () => {
    let calls = 0;
    const { file, h } = await watchFirst({
      ...FAST,
      onTable: () => {
        calls++;
        throw new Error('consumer blew up');
      },
    });
    try {
      await writeFile(file, tableText('second'));
      await waitFor('first call', () => calls === 1, 1000);
      await writeFile(file, tableText('third'));
      await waitFor('second call', () => calls === 2, 1000);
      assert.equal(h.logs.events('config.callback_failed').length, 2);
    } finally {
      h.watcher.close();
    }
  });
});
