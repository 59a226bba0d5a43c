import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseProcStatCpuTicks } from '../../bench/process-cpu.ts';

// A real /proc/<pid>/stat line with utime=1234 (field 14) and stime=56 (field 15).
const fields = (comm: string) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1500 0 0 0 1234 56 0 0 20 0 11 0 8123 1172672000 62988 18446744073709551615`;

describe('CPU ticks from /proc/<pid>/stat', () => {
  test('utime + stime of a plain command name', () => {
    assert.equal(parseProcStatCpuTicks(fields('node')), 1290);
  });

  test('a command name holding spaces and parentheses does not shift the fields', () => {
    assert.equal(parseProcStatCpuTicks(fields('my (odd) proc name')), 1290);
    assert.equal(parseProcStatCpuTicks(fields(') 9 9 9 9')), 1290);
  });

  test('text that is not a stat line is refused, not read as zero', () => {
    assert.throws(() => parseProcStatCpuTicks('garbage'), /not a \/proc/);
    assert.throws(() => parseProcStatCpuTicks('1 (x) S 1 2'), /no utime\/stime/);
  });
});
