// Verdicts come from unleash-client's own evaluation. The language-neutral client specification proves the
// embedded engine (the SDK over our in-memory repository, fed by flags/ documents as parsed here) behaves exactly
// as Unleash: every suite's features are read through parseFlagsFile, and every expectation is checked both
// through the SDK and, where the context fits the edge's FlagContext, through the verdict the router sees.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Context } from 'unleash-client';
import { parseFlagsFile } from '../../src/adapters/flags/flags-files.ts';
import { createEmbeddedEngine, verdictOf } from '../../src/adapters/flags/unleash-evaluation.ts';
import type { FlagContext } from '../../src/core/types.ts';

interface SpecTest {
  description: string;
  context: Record<string, unknown>;
  toggleName: string;
  expectedResult: boolean;
}

const specDir = new URL('../../node_modules/@unleash/client-specification/specifications/', import.meta.url);
const specFiles = JSON.parse(readFileSync(new URL('index.json', specDir), 'utf8')) as string[];
const EDGE_CONTEXT_KEYS = new Set(['userId', 'sessionId', 'remoteAddress', 'properties']);

const noSdkComplaints = {
  onWarn: (m: unknown) => assert.fail(`unexpected SDK warning: ${String(m)}`),
  onError: (e: unknown) => assert.fail(`unexpected SDK error: ${String(e)}`),
};

describe('unleash-client specification through the embedded engine', () => {
  let checkedThroughVerdicts = 0;
  for (const file of specFiles) {
    const spec = JSON.parse(readFileSync(new URL(file, specDir), 'utf8')) as {
      state: { features?: unknown[] };
      tests?: SpecTest[];
    };
    // The delta-API suites describe a stream of events, not a features document.
    if (!spec.state.features || !spec.tests) continue;

    test(file, async () => {
      const parsed = parseFlagsFile(JSON.stringify(spec.state), file);
      // flags/ is stricter than the SDK in one place: a constraint operator the SDK does not know makes Unleash
      // quietly evaluate false, so a file with one is refused (the spec's "invalid operator" flag expects false,
      // which a refused flag also gives).
      const unexpected = parsed.problems.filter((p) => !/constraints\[\d+\]\.operator: /.test(p.message));
      assert.deepEqual(unexpected, [], 'every other document Unleash can serve is a valid flags/ file');
      const engine = await createEmbeddedEngine({
        appName: 'spec',
        features: parsed.features,
        segments: parsed.segments,
        // Suites deliberately use strategies and parents nobody defines; the SDK warns about those.
        onWarn: () => {},
        onError: noSdkComplaints.onError,
      });
      let edgeChecked = 0;
      try {
        for (const t of spec.tests ?? []) {
          const context = { ...t.context };
          if (typeof context['currentTime'] === 'string') context['currentTime'] = new Date(context['currentTime']);
          // The suites' contexts are JSON written for every SDK; this one reads them as its own Context.
          assert.equal(engine.isEnabled(t.toggleName, context as Context, false), t.expectedResult, t.description);

          if (Object.keys(t.context).every((k) => EDGE_CONTEXT_KEYS.has(k))) {
            const edgeContext: FlagContext = {
              userId: String(t.context['userId'] ?? ''),
              sessionId: String(t.context['sessionId'] ?? ''),
              remoteAddress: String(t.context['remoteAddress'] ?? ''),
              properties: (t.context['properties'] ?? {}) as Record<string, string>,
            };
            const verdict = verdictOf(engine, t.toggleName, edgeContext).kind;
            edgeChecked++;
            if (t.expectedResult) assert.equal(verdict, 'eligible', t.description);
            else assert.notEqual(verdict, 'eligible', t.description);
          }
        }
      } finally {
        engine.destroy();
      }
      checkedThroughVerdicts += edgeChecked;
    });
  }

  test('a good share of the suites ran through verdictOf, not only the raw SDK', () => {
    assert.ok(checkedThroughVerdicts > 100, `${checkedThroughVerdicts} expectations checked through verdictOf`);
  });
});

describe('verdictOf', () => {
  const features = parseFlagsFile(
    JSON.stringify({
      version: 2,
      features: [
        { name: 'off', enabled: false, strategies: [] },
        { name: 'on', enabled: true, strategies: [] },
        {
          name: 'half',
          enabled: true,
          strategies: [
            { name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'default', groupId: 'half' } },
          ],
        },
        {
          name: 'tenant',
          enabled: true,
          strategies: [
            {
              name: 'flexibleRollout',
              parameters: { rollout: '100', stickiness: 'default', groupId: 'tenant' },
              constraints: [{ contextName: 'tenantId', operator: 'IN', values: ['a'] }],
            },
          ],
        },
      ],
    }),
    'verdicts.json',
  ).features;
  const user = (userId: string, properties: Record<string, string> = {}): FlagContext => ({
    userId,
    sessionId: '',
    remoteAddress: '10.0.0.1',
    properties,
  });

  test('maps unknown, off, not eligible and eligible', async () => {
    const engine = await createEmbeddedEngine({ appName: 't', features, ...noSdkComplaints });
    try {
      assert.equal(verdictOf(engine, 'missing', user('u')).kind, 'no_flag_data');
      assert.equal(verdictOf(engine, 'off', user('u')).kind, 'off');
      assert.equal(verdictOf(engine, 'on', user('u')).kind, 'eligible');
      assert.equal(verdictOf(engine, 'tenant', user('u', { tenantId: 'a' })).kind, 'eligible');
      assert.equal(verdictOf(engine, 'tenant', user('u', { tenantId: 'b' })).kind, 'not_eligible');
      const kinds = new Set(Array.from({ length: 200 }, (_, i) => verdictOf(engine, 'half', user(`u${i}`)).kind));
      assert.deepEqual([...kinds].sort(), ['eligible', 'not_eligible']);
    } finally {
      engine.destroy();
    }
  });

  test('replace swaps the definitions the next evaluation sees', async () => {
    const engine = await createEmbeddedEngine({ appName: 't', features, ...noSdkComplaints });
    try {
      assert.equal(verdictOf(engine, 'on', user('u')).kind, 'eligible');
      engine.replace([{ name: 'on', enabled: false, strategies: [] }]);
      assert.equal(verdictOf(engine, 'on', user('u')).kind, 'off');
      assert.equal(verdictOf(engine, 'half', user('u')).kind, 'no_flag_data');
      assert.deepEqual([...engine.names()], ['on']);
    } finally {
      engine.destroy();
    }
  });
});
