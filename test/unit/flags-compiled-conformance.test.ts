// Compiled flags (core/compiled-flags.ts) against unleash-client itself, on every case of the language-neutral
// @unleash/client-specification suites: wherever a flag compiles, the compiled answer must be the SDK's answer (and
// the specification's expected one). Flags that do not compile (segments, dependencies, other strategies or
// operators) are the SDK's to evaluate, and are counted so the compiled share cannot silently shrink.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FeatureDefinition, SegmentDefinition } from '../../src/adapters/flags/flags-files.ts';
import { createEmbeddedEngine, type EmbeddedEngine } from '../../src/adapters/flags/unleash-evaluation.ts';
import { BucketMemo, compileFlag, type FlagEvalContext } from '../../src/core/compiled-flags.ts';

interface SpecCase {
  description: string;
  context: FlagEvalContext;
  toggleName: string;
  expectedResult: boolean;
}
interface SpecSuite {
  name: string;
  state: { features?: FeatureDefinition[]; segments?: SegmentDefinition[] } | unknown;
  tests?: SpecCase[];
}

const specDir = join(
  dirname(createRequire(import.meta.url).resolve('@unleash/client-specification/package.json')),
  'specifications',
);
const suiteFiles = JSON.parse(readFileSync(join(specDir, 'index.json'), 'utf8')) as string[];
/** Suites made only of what compiles: every one of their cases must run compiled. */
const FULLY_COMPILED = [
  '01-simple-examples.json',
  '02-user-with-id-strategy.json',
  '10-flexible-rollout-strategy.json',
  '12-custom-stickiness.json',
];

let compiledCases = 0;
let sdkCases = 0;
const compiledBySuite = new Map<string, { compiled: number; offOrUnknown: number; total: number }>();

for (const file of suiteFiles) {
  const suite = JSON.parse(readFileSync(join(specDir, file), 'utf8')) as SpecSuite;
  const state = suite.state as { features?: FeatureDefinition[]; segments?: SegmentDefinition[] } | undefined;
  const features = Array.isArray(state?.features) ? state.features : null;
  const cases = suite.tests ?? [];
  if (features === null || cases.length === 0) continue;
  const counts = { compiled: 0, offOrUnknown: 0, total: cases.length };
  compiledBySuite.set(file, counts);

  describe(`compiled == unleash-client: ${suite.name}`, () => {
    let engine: EmbeddedEngine;
    before(async () => {
      engine = await createEmbeddedEngine({
        appName: 'rf-edge-conformance',
        features,
        segments: state?.segments ?? [],
        onWarn: () => {},
        onError: () => {},
      });
    });
    after(() => engine.destroy());

    for (const c of cases) {
      test(c.description, () => {
        const sdk = engine.sdk.isEnabled(c.toggleName, c.context as never, false);
        const definition = engine.getFeatureToggleDefinition(c.toggleName);
        // An unknown or switched-off flag never reaches a compiled form (verdictOf answers no_flag_data / off).
        if (definition === undefined || !definition.enabled) {
          counts.offOrUnknown++;
          assert.equal(sdk, false);
          return;
        }
        const compiled = compileFlag(definition, { staticContext: engine.staticContext });
        if (compiled === null) {
          sdkCases++;
          return;
        }
        compiledCases++;
        counts.compiled++;
        assert.equal(compiled(c.context, null), sdk, 'compiled answer = SDK answer');
        assert.equal(compiled(c.context, new BucketMemo()), sdk, 'with the per-request bucket memo too');
        assert.equal(sdk, c.expectedResult, 'and both = the specification');
      });
    }
  });
}

test('the common suites run compiled end to end, and a large share overall', () => {
  for (const file of FULLY_COMPILED) {
    const counts = compiledBySuite.get(file);
    assert.ok(counts !== undefined, `${file} is in the specification`);
    assert.ok(counts.compiled > 0, `${file}: compiled cases`);
    assert.equal(
      counts.compiled + counts.offOrUnknown,
      counts.total,
      `${file}: every case of an enabled flag compiled`,
    );
  }
  // 85 with unleash-client 6.12 / client-specification 6.1: the rest are gradualRollout*, remoteAddress, semver,
  // regex, CIDR, date, segments, dependencies, and switched-off flags.
  assert.ok(compiledCases >= 80, `${compiledCases} cases compiled, ${sdkCases} left to the SDK`);
});
