import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { compileTrustedProxies, isIpv6, normalizeIp, parseCidr, resolveClientIp } from '../../src/core/client-ip.ts';
import { EdgeError } from '../../src/core/errors.ts';

interface ResolveCase {
  name: string;
  trusted: string[];
  peer: string;
  xff: string | null;
  expect: string;
}

const cases = JSON.parse(
  readFileSync(new URL('../cases/client-ip/resolve.json', import.meta.url), 'utf8'),
) as ResolveCase[];

describe('resolveClientIp (test/cases/client-ip/resolve.json)', () => {
  for (const c of cases) {
    test(c.name, () => {
      const trusted = compileTrustedProxies(c.trusted);
      assert.equal(resolveClientIp(c.peer, c.xff ?? undefined, trusted), c.expect);
    });
  }
});

describe('compileTrustedProxies', () => {
  test('contains() matches v4, v6 and IPv4-mapped forms against the same ranges', () => {
    const t = compileTrustedProxies(['127.0.0.1/8', '::1', '192.168.0.0/16', '2001:db8::/32']);
    for (const ip of [
      '127.0.0.1',
      '127.255.0.9',
      '::ffff:127.0.0.1',
      '::1',
      '[::1]',
      '192.168.44.1',
      '2001:db8:1::1',
    ]) {
      assert.equal(t.contains(ip), true, ip);
    }
    for (const ip of ['128.0.0.1', '::2', '192.169.0.1', '2001:db9::1', 'nonsense', '']) {
      assert.equal(t.contains(ip), false, ip);
    }
  });

  test('an empty list trusts nobody', () => {
    const t = compileTrustedProxies([]);
    assert.equal(t.empty, true);
    assert.equal(t.contains('127.0.0.1'), false);
  });

  test('a bad entry is a config error naming it', () => {
    assert.throws(
      () => compileTrustedProxies(['10.0.0.0/8', '10.0.0.0/33']),
      (err: unknown) =>
        err instanceof EdgeError && err.code === 'RF_CONFIG_INVALID' && err.message.includes('10.0.0.0/33'),
    );
  });
});

describe('parseCidr', () => {
  test('accepts addresses and CIDRs, masks host bits', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { v: 4, net: 0x0a000000, mask: 0xff000000, prefix: 8 });
    assert.deepEqual(parseCidr('10.1.2.3'), { v: 4, net: 0x0a010203, mask: 0xffffffff, prefix: 32 });
    assert.equal(parseCidr('fd00::/8')?.prefix, 8);
    assert.equal(parseCidr('::ffff:10.0.0.0/104')?.prefix, 8);
  });

  test('refuses what is not an address or CIDR', () => {
    for (const bad of [
      '',
      '10.0.0',
      '10.0.0.256',
      '10.0.0.0/',
      '10.0.0.0/x',
      '1::2::3',
      '::1/129',
      'localhost',
      '1.2.3.4/-1',
    ]) {
      assert.equal(parseCidr(bad), null, bad);
    }
  });
});

describe('normalizeIp / isIpv6', () => {
  test('normalises to the form logs and headers carry', () => {
    assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('[2001:0db8:0000:0000:0000:0000:0000:0001]'), '2001:db8::1');
    assert.equal(normalizeIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
    assert.equal(normalizeIp('fe80::1%lo0'), 'fe80::1');
    assert.equal(normalizeIp('::'), '::');
    assert.equal(normalizeIp('not-an-ip'), 'not-an-ip');
    assert.equal(isIpv6('2001:db8::1'), true);
    assert.equal(isIpv6('10.0.0.1'), false);
  });
});
