import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StickinessSource } from '../../src/config/types.ts';
import { cookieValue, jwtClaim, stickinessValue } from '../../src/core/stickiness.ts';
import type { RequestFacts } from '../../src/core/types.ts';

const SOURCES: readonly StickinessSource[] = [
  { kind: 'header', name: 'x-user-id' },
  { kind: 'cookie', name: 'session_id' },
  { kind: 'jwt', claim: 'sub' },
  { kind: 'ip' },
];

function facts(headers: RequestFacts['headers'], clientIp = '203.0.113.7'): RequestFacts {
  return { method: 'GET', path: '/api/agents/1', headers, clientIp };
}

function jwt(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.c2lnbmF0dXJl`;
}

describe('stickinessValue: the first present source wins', () => {
  test('header before cookie, JWT and IP', () => {
    const f = facts({ 'x-user-id': 'u-1', cookie: 'session_id=s-1', authorization: `Bearer ${jwt({ sub: 'j-1' })}` });
    assert.deepEqual(stickinessValue(SOURCES, f), { value: 'u-1', source: 'header' });
  });
  test('cookie when the header is missing', () => {
    const f = facts({ cookie: 'theme=dark; session_id=s-1', authorization: `Bearer ${jwt({ sub: 'j-1' })}` });
    assert.deepEqual(stickinessValue(SOURCES, f), { value: 's-1', source: 'cookie' });
  });
  test('JWT sub when header and cookie are missing', () => {
    const f = facts({ cookie: 'theme=dark', authorization: `Bearer ${jwt({ sub: 'j-1' })}` });
    assert.deepEqual(stickinessValue(SOURCES, f), { value: 'j-1', source: 'jwt' });
  });
  test('client IP when nothing else is present', () => {
    assert.deepEqual(stickinessValue(SOURCES, facts({})), { value: '203.0.113.7', source: 'ip' });
  });
  test('an empty header value counts as absent', () => {
    assert.deepEqual(stickinessValue(SOURCES, facts({ 'x-user-id': '', cookie: 'session_id=s-1' })), {
      value: 's-1',
      source: 'cookie',
    });
  });
  test('a repeated header uses its first value', () => {
    assert.deepEqual(stickinessValue(SOURCES, facts({ 'x-user-id': ['u-1', 'u-2'] })), {
      value: 'u-1',
      source: 'header',
    });
  });
  test('a header source written in upper case still finds the lower-case header', () => {
    const sources: StickinessSource[] = [{ kind: 'header', name: 'X-User-Id' }];
    assert.deepEqual(stickinessValue(sources, facts({ 'x-user-id': 'u-9' })), { value: 'u-9', source: 'header' });
  });
  test('no configured source at all falls back to the client IP', () => {
    assert.deepEqual(stickinessValue([], facts({ 'x-user-id': 'u-1' }, '2001:db8::1')), {
      value: '2001:db8::1',
      source: 'ip',
    });
  });
  test('a list without ip still falls back to the client IP, so an anonymous user never flips', () => {
    const sources: StickinessSource[] = [{ kind: 'header', name: 'x-user-id' }];
    const first = stickinessValue(sources, facts({}, '198.51.100.4'));
    for (let i = 0; i < 5; i++) assert.deepEqual(stickinessValue(sources, facts({}, '198.51.100.4')), first);
    assert.deepEqual(first, { value: '198.51.100.4', source: 'ip' });
  });
});

describe('cookieValue parses the Cookie header', () => {
  const cases: [string | string[] | undefined, string | undefined, string][] = [
    ['session_id=abc', 'abc', 'single cookie'],
    ['a=1; session_id=abc; b=2', 'abc', 'among others'],
    ['a=1;session_id=abc', 'abc', 'no space after ;'],
    ['session_id=first; session_id=second', 'first', 'first of duplicates wins'],
    ['session_id="quoted"', 'quoted', 'quotes removed'],
    ['my_session_id=nope; session_id=yes', 'yes', 'a longer name ending in the name does not match'],
    ['session_idx=nope', undefined, 'a longer name starting with the name does not match'],
    ['session_id', undefined, 'a name without = is no cookie'],
    ['session_id=', '', 'empty value'],
    ['a=1', undefined, 'absent'],
    [undefined, undefined, 'no header'],
    [['a=1', 'session_id=from-second-header'], 'from-second-header', 'several Cookie headers'],
    ['token=x=y; session_id=abc', 'abc', 'values holding = do not confuse the scan'],
  ];
  for (const [header, expected, name] of cases) {
    test(name, () => assert.equal(cookieValue(header, 'session_id'), expected));
  }
  test('an empty session cookie falls through to the next source', () => {
    assert.deepEqual(stickinessValue(SOURCES, facts({ cookie: 'session_id=' }, '10.0.0.1')), {
      value: '10.0.0.1',
      source: 'ip',
    });
  });
});

describe('jwtClaim reads a bearer token without verifying it', () => {
  test('string sub', () => assert.equal(jwtClaim(`Bearer ${jwt({ sub: 'user-42' })}`, 'sub'), 'user-42'));
  test('numeric claim becomes its decimal text', () =>
    assert.equal(jwtClaim(`Bearer ${jwt({ uid: 42 })}`, 'uid'), '42'));
  test('scheme is case-insensitive', () => assert.equal(jwtClaim(`bearer ${jwt({ sub: 'u' })}`, 'sub'), 'u'));
  test('non-ASCII claim survives base64url decoding', () => {
    assert.equal(jwtClaim(`Bearer ${jwt({ sub: 'zoë' })}`, 'sub'), 'zoë');
  });
  const malformed: [string | undefined, string][] = [
    [undefined, 'no header'],
    [`Basic ${Buffer.from('a:b').toString('base64')}`, 'another scheme'],
    ['Bearer ', 'empty token'],
    ['Bearer abc', 'not three parts'],
    ['Bearer a.b.c.d', 'four parts'],
    ['Bearer e30..sig', 'empty payload'],
    [`Bearer x.${Buffer.from('not json').toString('base64url')}.sig`, 'payload not JSON'],
    [`Bearer x.${Buffer.from('"a string"').toString('base64url')}.sig`, 'payload not an object'],
    [`Bearer x.${Buffer.from('[1]').toString('base64url')}.sig`, 'payload an array'],
    ['Bearer x.e3!}.sig', 'payload not base64url'],
    [`Bearer ${jwt({ sub: '' })}`, 'empty sub'],
    [`Bearer ${jwt({ sub: null })}`, 'null sub'],
    [`Bearer ${jwt({ sub: { id: 1 } })}`, 'object sub'],
    [`Bearer ${jwt({ sub: true })}`, 'boolean sub'],
    [`Bearer ${jwt({ name: 'no sub' })}`, 'missing sub'],
    [`Bearer ${jwt(JSON.parse('{"__proto__": {"sub": "inherited"}}'))}`, 'an inherited sub does not count'],
  ];
  for (const [header, name] of malformed) {
    test(`${name} → skipped`, () => assert.equal(jwtClaim(header, 'sub'), undefined));
  }
  test('a malformed token falls through to the client IP', () => {
    assert.deepEqual(stickinessValue(SOURCES, facts({ authorization: 'Bearer garbage' }, '10.1.2.3')), {
      value: '10.1.2.3',
      source: 'ip',
    });
  });
});
