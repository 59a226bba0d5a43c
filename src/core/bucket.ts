// Sticky bucketing, bit for bit what unleash-client's flexibleRollout does (lib/strategy/util.js,
// `normalizedStrategyValue`): murmurhash3 x86 32-bit of "<groupId>:<id>", seed 0, then `% 100 + 1`. Sharing the hash
// and the groupId (the route's flag name) with Unleash is what makes the two percentages select NESTED sets of users:
// the flag's own rollout and the controller's weight both admit "bucket ≤ p", so the effective share is the smaller
// of the two and raising either only adds users.
import murmurHash3 from 'murmurhash3js';

const STRATEGY_SEED = 0;

/** 1..100 for `id` within `groupId`. */
export function normalizedBucket(groupId: string, id: string): number {
  return (murmurHash3.x86.hash32(`${groupId}:${id}`, STRATEGY_SEED) % 100) + 1;
}
