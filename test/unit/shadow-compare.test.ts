import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  compareShadow,
  DEFAULT_COMPARED_HEADERS,
  describeDifferences,
  headerValue,
  type ShadowAnswer,
} from '../../src/core/shadow-compare.ts';

function answer(status: number, headers: string[], body: string): ShadowAnswer {
  return {
    status,
    headers,
    bodySha256: createHash('sha256').update(body).digest('hex'),
    bodyBytes: Buffer.byteLength(body),
  };
}

const JSON_HEADERS = ['Content-Type', 'application/json', 'Date', 'Mon, 01 Jan 2024 00:00:00 GMT'];

describe('shadow comparison', () => {
  test('the same status, body and content-type match, whatever the volatile headers say', () => {
    const legacy = answer(
      200,
      [...JSON_HEADERS, 'X-Request-Id', 'a', 'ETag', '"v1"', 'X-Served-By', 'monolith-1', 'Server', 'rails'],
      '{"ok":true}',
    );
    const service = answer(
      200,
      [
        'content-type',
        'application/json',
        'date',
        'Tue, 02 Jan 2024 10:00:00 GMT',
        'x-request-id',
        'b',
        'etag',
        'W/"other"',
        'x-served-by',
        'agents-7',
      ],
      '{"ok":true}',
    );
    assert.deepEqual(compareShadow(legacy, service), { result: 'match' });
  });

  test('a different status is a mismatch that names both statuses', () => {
    const result = compareShadow(answer(200, JSON_HEADERS, 'x'), answer(500, JSON_HEADERS, 'x'));
    assert.deepEqual(result, { result: 'mismatch', differences: ['status 200 != 500'] });
  });

  test('a different body of the same length says so; of another length gives both lengths', () => {
    const same = compareShadow(answer(200, JSON_HEADERS, 'abc'), answer(200, JSON_HEADERS, 'abd'));
    assert.deepEqual(same, { result: 'mismatch', differences: ['body differs (3 bytes each)'] });
    const longer = compareShadow(answer(200, JSON_HEADERS, 'abc'), answer(200, JSON_HEADERS, 'abcdef'));
    assert.deepEqual(longer, { result: 'mismatch', differences: ['body 3 != 6 bytes'] });
  });

  test('content-type is compared as a media type: case and spaces do not matter, the type and charset do', () => {
    const a = answer(200, ['Content-Type', 'application/json; charset=utf-8'], '');
    const b = answer(200, ['content-type', 'Application/JSON;charset=UTF-8'], '');
    assert.equal(compareShadow(a, b).result, 'match');
    const c = answer(200, ['content-type', 'text/html; charset=utf-8'], '');
    assert.deepEqual(compareShadow(a, c), {
      result: 'mismatch',
      differences: ['header content-type "application/json;charset=utf-8" != "text/html;charset=utf-8"'],
    });
  });

  test('a header present on one side only is a mismatch that shows it absent', () => {
    const result = compareShadow(answer(204, [], ''), answer(204, ['Content-Type', 'text/plain'], ''));
    assert.deepEqual(result, { result: 'mismatch', differences: ['header content-type (absent) != "text/plain"'] });
  });

  test('set-cookie compares cookie names only, not values or attributes', () => {
    const legacy = answer(200, ['Set-Cookie', 'sid=abc; Path=/; HttpOnly', 'Set-Cookie', 'theme=dark'], '');
    const service = answer(200, ['set-cookie', 'theme=light', 'set-cookie', 'sid=zzz; Max-Age=60'], '');
    assert.equal(compareShadow(legacy, service).result, 'match');
    const missing = answer(200, ['set-cookie', 'theme=light'], '');
    assert.deepEqual(compareShadow(legacy, missing), {
      result: 'mismatch',
      differences: ['header set-cookie "names: sid, theme" != "names: theme"'],
    });
  });

  test('only the headers asked for are compared, and the volatile ones never are', () => {
    const legacy = answer(200, ['Cache-Control', 'no-store', 'Date', 'a', 'Content-Type', 'text/plain'], 'x');
    const service = answer(200, ['Cache-Control', 'max-age=60', 'Date', 'b', 'Content-Type', 'text/html'], 'x');
    assert.deepEqual(compareShadow(legacy, service, ['cache-control', 'date']), {
      result: 'mismatch',
      differences: ['header cache-control "no-store" != "max-age=60"'],
    });
    assert.deepEqual(compareShadow(legacy, service, []), { result: 'match' });
  });

  test('every difference is listed, in the order status, headers, body', () => {
    const result = compareShadow(answer(200, JSON_HEADERS, 'a'), answer(404, ['Content-Type', 'text/html'], 'bb'));
    assert.deepEqual(result, {
      result: 'mismatch',
      differences: ['status 200 != 404', 'header content-type "application/json" != "text/html"', 'body 1 != 2 bytes'],
    });
  });

  test('repeated headers are joined in order; a long value is cut in the description', () => {
    assert.equal(headerValue(['Vary', 'Accept', 'vary', 'Origin'], 'vary'), 'Accept, Origin');
    assert.equal(headerValue(['Vary', 'Accept'], 'link'), null);
    const long = 'x'.repeat(500);
    const result = compareShadow(answer(200, ['Link', long], ''), answer(200, [], ''), ['link']);
    assert.equal(result.result, 'mismatch');
    const text = describeDifferences(result.result === 'mismatch' ? result.differences : []);
    assert.ok(text.length < 120, text);
    assert.match(text, /^header link "x+…" != \(absent\)$/);
  });

  test('the default compares content-type and set-cookie names', () => {
    assert.deepEqual([...DEFAULT_COMPARED_HEADERS], ['content-type', 'set-cookie']);
  });
});
