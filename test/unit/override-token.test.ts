import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { signOverride, verifyOverride } from '../../src/core/override-token.ts';

const SECRET = 'qa-override-secret';
const NOW_MS = Date.UTC(2026, 0, 1, 12, 0, 0);
const IN_ONE_HOUR = NOW_MS / 1000 + 3600;

describe('a signed override forces its target until it expires', () => {
  test('service', () => {
    assert.equal(verifyOverride(SECRET, signOverride(SECRET, 'service', IN_ONE_HOUR), NOW_MS), 'service');
  });
  test('legacy', () => {
    assert.equal(verifyOverride(SECRET, signOverride(SECRET, 'legacy', IN_ONE_HOUR), NOW_MS), 'legacy');
  });
  test('the token format is <target>.<expires>.<base64url HMAC-SHA256 of "<target>.<expires>">', () => {
    const expected = createHmac('sha256', SECRET).update(`service.${IN_ONE_HOUR}`).digest('base64url');
    assert.equal(signOverride(SECRET, 'service', IN_ONE_HOUR), `service.${IN_ONE_HOUR}.${expected}`);
  });
  test('valid up to the last millisecond before its expiry, invalid from then on', () => {
    const token = signOverride(SECRET, 'service', IN_ONE_HOUR);
    assert.equal(verifyOverride(SECRET, token, IN_ONE_HOUR * 1000 - 1), 'service');
    assert.equal(verifyOverride(SECRET, token, IN_ONE_HOUR * 1000), null);
    assert.equal(verifyOverride(SECRET, token, IN_ONE_HOUR * 1000 + 60_000), null);
  });
});

describe('anything else is ignored', () => {
  const good = signOverride(SECRET, 'service', IN_ONE_HOUR);
  const [target, expires, sig] = good.split('.') as [string, string, string];
  const lastChar = sig.at(-1)!;
  // The last base64url character of a 32-byte MAC carries 2 spare bits: flipping them spells the same bytes.
  const sameBytesOtherSpelling =
    sig.slice(0, -1) +
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[
      'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(lastChar) ^ 1
    ];
  const cases: [string, string][] = [
    ['plain target without signature', 'service'],
    ['empty', ''],
    ['wrong secret', signOverride('another-secret', 'service', IN_ONE_HOUR)],
    ['target changed after signing', `legacy.${expires}.${sig}`],
    ['expiry extended after signing', `${target}.${Number(expires) + 86_400}.${sig}`],
    ['signature truncated', `${target}.${expires}.${sig.slice(0, -1)}`],
    ['signature with padding', `${target}.${expires}.${sig}=`],
    ['signature in standard base64', `${target}.${expires}.${Buffer.from(sig, 'base64url').toString('base64')}`],
    ['non-canonical spelling of the same MAC', `${target}.${expires}.${sameBytesOtherSpelling}`],
    ['unknown target', `shadow.${expires}.${sig}`],
    ['target in upper case', `SERVICE.${expires}.${sig}`],
    ['expiry not a number', `${target}.soon.${sig}`],
    ['negative expiry', `${target}.-1.${sig}`],
    ['extra part', `${good}.x`],
    ['missing part', `${target}.${sig}`],
    ['expired', signOverride(SECRET, 'service', NOW_MS / 1000 - 1)],
  ];
  test('the non-canonical spelling really decodes to the same MAC', () => {
    assert.notEqual(sameBytesOtherSpelling, sig);
    assert.deepEqual(Buffer.from(sameBytesOtherSpelling, 'base64url'), Buffer.from(sig, 'base64url'));
  });
  for (const [name, token] of cases) {
    test(name, () => assert.equal(verifyOverride(SECRET, token, NOW_MS), null));
  }
  test('an empty secret accepts nothing, not even a token signed with it', () => {
    const forged = `service.${IN_ONE_HOUR}.${createHmac('sha256', '').update(`service.${IN_ONE_HOUR}`).digest('base64url')}`;
    assert.equal(verifyOverride('', forged, NOW_MS), null);
  });
  test('signing refuses an empty secret and a fractional expiry', () => {
    assert.throws(() => signOverride('', 'service', IN_ONE_HOUR), RangeError);
    assert.throws(() => signOverride(SECRET, 'service', IN_ONE_HOUR + 0.5), RangeError);
  });
});
