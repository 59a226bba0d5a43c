// The edge's own event-loop stall, measured for real: an outcome recorded while the loop was blocked is tagged, so
// the judge leaves that second out; one recorded on a quiet loop is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLoopDelayMonitor } from '../../src/adapters/loop-delay.ts';
import type { Outcome } from '../../src/core/types.ts';

const outcome: Outcome = { routeId: 'r', target: 'service', status: 200, latencyMs: 5, transportError: false, at: 0 };

test('an outcome recorded right after the loop stalled is tagged edgeDelayed; a quiet loop leaves it alone', async () => {
  const monitor = createLoopDelayMonitor({ thresholdMs: 100 });
  try {
    // Two quiet sampling periods, so nothing from the test runner's start is left in the window.
    await sleep(600);
    assert.equal(monitor.tag(outcome).edgeDelayed, undefined, `quiet loop measured ${monitor.currentMs()} ms`);
    const until = Date.now() + 200;
    while (Date.now() < until) {
      // Busy: the loop cannot run timers (a GC pause or a CPU-bound handler looks the same to the edge).
    }
    await sleep(20);
    assert.ok(monitor.currentMs() >= 100, `${monitor.currentMs()} ms`);
    assert.equal(monitor.tag(outcome).edgeDelayed, true);
  } finally {
    monitor.stop();
  }
});
