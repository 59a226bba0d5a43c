// The buffered logger at exit: lines still in its partial chunk reach stdout when the process ends, in order, on a
// pipe (where chunks are otherwise written asynchronously) and on a file (written synchronously).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const loggerModule = fileURLToPath(new URL('../../src/adapters/logger.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'logger-exit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// 2,000 lines (several 64 KiB chunks, the last one partial), then the process ends on its own, as `rf-edge start`
// does after `edge.stopped`: no timer left to flush the last chunk. Asynchronous writes (the pipe's) are made slow,
// as a lagging log collector or a busy disk makes them: a last write started once the process is already exiting
// would be lost.
const script = `
import fs from 'node:fs';
import { createLogger } from ${JSON.stringify(loggerModule)};
const write = fs.write;
fs.write = (...args) => void setTimeout(() => write(...args), 50);
const log = createLogger('info', undefined, { buffered: true });
for (let i = 0; i < 2000; i++) log.info({ event: 'n', i, pad: 'x'.repeat(i % 50) }, 'line');
log.info({ event: 'edge.stopped' }, 'stopped');
`;

/** Runs the script with stdout to `file`, or into a pipe whose reader starts late (a lagging log collector). */
async function run(file?: string): Promise<{ code: number | null; out: string }> {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script].map(quote).join(' ');
  // The pipe (64 KiB) fills before the reader starts, so the writer's last writes have to wait on it.
  const command =
    file === undefined ? `${node} | (sleep 0.3; cat); exit \${PIPESTATUS[0]}` : `${node} > ${quote(file)}`;
  const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, out: file === undefined ? out : readFileSync(file, 'utf8') };
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

function assertAllLines(text: string): void {
  const lines = text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; i?: number });
  assert.equal(lines.length, 2001, `${lines.length} lines`);
  assert.deepEqual(
    lines.slice(0, 2000).map((line) => line.i),
    Array.from({ length: 2000 }, (_, i) => i),
    'every line once, in order',
  );
  assert.equal(lines.at(-1)?.event, 'edge.stopped', 'the last line too');
}

test('on a pipe, the last partial chunk is written at exit', async () => {
  const { code, out } = await run();
  assert.equal(code, 0);
  assertAllLines(out);
});

test('on a file, the last partial chunk is written at exit', async () => {
  const { code, out } = await run(join(dir, 'out.log'));
  assert.equal(code, 0);
  assertAllLines(out);
});
