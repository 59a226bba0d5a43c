import assert from 'node:assert/strict';
import { test } from 'node:test';
// unleash-client's own normaliser (pure: murmurhash of "<groupId>:<id>"), imported from its lib to compare against.
import { normalizedStrategyValue } from 'unleash-client/lib/strategy/util.js';
import { normalizedBucket } from '../../src/core/bucket.ts';
import { randomUserId, seededRandom } from '../support/seeded-random.ts';

const USERS = 10_000;
const WEIGHTS = [10, 20, 30, 40, 50];
const FLAGS = ['raptorflow.agents-read', 'raptorflow.agents-write', 'Feature.flexibleRollout.10', 'ünïcode-flag'];

function users(seed: number): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: USERS }, (_, i) => randomUserId(random, i));
}

test('every bucket is an integer in 1..100', () => {
  for (const id of users(1)) {
    const b = normalizedBucket('raptorflow.agents-read', id);
    assert.ok(Number.isInteger(b) && b >= 1 && b <= 100, `bucket ${b} for ${id}`);
  }
});

test('buckets equal unleash-client’s normalizedStrategyValue for 10,000 users on several flags', () => {
  const ids = users(2);
  for (const flag of FLAGS) {
    for (const id of ids) {
      assert.equal(normalizedBucket(flag, id), normalizedStrategyValue(id, flag), `${flag}:${id}`);
    }
  }
});

test('pinned values: the bucket of a fixed id never changes between releases', () => {
  // A change here would silently move users between monolith and service on upgrade.
  const pinned: [string, string, number][] = [
    ['Feature.flexibleRollout.10', '174', 10], // the spec: userId 174 is in at 10 %
    ['Feature.flexibleRollout.10', '499', 32], // the spec: userId 499 is out at 10 %
    ['raptorflow.agents-read', 'user-1', 60],
    ['raptorflow.agents-read', '203.0.113.7', 38],
    ['raptorflow.agents-read', 'zoë', 87],
  ];
  for (const [groupId, id, bucket] of pinned) assert.equal(normalizedBucket(groupId, id), bucket, `${groupId}:${id}`);
});

for (const flag of ['raptorflow.agents-read', 'raptorflow.agents-write']) {
  test(`${flag}: at each weight the share in is within ±2 points, and raising it never moves a user out`, () => {
    const buckets = users(3).map((id) => normalizedBucket(flag, id));
    let previouslyIn = new Set<number>();
    for (const weight of WEIGHTS) {
      const nowIn = new Set<number>();
      buckets.forEach((b, i) => {
        if (b <= weight) nowIn.add(i);
      });
      const share = (nowIn.size / USERS) * 100;
      assert.ok(Math.abs(share - weight) <= 2, `weight ${weight}: ${share.toFixed(2)} % of users in`);
      for (const user of previouslyIn) assert.ok(nowIn.has(user), `user #${user} left the service at ${weight}`);
      previouslyIn = nowIn;
    }
  });
}

test('the flag percentage and the route weight select nested sets: effective share is the smaller', () => {
  const flag = 'raptorflow.agents-read';
  const ids = users(4);
  for (const [flagPercent, weight] of [
    [30, 10],
    [10, 30],
    [25, 25],
  ] as const) {
    let both = 0;
    let expected = 0;
    for (const id of ids) {
      const b = normalizedBucket(flag, id);
      const eligible = b <= flagPercent; // what Unleash's flexibleRollout says
      if (eligible && b <= weight) both++;
      if (b <= Math.min(flagPercent, weight)) expected++;
    }
    assert.equal(both, expected, `flag ${flagPercent} % and weight ${weight} %`);
  }
});

test('another groupId reshuffles users: routes with different flags do not canary the same people', () => {
  const ids = users(5);
  const a = ids.filter((id) => normalizedBucket('raptorflow.agents-read', id) <= 20);
  const overlap = a.filter((id) => normalizedBucket('raptorflow.agents-write', id) <= 20).length / a.length;
  assert.ok(overlap > 0.1 && overlap < 0.3, `overlap ${overlap.toFixed(3)} should be near 0.2 (independent)`);
});
