// The write-back must land in the environment the edge reads; a token that names none gets no write-back at all
// (and says so), rather than a guess that could switch off the wrong environment. The writes themselves run against
// a real Unleash in test/integration/writeback-unleash.test.ts.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createUnleashWriteBack } from '../../src/adapters/flags/unleash-write-back.ts';
import { captureLog } from '../support/log-capture.ts';

const URL_ROOT = 'http://127.0.0.1:1/api';

describe('createUnleashWriteBack', () => {
  for (const apiToken of ['*:*.0123abcd', 'opaque-token-without-scope', 'default:*.0123abcd']) {
    test(`refuses to guess an environment for ${apiToken}`, () => {
      const log = captureLog();
      const writeBack = createUnleashWriteBack({ url: URL_ROOT, adminToken: '*:*.admin', apiToken, log: log.log });
      assert.equal(writeBack, null);
      const warned = log.events('flags.write_back_disabled');
      assert.equal(warned.length, 1);
      assert.equal(warned[0]?.['level'], 'warn');
    });
  }

  for (const apiToken of ['default:production.0123abcd', '*:staging.0123abcd']) {
    test(`writes back for a token scoped to an environment (${apiToken})`, () => {
      const log = captureLog();
      const writeBack = createUnleashWriteBack({ url: URL_ROOT, adminToken: '*:*.admin', apiToken, log: log.log });
      assert.equal(typeof writeBack, 'function');
      assert.deepEqual(log.events('flags.write_back_disabled'), []);
    });
  }
});
