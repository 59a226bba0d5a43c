// The bench pins processes with util-linux's taskset: a pinned child (every thread of it) may then run on the
// given CPU only, as the kernel reports in /proc/<pid>/status.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { findTaskset, pinProcess } from '../../bench/cpu-pinning.ts';

function allowedCpus(pid: number): string[] {
  const threads = readFileSync(`/proc/${pid}/status`, 'utf8');
  return [...threads.matchAll(/^Cpus_allowed_list:\s*(\S+)$/gm)].map((m) => m[1]!);
}

test('pinProcess confines a running node process to one CPU', async () => {
  const taskset = findTaskset();
  assert.ok(taskset !== null, 'taskset (util-linux) is installed on this machine');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10_000)'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => child.once('spawn', resolve));
    assert.notDeepEqual(allowedCpus(child.pid!), ['0']);
    pinProcess(taskset, child.pid!, '0');
    assert.deepEqual(allowedCpus(child.pid!), ['0']);
  } finally {
    child.kill('SIGKILL');
  }
});

test('pinning a process that does not exist is an error, not a silent no-op', () => {
  const taskset = findTaskset();
  assert.ok(taskset !== null);
  assert.throws(() => pinProcess(taskset, 2 ** 22 + 12345, '0'), /could not pin/);
});
