import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../src/core/duration.ts';

describe('parseDuration', () => {
  const valid: [string | number, number][] = [
    ['250ms', 250],
    ['60s', 60_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1_500],
    ['0.25m', 15_000],
    [' 5m ', 300_000],
    ['0s', 0],
    ['1500', 1_500],
    ['5', 5],
    [1500, 1_500],
    [0, 0],
  ];
  for (const [text, ms] of valid) {
    test(`${JSON.stringify(text)} is ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  const invalid: (string | number)[] = [
    '5 minutes',
    '-1s',
    '1x',
    '',
    '   ',
    's',
    'm5',
    '30s1m',
    '1s1s',
    '1m 30s',
    '0.5ms',
    '1e3ms',
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ];
  for (const text of invalid) {
    test(`${JSON.stringify(text) ?? String(text)} is not a duration`, () => {
      assert.equal(parseDuration(text), null);
    });
  }
});

describe('formatDuration', () => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [250, '250ms'],
    [1_000, '1s'],
    [90_000, '1m30s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [3_723_004, '1h2m3s4ms'],
    [86_400_000, '1d'],
  ];
  for (const [ms, text] of cases) {
    test(`${ms} ms prints as ${text}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  test('reads back to the same value', () => {
    for (const ms of [0, 1, 999, 1_001, 59_999, 61_000, 3_599_999, 90_061_001]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
    }
  });
});
