// The Redis store's outbound outcome buffer and slot decoding, without Redis.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createOutcomeBuffer, slotFromHash, tailField } from '../../src/adapters/state/outcome-buffer.ts';
import { latencyBucket } from '../../src/core/latency-histogram.ts';
import { statsFromSlots } from '../../src/core/outcome-window.ts';
import { outcome } from '../support/state-fixtures.ts';

const T = 1_700_000_000_000;

describe('outcome buffer', () => {
  test('aggregates outcomes per route, target and second', () => {
    const buffer = createOutcomeBuffer({ maxSlots: 100 });
    buffer.add(outcome({ routeId: 'r', at: T + 10, latencyMs: 12 }));
    buffer.add(outcome({ routeId: 'r', at: T + 900, status: 503, latencyMs: 12 }));
    buffer.add(outcome({ routeId: 'r', at: T + 1000 }));
    buffer.add(outcome({ routeId: 'r', target: 'legacy', at: T + 20, status: 404 }));
    const { slots } = buffer.take();
    assert.equal(slots.length, 3);
    const first = slots[0];
    assert.equal(first?.second, T / 1000);
    assert.equal(first?.requests, 2);
    assert.equal(first?.errors, 1);
    assert.deepEqual([...(first?.latency ?? [])], [[latencyBucket(12), 2]]);
    assert.equal(slots[2]?.target, 'legacy');
    assert.equal(slots[2]?.errors, 0, '4xx is not an error');
    assert.equal(buffer.size(), 0, 'take() empties the buffer');
  });

  test('a run of transport failures continues across flushes of the same second and ends on a response', () => {
    const buffer = createOutcomeBuffer({ maxSlots: 100 });
    const fail = () => outcome({ routeId: 'r', at: T, status: 0, transportError: true });
    buffer.add(fail());
    buffer.add(fail());
    let batch = buffer.take();
    assert.equal(batch.tails.get(batch.slots[0]!), 2);
    buffer.add(fail());
    batch = buffer.take();
    assert.equal(batch.tails.get(batch.slots[0]!), 3, 'the run goes on after a flush');
    assert.equal(batch.slots[0]?.transportFailures, 1, 'counters are per batch, the run is not');
    buffer.add(outcome({ routeId: 'r', at: T, status: 500 }));
    buffer.add(fail());
    batch = buffer.take();
    assert.equal(batch.tails.get(batch.slots[0]!), 1);
  });

  test('a batch put back goes in front of what was buffered meanwhile, merged per second', () => {
    const buffer = createOutcomeBuffer({ maxSlots: 100 });
    buffer.add(outcome({ routeId: 'r', at: T }));
    const batch = buffer.take();
    buffer.add(outcome({ routeId: 'r', at: T, status: 502 }));
    buffer.add(outcome({ routeId: 'r', at: T + 1000 }));
    buffer.putBack(batch);
    const { slots } = buffer.take();
    assert.deepEqual(
      slots.map((s) => [s.second - T / 1000, s.requests, s.errors]),
      [
        [0, 2, 1],
        [1, 1, 0],
      ],
    );
  });

  test('a full buffer drops its oldest slot, counts it and reports it', () => {
    const dropped: number[] = [];
    const buffer = createOutcomeBuffer({ maxSlots: 3, onDrop: (slot) => dropped.push(slot.second - T / 1000) });
    for (let s = 0; s < 5; s++) buffer.add(outcome({ routeId: 'r', at: T + s * 1000 }));
    assert.equal(buffer.size(), 3);
    assert.equal(buffer.dropped(), 2);
    assert.deepEqual(dropped, [0, 1]);
    assert.deepEqual(
      buffer.take().slots.map((s) => s.second - T / 1000),
      [2, 3, 4],
    );
  });

  test('shedBefore drops seconds no window reaches', () => {
    const buffer = createOutcomeBuffer({ maxSlots: 10 });
    for (let s = 0; s < 4; s++) buffer.add(outcome({ routeId: 'r', at: T + s * 1000 }));
    buffer.shedBefore(T / 1000 + 2);
    assert.deepEqual(
      buffer.take().slots.map((s) => s.second - T / 1000),
      [2, 3],
    );
  });
});

describe('slot hashes', () => {
  test('decode counters and histogram, and add up the runs of every replica', () => {
    const hash = {
      n: '10',
      e: '4',
      f: '3',
      [`h${latencyBucket(5)}`]: '6',
      [`h${latencyBucket(900)}`]: '4',
      [tailField('replica-a')]: '2',
      [tailField('replica-b:with:colons')]: '1',
    };
    const slot = slotFromHash(42, hash);
    assert.ok(slot);
    assert.equal(slot.second, 42);
    assert.equal(slot.requests, 10);
    assert.equal(slot.errors, 4);
    assert.equal(slot.transportFailures, 3);
    assert.equal(slot.tailTransportFailures, 3);
    assert.equal(slot.latency[latencyBucket(900)], 4);
    const stats = statsFromSlots('r', { legacy: [], service: [slot] }, 5000, 42_500);
    assert.equal(stats.service.requests, 10);
    assert.ok(stats.service.p99Ms !== null && stats.service.p99Ms >= 900);
  });

  test('an empty or garbled hash is no slot; garbled fields are ignored', () => {
    assert.equal(slotFromHash(1, {}), null);
    const slot = slotFromHash(1, { n: '2', e: 'NaN', hx: '3', h3: '-1', [tailField('a')]: 'oops' });
    assert.deepEqual(slot && { r: slot.requests, e: slot.errors, t: slot.tailTransportFailures }, { r: 2, e: 0, t: 0 });
  });
});
