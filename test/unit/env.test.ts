import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { loadEnv } from '../../src/config/env.ts';
import { isEdgeError } from '../../src/core/errors.ts';

function envError(env: Record<string, string>): { message: string; details: { variable: string; message: string }[] } {
  try {
    loadEnv(env);
  } catch (err) {
    assert.ok(isEdgeError(err), 'an EdgeError');
    assert.equal(err.code, 'RF_ENV_INVALID');
    return { message: err.message, details: err.details as { variable: string; message: string }[] };
  }
  return assert.fail('loadEnv should have thrown');
}

describe('loadEnv', () => {
  test('an empty environment gives the documented defaults, every key present', () => {
    assert.deepEqual(loadEnv({}), {
      PORT: 8080,
      HOST: '0.0.0.0',
      ADMIN_PORT: 9090,
      ADMIN_HOST: '127.0.0.1',
      ADMIN_TOKEN: undefined,
      ROUTES_FILE: './routes.yaml',
      FLAGS_DIR: './flags',
      DATA_DIR: './.data',
      ADAPTERS_DIR: undefined,
      UNLEASH_URL: undefined,
      UNLEASH_API_TOKEN: undefined,
      UNLEASH_ADMIN_TOKEN: undefined,
      UNLEASH_REFRESH_MS: 5000,
      UNLEASH_APP_NAME: 'rf-edge',
      REDIS_URL: undefined,
      DATABASE_URL: undefined,
      LOG_LEVEL: 'info',
      EDGE_OVERRIDE_SECRET: undefined,
      SHUTDOWN_TIMEOUT_MS: 10000,
      REDIS_KEY_PREFIX: 'rf-edge:',
      INSTANCE_ID: `${hostname()}-${process.pid}`,
    });
  });

  test('set values are read and converted', () => {
    const env = loadEnv({
      PORT: '0',
      HOST: '::',
      ADMIN_PORT: '19090',
      ADMIN_HOST: '0.0.0.0',
      ADMIN_TOKEN: 's3cret',
      ROUTES_FILE: '/etc/rf/routes.yaml',
      FLAGS_DIR: 'conf/flags',
      DATA_DIR: '/var/lib/rf',
      UNLEASH_URL: 'http://unleash:4242/api',
      UNLEASH_API_TOKEN: 'client-token',
      UNLEASH_ADMIN_TOKEN: 'admin-token',
      UNLEASH_REFRESH_MS: '1000',
      UNLEASH_APP_NAME: 'edge-eu',
      REDIS_URL: 'rediss://:pw@redis:6380/2',
      DATABASE_URL: 'postgresql://postgres@db/rf',
      LOG_LEVEL: 'DEBUG',
      EDGE_OVERRIDE_SECRET: 'hmac-key',
      SHUTDOWN_TIMEOUT_MS: '0',
      REDIS_KEY_PREFIX: 'test:',
      INSTANCE_ID: 'edge-1',
    });
    assert.equal(env.PORT, 0);
    assert.equal(env.ADMIN_PORT, 19090);
    assert.equal(env.ADMIN_TOKEN, 's3cret');
    assert.equal(env.UNLEASH_REFRESH_MS, 1000);
    assert.equal(env.REDIS_URL, 'rediss://:pw@redis:6380/2');
    assert.equal(env.DATABASE_URL, 'postgresql://postgres@db/rf');
    assert.equal(env.LOG_LEVEL, 'debug');
    assert.equal(env.EDGE_OVERRIDE_SECRET, 'hmac-key');
    assert.equal(env.SHUTDOWN_TIMEOUT_MS, 0);
    assert.equal(env.INSTANCE_ID, 'edge-1');
  });

  test('empty values count as unset: a blank ADMIN_TOKEN leaves mutating calls refused', () => {
    const env = loadEnv({ ADMIN_TOKEN: '', PORT: '', EDGE_OVERRIDE_SECRET: '' });
    assert.equal(env.ADMIN_TOKEN, undefined);
    assert.equal(env.EDGE_OVERRIDE_SECRET, undefined);
    assert.equal(env.PORT, 8080);
  });

  test('the result is frozen', () => {
    const env = loadEnv({});
    assert.ok(Object.isFrozen(env));
    assert.throws(() => {
      (env as { PORT: number }).PORT = 1;
    }, TypeError);
  });

  test('unrelated variables are ignored', () => {
    assert.equal(loadEnv({ PATH: '/bin', PORTS: 'x' }).PORT, 8080);
  });

  test('every bad variable is listed in one RF_ENV_INVALID error', () => {
    const { message, details } = envError({
      PORT: 'eighty',
      ADMIN_PORT: '70000',
      UNLEASH_REFRESH_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '-1',
      LOG_LEVEL: 'loud',
      UNLEASH_URL: 'unleash:4242',
      REDIS_URL: 'http://redis:6379',
      DATABASE_URL: 'mysql://db',
    });
    assert.deepEqual(details.map((d) => d.variable).sort(), [
      'ADMIN_PORT',
      'DATABASE_URL',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
      'SHUTDOWN_TIMEOUT_MS',
      'UNLEASH_REFRESH_MS',
      'UNLEASH_URL',
    ]);
    assert.match(message, /^environment is invalid:\n/);
    assert.match(message, /PORT="eighty": must be a port number 0\.\.65535/);
    assert.match(message, /ADMIN_PORT="70000": must be a port number 0\.\.65535/);
    assert.match(message, /UNLEASH_REFRESH_MS="0": must be a positive whole number of milliseconds/);
    assert.match(message, /SHUTDOWN_TIMEOUT_MS="-1": must be a whole number of milliseconds/);
    assert.match(message, /LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent/);
    assert.match(message, /UNLEASH_URL: must be a URL with scheme http or https, like http:\/\/unleash:4242\/api/);
    assert.match(message, /REDIS_URL: must be a URL with scheme redis or rediss/);
    assert.match(message, /DATABASE_URL: must be a URL with scheme postgres or postgresql/);
  });

  test('values that may hold secrets are not echoed in the error', () => {
    const { message } = envError({ REDIS_URL: 'http://:hunter2@redis', PORT: 'x' });
    assert.doesNotMatch(message, /hunter2/);
    assert.match(message, /REDIS_URL: /);
  });
});
