// The one way tests wait for something that happens after the call that caused it (a log line written after the
// response, a poll that picks up an edit, a replica that hears a publish): poll, and fail naming what never came.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` every `everyMs` until it returns true; resolves with the milliseconds that took, rejects naming
 * `what` once `timeoutMs` has passed. `check` is tried once more after the deadline, so a slow machine that only
 * got round to it late still passes when the condition holds.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 10,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
