import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launch, stopChild } from '../../bench/child-processes.ts';
import { startBareHttpProxy } from '../../bench/targets/node-proxies.ts';
import { startUpstream } from '../../bench/targets/upstream.ts';
import { waitFor } from '../support/wait.ts';

/** Alive and not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'bench-children-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

describe('bench child processes', () => {
  test('the bare @fastify/http-proxy target answers with the upstream’s body, and stopping ends both processes', async () => {
    const upstream = await startUpstream();
    const proxy = await startBareHttpProxy(upstream.origin);
    try {
      const direct = await fetch(`${upstream.origin}/bench/service/item`);
      const proxied = await fetch(`${proxy.origin}/bench/service/item`);
      assert.equal(proxied.status, 200);
      assert.equal(await proxied.text(), await direct.text());
    } finally {
      await proxy.stop();
      await upstream.stop();
    }
    assert.ok(proxy.pid !== null);
    assert.equal(isRunning(proxy.pid), false);
    assert.equal(isRunning(upstream.pid), false);
  });

  test('stopping a child also stops what it started itself', async () => {
    const logFile = join(workDir, 'parent.log');
    // A parent that starts a long-sleeping grandchild and reports its pid, like a CLI that forks its server.
    const script = `
      const { spawn } = require('node:child_process');
      const grandchild = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      console.log(grandchild.pid);
      setInterval(() => {}, 60000);`;
    const parent = launch(process.execPath, ['-e', script], { logFile });
    let grandchildPid = 0;
    await waitFor('the grandchild pid', () => {
      grandchildPid = Number(readFileSync(logFile, 'utf8').trim());
      return grandchildPid > 0;
    });
    assert.equal(isRunning(grandchildPid), true);
    await stopChild(parent);
    await waitFor('the grandchild to stop', () => !isRunning(grandchildPid));
  });

  test('Ctrl-C on the bench stops the processes it started', async () => {
    const holder = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../support/bench-child-holder.ts', import.meta.url))],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => holder.once('exit', (code) => resolve(code)));
    try {
      let output = '';
      holder.stdout.setEncoding('utf8');
      holder.stdout.on('data', (chunk: string) => {
        output += chunk;
      });
      await waitFor('the upstream pid', () => output.includes('\n'), 15_000);
      const upstreamPid = Number(output.trim());
      assert.equal(isRunning(upstreamPid), true);
      holder.kill('SIGINT');
      assert.equal(await exited, 130);
      await waitFor('the upstream to stop', () => !isRunning(upstreamPid));
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
