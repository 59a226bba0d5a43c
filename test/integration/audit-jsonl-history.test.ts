// The embedded audit trail: JSON lines in DATA_DIR, read back newest first.
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AUDIT_FILE_NAME, createJsonlAuditLog } from '../../src/adapters/audit/index.ts';
import { createMetrics } from '../../src/adapters/metrics.ts';
import { captureLog } from '../support/log-capture.ts';
import { auditEvent } from '../support/state-fixtures.ts';
import { waitFor } from '../support/wait.ts';

describe('JSON-lines audit trail', () => {
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rf-audit-'));
  });

  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('appends one JSON line per event and reads a route back newest first', async () => {
    const dir = join(dataDir, 'basic');
    const audit = createJsonlAuditLog({ dataDir: dir, log: captureLog().log });
    const t0 = 1_700_000_000_000;
    audit.append(auditEvent({ routeId: 'agents-read', at: t0, from: 'off', to: 'canary', toWeight: 10 }));
    audit.append(auditEvent({ routeId: 'billing', at: t0 + 1 }));
    audit.append(auditEvent({ routeId: 'agents-read', at: t0 + 2, toWeight: 20 }));
    const evidence = {
      verdict: 'unhealthy',
      service: { requests: 300, errors: 30 },
      thresholds: { maxErrorRate: 0.02 },
    };
    audit.append(
      auditEvent({ routeId: 'agents-read', at: t0 + 3, to: 'rolled_back', toWeight: 0, evidence, reason: 'errors' }),
    );
    await audit.flush();
    assert.equal(audit.pending(), 0);

    const lines = (await readFile(join(dir, AUDIT_FILE_NAME), 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 4);
    const first = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(first['routeId'], 'agents-read');
    assert.match(String(first['eventId']), /^[0-9a-f-]{36}$/);

    const history = await audit.history('agents-read');
    assert.deepEqual(
      history.map((e) => [e.at - t0, e.to, e.toWeight]),
      [
        [3, 'rolled_back', 0],
        [2, 'canary', 20],
        [0, 'canary', 10],
      ],
    );
    assert.deepEqual(history[0]?.evidence, evidence);
    assert.deepEqual(Object.keys(history[0] ?? {}).sort(), [
      'actor',
      'at',
      'configHash',
      'evidence',
      'from',
      'fromWeight',
      'reason',
      'routeId',
      'to',
      'toWeight',
    ]);
    assert.deepEqual(
      (await audit.history('agents-read', 2)).map((e) => e.at - t0),
      [3, 2],
    );
    await audit.close();

    // A new process reads the same history from the file.
    const reopened = createJsonlAuditLog({ dataDir: dir, log: captureLog().log });
    assert.deepEqual(await reopened.history('agents-read'), history);
    await reopened.close();
  });

  test('reads across chunk boundaries and skips a line cut short by a crash', async () => {
    const dir = join(dataDir, 'big');
    const audit = createJsonlAuditLog({ dataDir: dir, log: captureLog().log });
    const t0 = 1_700_000_000_000;
    // ~2,000 events with bulky, multi-byte evidence: the file spans many 64 KiB chunks, and characters of more
    // than one byte straddle the chunk edges.
    for (let i = 0; i < 2000; i++) {
      audit.append(
        auditEvent({
          routeId: i % 2 === 0 ? 'even' : 'odd',
          at: t0 + i,
          evidence: { note: `ünïcödé ✓ ${'x'.repeat(i % 97)}`, i },
        }),
      );
    }
    await audit.flush();
    await appendFile(join(dir, AUDIT_FILE_NAME), '{"eventId":"torn","at":1,"routeId":"even","fro');
    await appendFile(join(dir, AUDIT_FILE_NAME), '\n');
    audit.append(auditEvent({ routeId: 'even', at: t0 + 5000 }));
    await audit.flush();

    const even = await audit.history('even', 10_000);
    assert.equal(even.length, 1001);
    assert.equal(even[0]?.at, t0 + 5000);
    assert.deepEqual(
      even.slice(1).map((e) => (e.evidence as { i: number }).i),
      Array.from({ length: 1000 }, (_, k) => 1998 - 2 * k),
    );
    assert.match((even[1]?.evidence as { note?: string } | undefined)?.note ?? '', /^ünïcödé ✓/);
    await audit.close();
  });

  test('while the file refuses writes, events stay buffered and in history; they are written when it recovers', async () => {
    const dir = join(dataDir, 'refusing');
    const captured = captureLog();
    const metrics = createMetrics({ processMetrics: false });
    // A directory where the file should be: every append fails, whoever runs the test.
    await mkdir(join(dir, AUDIT_FILE_NAME), { recursive: true });
    const audit = createJsonlAuditLog({ dataDir: dir, log: captured.log, metrics });
    audit.append(auditEvent({ routeId: 'r', at: 1 }));
    audit.append(auditEvent({ routeId: 'r', at: 2 }));
    await waitFor('the write to fail', () => captured.events('audit.write_failed').length > 0, 3000);
    assert.equal(audit.pending(), 2);
    assert.equal((await metrics.auditPending.get()).values[0]?.value, 2);
    assert.deepEqual(
      (await audit.history('r')).map((e) => e.at),
      [2, 1],
    );

    await rm(join(dir, AUDIT_FILE_NAME), { recursive: true });
    audit.append(auditEvent({ routeId: 'r', at: 3 }));
    await audit.flush(5000);
    assert.equal(audit.pending(), 0);
    const lines = (await readFile(join(dir, AUDIT_FILE_NAME), 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { at: number }).at),
      [1, 2, 3],
    );
    assert.deepEqual(
      (await audit.history('r')).map((e) => e.at),
      [3, 2, 1],
    );
    await audit.close();
  });

  test('a full buffer drops new events, says so once and counts them', async () => {
    const dir = join(dataDir, 'full');
    await mkdir(join(dir, AUDIT_FILE_NAME), { recursive: true });
    const captured = captureLog();
    const metrics = createMetrics({ processMetrics: false });
    const audit = createJsonlAuditLog({ dataDir: dir, log: captured.log, metrics, maxBuffered: 2 });
    for (let at = 1; at <= 5; at++) audit.append(auditEvent({ routeId: 'full', at }));
    assert.equal(audit.pending(), 2);
    assert.deepEqual(
      (await metrics.auditDropped.get()).values.map((v) => [v.labels.reason, v.value]),
      [['buffer_full', 3]],
    );
    assert.equal(captured.events('audit.events_dropped').length, 1);
    assert.deepEqual(
      (await audit.history('full')).map((e) => e.at),
      [2, 1],
      'the oldest events are kept',
    );
    await rm(join(dir, AUDIT_FILE_NAME), { recursive: true });
    await audit.close();
    assert.equal(audit.pending(), 0);
  });

  test('append never throws, even for evidence JSON cannot hold', async () => {
    const dir = join(dataDir, 'odd-evidence');
    const audit = createJsonlAuditLog({ dataDir: dir, log: captureLog().log });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    assert.doesNotThrow(() => audit.append(auditEvent({ routeId: 'odd', at: 1, evidence: cyclic })));
    assert.doesNotThrow(() => audit.append(auditEvent({ routeId: 'odd', at: 2, evidence: { n: 10n } })));
    await audit.flush();
    const history = await audit.history('odd');
    assert.equal(history.length, 2);
    assert.match(JSON.stringify(history[1]?.evidence), /unserializable/);
    await audit.close();
  });
});
