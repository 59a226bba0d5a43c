/**
 * Waits until a resolver added to `waiters` is called (whoever owns the set calls and clears them when the
 * awaited thing happens) or `timeoutMs` passes, and leaves no resolver behind either way.
 */
export async function waitForSignal(waiters: Set<() => void>, timeoutMs: number): Promise<void> {
  let resolver: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => {
      resolver = resolve;
      waiters.add(resolve);
    }),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (resolver) waiters.delete(resolver);
}
