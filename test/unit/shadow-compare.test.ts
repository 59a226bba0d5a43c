// Which headers a shadow comparison looks at and in what form (core/shadow-compare), through the differ as the edge
// runs it: every difference as `kind path legacy != service`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { comparedHeaders, DEFAULT_COMPARED_HEADERS, headerValue } from '../../src/core/shadow-compare.ts';
import { type DiffAnswer, describeFieldDifferences, diffAnswers } from '../../src/core/structural-diff.ts';

function answer(status: number, headers: string[], body: string): DiffAnswer {
  const bytes = Buffer.from(body);
  return {
    status,
    headers,
    body: bytes,
    bodyBytes: bytes.length,
    bodySha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

function compare(legacy: DiffAnswer, service: DiffAnswer, headers = DEFAULT_COMPARED_HEADERS): string[] {
  const result = diffAnswers(
    legacy,
    service,
    { headers: comparedHeaders(headers), rules: [], maxDiffBytes: 1024 * 1024 },
    headerValue,
  );
  assert.equal(result.result, 'compared');
  return result.result === 'compared'
    ? result.differences.map((d) => `${d.kind} ${d.path} ${d.legacy ?? '(absent)'} != ${d.service ?? '(absent)'}`)
    : [];
}

const JSON_HEADERS = ['Content-Type', 'application/json', 'Date', 'Mon, 01 Jan 2024 00:00:00 GMT'];

describe('shadow comparison headers', () => {
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
      ],
      '{"ok":true}',
    );
    assert.deepEqual(compare(legacy, service), []);
  });

  test('content-type is compared as a media type: case and spaces do not matter, the type and charset do', () => {
    const a = answer(200, ['Content-Type', 'application/json; charset=utf-8'], '');
    const b = answer(200, ['content-type', 'Application/JSON;charset=UTF-8'], '');
    assert.deepEqual(compare(a, b), []);
    const c = answer(200, ['content-type', 'text/html; charset=utf-8'], '');
    assert.deepEqual(compare(a, c), [
      'value header.content-type "application/json;charset=utf-8" != "text/html;charset=utf-8"',
    ]);
  });

  test('a header present on one side only is extra or missing', () => {
    assert.deepEqual(compare(answer(204, [], ''), answer(204, ['Content-Type', 'text/plain'], '')), [
      'extra header.content-type (absent) != "text/plain"',
    ]);
  });

  test('set-cookie compares cookie names only, not values or attributes', () => {
    const legacy = answer(200, ['Set-Cookie', 'sid=abc; Path=/; HttpOnly', 'Set-Cookie', 'theme=dark'], '');
    const service = answer(200, ['set-cookie', 'theme=light', 'set-cookie', 'sid=zzz; Max-Age=60'], '');
    assert.deepEqual(compare(legacy, service), []);
    assert.deepEqual(compare(legacy, answer(200, ['set-cookie', 'theme=light'], '')), [
      'value header.set-cookie "names: sid, theme" != "names: theme"',
    ]);
  });

  test('only the headers asked for are compared, and the volatile ones never are', () => {
    const legacy = answer(200, ['Cache-Control', 'no-store', 'Date', 'a', 'Content-Type', 'text/plain'], 'x');
    const service = answer(200, ['Cache-Control', 'max-age=60', 'Date', 'b', 'Content-Type', 'text/html'], 'x');
    assert.deepEqual(compare(legacy, service, ['cache-control', 'date']), [
      'value header.cache-control "no-store" != "max-age=60"',
    ]);
    assert.deepEqual(compare(legacy, service, []), []);
  });

  test('every difference is listed, in the order status, headers, body', () => {
    assert.deepEqual(compare(answer(200, JSON_HEADERS, '{"a":1}'), answer(404, ['Content-Type', 'text/html'], 'bb')), [
      'value status 200 != 404',
      'value header.content-type "application/json" != "text/html"',
      'type body "JSON" != "not JSON"',
    ]);
  });

  test('repeated headers are joined in order; a long value is cut in the description', () => {
    assert.equal(headerValue(['Vary', 'Accept', 'vary', 'Origin'], 'vary'), 'Accept, Origin');
    assert.equal(headerValue(['Vary', 'Accept'], 'link'), null);
    const long = 'x'.repeat(500);
    const result = diffAnswers(
      answer(200, ['Link', long], ''),
      answer(200, [], ''),
      { headers: ['link'], rules: [], maxDiffBytes: 1024 },
      headerValue,
    );
    const text = describeFieldDifferences(result.result === 'compared' ? result.differences : []);
    assert.ok(text.length < 120, text);
    assert.match(text, /^header\.link missing "x+…" != \(absent\)$/);
  });

  test('the default compares content-type and set-cookie names', () => {
    assert.deepEqual([...DEFAULT_COMPARED_HEADERS], ['content-type', 'set-cookie']);
  });
});
