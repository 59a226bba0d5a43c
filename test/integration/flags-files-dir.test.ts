// Reading a whole flags/ directory: files merge, a flag defined twice is pointed at, a missing directory means
// "no flags" rather than a failure, and the sync reader (for validate) agrees with the async one.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  knownFlagNames,
  knownFlagNamesSync,
  readFlagsDir,
  readFlagsDirSync,
} from '../../src/adapters/flags/flags-files.ts';

const flag = (name: string) => ({ name, enabled: true, strategies: [] });
const doc = (...names: string[]) => `${JSON.stringify({ version: 2, features: names.map(flag) }, null, 2)}\n`;

describe('readFlagsDir', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rf-edge-flags-dir-'));
    await writeFile(join(dir, 'a-shop.json'), doc('shop.cart', 'shop.search'));
    await writeFile(join(dir, 'b-agents.json'), doc('agents.read', 'shop.cart'));
    await writeFile(join(dir, 'README.md'), '# not flags');
    await writeFile(join(dir, '.editor-backup.json'), 'garbage');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('merges every *.json file, first definition wins, the repeat is a problem at its line', async () => {
    const contents = await readFlagsDir(dir);
    assert.deepEqual(
      contents.features.map((f) => f.name),
      ['shop.cart', 'shop.search', 'agents.read'],
    );
    assert.deepEqual(contents.files, [join(dir, 'a-shop.json'), join(dir, 'b-agents.json')]);
    assert.deepEqual(contents.problems, [
      {
        file: join(dir, 'b-agents.json'),
        line: 10,
        col: 7,
        message: `flag "shop.cart" is already defined in ${join(dir, 'a-shop.json')}`,
      },
    ]);
  });

  test('the sync reader and the name helpers agree with it', async () => {
    assert.deepEqual(readFlagsDirSync(dir), await readFlagsDir(dir));
    const names = ['agents.read', 'shop.cart', 'shop.search'];
    assert.deepEqual([...(await knownFlagNames(dir))].sort(), names);
    assert.deepEqual([...knownFlagNamesSync(dir)].sort(), names);
  });

  test('a missing directory defines no flags and says so as a warning', async () => {
    const missing = join(dir, 'nope');
    const contents = await readFlagsDir(missing);
    assert.deepEqual(contents.features, []);
    assert.deepEqual(contents.problems, []);
    assert.match(contents.warnings[0]?.message ?? '', /does not exist/);
    assert.deepEqual(readFlagsDirSync(missing), contents);
  });
});
