// A small seeded PRNG (mulberry32) so property tests draw the same "random" inputs on every run.
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A user id like the ones clients send: mixed forms, so the hash sees realistic input. */
export function randomUserId(random: () => number, i: number): string {
  const n = Math.floor(random() * 2 ** 32).toString(36);
  switch (i % 4) {
    case 0:
      return `user-${n}`;
    case 1:
      return String(Math.floor(random() * 10_000_000));
    case 2:
      return `${n}@example.com`;
    default:
      return `${n}-${Math.floor(random() * 2 ** 32).toString(16)}-${i}`;
  }
}
