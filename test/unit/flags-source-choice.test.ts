// Which flag source the environment gets: flags/ files without UNLEASH_URL, Unleash with it (and a token).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFlagSource, type FlagSourceEnv } from '../../src/adapters/flags/index.ts';
import { createLogger } from '../../src/adapters/logger.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { EdgeError } from '../../src/core/errors.ts';

const base: FlagSourceEnv = {
  FLAGS_DIR: './flags',
  DATA_DIR: './.data',
  UNLEASH_URL: undefined,
  UNLEASH_API_TOKEN: undefined,
  UNLEASH_REFRESH_MS: 5000,
  UNLEASH_APP_NAME: 'rf-edge',
  INSTANCE_ID: 'test',
};
const deps = () => ({ log: createLogger('silent'), metrics: createMetrics({ processMetrics: false }) });

test('without UNLEASH_URL the flags/ files are the source', () => {
  assert.equal(createFlagSource({ env: base, ...deps() }).status().state, 'file');
});

test('with UNLEASH_URL and a token, Unleash is the source and flags/ its bootstrap', () => {
  const env = { ...base, UNLEASH_URL: 'http://127.0.0.1:4242/api', UNLEASH_API_TOKEN: 'default:development.x' };
  const source = createFlagSource({ env, ...deps() });
  assert.equal(source.status().state, 'bootstrap');
  assert.ok('backupPath' in source);
});

test('UNLEASH_URL without a token is refused before anything starts', () => {
  assert.throws(
    () => createFlagSource({ env: { ...base, UNLEASH_URL: 'http://127.0.0.1:4242/api' }, ...deps() }),
    (err: unknown) =>
      err instanceof EdgeError && err.code === 'RF_ENV_INVALID' && /UNLEASH_API_TOKEN/.test(err.message),
  );
});
