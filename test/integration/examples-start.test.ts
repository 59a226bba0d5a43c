// The examples start the way a person (`npm run examples`, `node examples/monolith.ts`) and the proxy's
// `npm start` start them, say where they listen, and stop cleanly, even with streams still open.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../bench/child-processes.ts';
import { startExamples } from '../../examples/start-examples.ts';
import { rawRequest } from '../support/raw-request.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

async function servedBy(base: string): Promise<string | undefined> {
  const res = await rawRequest(base, '/healthz');
  return res.headers['x-served-by'] as string | undefined;
}

/** Starts `node --import tsx <script>` and resolves with the URLs it prints, in order, once `count` appeared. */
async function spawnExample(
  script: string,
  env: Record<string, string>,
  count: number,
): Promise<{ child: ChildProcessWithoutNullStreams; urls: string[]; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const urls = await new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = output.match(/http:\/\/127\.0\.0\.1:\d+/g) ?? [];
      if (found.length >= count) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening:\n${output}`)));
  });
  return { child, urls, output: () => output };
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('startExamples', () => {
  test('starts both servers on the ports given and reports their URLs', async () => {
    const running = await startExamples({ monolithPort: 0, agentsPort: 0, quiet: true });
    try {
      assert.match(running.monolithUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(await servedBy(running.monolithUrl), 'monolith');
      assert.equal(await servedBy(running.agentsUrl), 'agents-service');
    } finally {
      await running.close();
    }
    await assert.rejects(rawRequest(running.monolithUrl, '/healthz'), { code: 'ECONNREFUSED' });
    await assert.rejects(rawRequest(running.agentsUrl, '/healthz'), { code: 'ECONNREFUSED' });
  });

  test('close() does not wait for an endless SSE stream', async () => {
    const running = await startExamples({ monolithPort: 0, agentsPort: 0, quiet: true });
    const stream = rawRequest(running.monolithUrl, '/api/notifications/stream');
    // Let the stream open before closing underneath it.
    await rawRequest(running.monolithUrl, '/healthz');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await running.close();
    await assert.rejects(stream);
  });

  test('a port in use is a clear error, and the server already started is stopped again', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address === 'object');
    const monolithPort = await freePort();
    try {
      await assert.rejects(startExamples({ monolithPort, agentsPort: address.port, quiet: true }), (err: Error) => {
        assert.match(
          err.message,
          new RegExp(`example agents service could not listen on 127\\.0\\.0\\.1:${address.port}`),
        );
        assert.match(err.message, /in use/);
        return true;
      });
    } finally {
      blocker.close();
    }
    await assert.rejects(rawRequest(`http://127.0.0.1:${monolithPort}`, '/healthz'), { code: 'ECONNREFUSED' });
  });
});

describe('run as programs', () => {
  test('start-examples prints what is where from MONOLITH_PORT/AGENTS_PORT and exits 0 on SIGTERM', async () => {
    const { child, urls, output } = await spawnExample(
      'examples/start-examples.ts',
      { MONOLITH_PORT: '0', AGENTS_PORT: '0' },
      2,
    );
    const [monolithUrl = '', agentsUrl = ''] = urls;
    assert.match(output(), /monolith\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.match(output(), /agents service\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(await servedBy(monolithUrl), 'monolith');
    assert.equal(await servedBy(agentsUrl), 'agents-service');
    assert.equal(await stop(child), 0);
  });

  for (const [script, name] of [
    ['examples/monolith.ts', 'monolith'],
    ['examples/agents-service.ts', 'agents-service'],
  ] as const) {
    test(`${script} listens on PORT and exits 0 on SIGTERM`, async () => {
      const { child, urls } = await spawnExample(script, { PORT: '0' }, 1);
      assert.equal(await servedBy(urls[0] ?? ''), name);
      assert.equal(await stop(child), 0);
    });
  }

  test('a malformed port stops the program with a message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/monolith.ts'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: 'eighty' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(stderr, /PORT must be a port number, got "eighty"/);
  });
});
