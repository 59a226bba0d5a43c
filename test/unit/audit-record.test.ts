// Audit records: frozen evidence, newest-first merging of buffered and stored events, migration file names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  freezeEvidence,
  historyLimit,
  newestFirst,
  parseAuditRecord,
  toAuditEvent,
  toAuditRecord,
} from '../../src/adapters/audit/audit-record.ts';
import { parseMigrationFileName } from '../../src/adapters/audit/pg-migrations.ts';
import { auditEvent } from '../support/state-fixtures.ts';

describe('audit records', () => {
  test('evidence is copied when appended: later changes by the caller do not rewrite history', () => {
    const evidence = { service: { errors: 3 } };
    const record = toAuditRecord(auditEvent({ routeId: 'r', at: 1, evidence }));
    evidence.service.errors = 99;
    assert.deepEqual(record.evidence, { service: { errors: 3 } });
    assert.match(record.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('evidence JSON cannot hold becomes a note, and missing evidence is null', () => {
    assert.deepEqual(freezeEvidence(undefined), null);
    assert.deepEqual(freezeEvidence({ when: new Date(0) }), { when: '1970-01-01T00:00:00.000Z' });
    const note = freezeEvidence({ big: 1n }) as { unserializable: string };
    assert.match(note.unserializable, /BigInt/);
  });

  test('a record round-trips through JSON, and history() answers with the event fields only', () => {
    const record = toAuditRecord(auditEvent({ routeId: 'r', at: 5, actor: 'cli:bob' }), 'id-1');
    const parsed = parseAuditRecord(JSON.parse(JSON.stringify(record)));
    assert.deepEqual(parsed, { ok: true, record });
    assert.equal('eventId' in toAuditEvent(record), false);
    assert.equal(parseAuditRecord({ ...record, to: 'nowhere' }).ok, false);
    assert.equal(parseAuditRecord({ ...record, actor: 'someone' }).ok, false);
  });

  test('newest first merges sources, keeps each event once and keeps source order on equal times', () => {
    const rec = (id: string, at: number) => toAuditRecord(auditEvent({ routeId: 'r', at }), id);
    const buffered = [rec('b2', 30), rec('b1', 20)];
    const stored = [rec('b1', 20), rec('s2', 20), rec('s1', 10)];
    assert.deepEqual(
      newestFirst([buffered, stored], 10).map((r) => r.eventId),
      ['b2', 'b1', 's2', 's1'],
    );
    assert.deepEqual(
      newestFirst([buffered, stored], 2).map((r) => r.eventId),
      ['b2', 'b1'],
    );
  });

  test('history limits default to 100 and are clamped', () => {
    assert.equal(historyLimit(undefined), 100);
    assert.equal(historyLimit(Number.NaN), 100);
    assert.equal(historyLimit(-5), 0);
    assert.equal(historyLimit(7.9), 7);
    assert.equal(historyLimit(1e9), 10_000);
  });

  test('migration files are named NNN_name.sql', () => {
    assert.deepEqual(parseMigrationFileName('001_rollout_events.sql'), { version: 1, name: 'rollout_events' });
    assert.deepEqual(parseMigrationFileName('120_add-index.sql'), { version: 120, name: 'add-index' });
    assert.equal(parseMigrationFileName('rollout_events.sql'), null);
    assert.equal(parseMigrationFileName('001_rollout events.sql'), null);
    assert.equal(parseMigrationFileName('001_x.sql.bak'), null);
  });
});
