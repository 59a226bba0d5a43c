// The per-request line is formatted by hand on the hot path; it must be the line pino writes for the same request:
// same fields, same order, same values (escaping included), only the timestamp differs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger, LineBatch, type Logger, rawLineSink } from '../../src/adapters/logger.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import type { Decision } from '../../src/core/types.ts';
import { RequestRecorder } from '../../src/http/request-record.ts';
import { EdgeRequestState, type TaggedSocket } from '../../src/http/request-state.ts';

function collecting(): { lines: string[]; stream: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

/** A pino logger shaped like createLogger's, but not made by it: the recorder then logs through pino. */
function plainPino(stream: { write(s: string): void }): Logger {
  return pino(
    {
      level: 'info',
      base: { service: 'rf-edge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

const decision: Decision = {
  routeId: 'agents-read',
  target: 'service',
  upstream: 'agents',
  reason: 'bucket_in',
  shadow: false,
} as Decision;

interface Case {
  name: string;
  path: string;
  status: number;
  failed: boolean;
  aborted: boolean;
  rejected: string | null;
  decided: boolean;
}

const cases: Case[] = [
  {
    name: 'a served request',
    path: '/api/agents/1',
    status: 200,
    failed: false,
    aborted: false,
    rejected: null,
    decided: true,
  },
  {
    name: 'a client that went away',
    path: '/api/agents/2',
    status: 200,
    failed: true,
    aborted: true,
    rejected: null,
    decided: true,
  },
  {
    name: 'a refused request',
    path: '/api/%2e%2e',
    status: 400,
    failed: false,
    aborted: false,
    rejected: 'dot_segment',
    decided: false,
  },
  {
    name: 'a path that needs escaping',
    path: '/q"uo\u0001te\\é',
    status: 404,
    failed: false,
    aborted: false,
    rejected: null,
    decided: true,
  },
];

function run(log: Logger, c: Case): void {
  const recorder = new RequestRecorder({
    log,
    metrics: createMetrics({ processMetrics: false }),
    recordOutcome: () => {},
  });
  const fakeSocket = { bytesWritten: 100 };
  const socket = fakeSocket as unknown as TaggedSocket;
  const state = new EdgeRequestState(performance.now(), 'req-1', 'GET', socket);
  state.path = c.path;
  state.rejected = c.rejected;
  if (c.decided) state.decision = decision;
  fakeSocket.bytesWritten = 1234;
  recorder.finish(state, c.status, c.failed, c.aborted);
}

for (const c of cases) {
  test(`the hand-formatted request line is pino's line: ${c.name}`, () => {
    const fast = collecting();
    const fastLog = createLogger('info', fast.stream);
    assert.notEqual(rawLineSink(fastLog), null, 'createLogger loggers take the fast path');
    run(fastLog, c);
    const slow = collecting();
    const slowLog = plainPino(slow.stream);
    assert.equal(rawLineSink(slowLog), null, 'other loggers go through pino');
    run(slowLog, c);
    assert.equal(fast.lines.length, 1);
    assert.equal(slow.lines.length, 1);
    assert.ok(fast.lines[0]!.endsWith('\n'));
    const a = JSON.parse(fast.lines[0]!) as Record<string, unknown>;
    const b = JSON.parse(slow.lines[0]!) as Record<string, unknown>;
    assert.match(String(a['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(a), Object.keys(b), 'same fields in the same order');
    assert.deepEqual({ ...a, time: 0, durationMs: 0 }, { ...b, time: 0, durationMs: 0 });
    assert.equal(a['path'], c.path);
    assert.equal(a['bytesOut'], 1134);
  });
}

test('no request line below the info level', () => {
  const fast = collecting();
  run(createLogger('warn', fast.stream), cases[0]!);
  assert.deepEqual(fast.lines, []);
});

test('the line batch hands lines over in order, a chunk at a time, and the rest on flush', () => {
  const writes: string[] = [];
  const batch = new LineBatch({ write: (chunk: Buffer) => void writes.push(chunk.toString()) }, 100);
  const lines = Array.from({ length: 25 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 7)}"}\n`);
  for (const line of lines) batch.write(line);
  assert.ok(writes.length >= 2, `full chunks were written before the flush (${writes.length})`);
  for (const chunk of writes) assert.ok(chunk.length <= 100 && chunk.endsWith('\n'), 'whole lines, at most a chunk');
  const before = writes.length;
  batch.flush();
  assert.equal(writes.length, before + 1, 'the partial chunk goes on flush');
  assert.equal(writes.join(''), lines.join(''), 'every line once, in order');
  batch.flush();
  assert.equal(writes.length, before + 1, 'nothing to flush: no empty write');
});

test('the line batch calls back once its destination has written (pino logger.flush(cb))', async () => {
  const order: string[] = [];
  const batch = new LineBatch(
    {
      write: (chunk: Buffer) => void order.push(`write ${chunk.toString().trim()}`),
      flush: (done) => {
        order.push('destination flush');
        setImmediate(done);
      },
    },
    1000,
  );
  batch.write('{"a":1}\n');
  batch.write(`{"long":"${'é'.repeat(400)}"}\n`);
  await new Promise<void>((resolve, reject) => batch.flush((err) => (err ? reject(err) : resolve())));
  assert.deepEqual(order, ['write {"a":1}', `write {"long":"${'é'.repeat(400)}"}`, 'destination flush']);
});
