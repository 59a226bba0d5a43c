// flags/ as code: every `*.json` file in the directory is an Unleash client-API features document
// (`{ "version": 2, "features": [...] }`, exactly what GET /api/client/features answers and what the SDK's bootstrap
// reads), so a file can be pasted from Unleash, pushed into it, and served by the embedded flag source alike.
// Unleash adds fields over time (ids, sortOrder, dependencies, links…), so unknown keys are kept, not refused.

import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ConfigProblem } from '../../config/types.ts';

/** The constraint operators unleash-client 6 evaluates (its `Operator` enum). */
export const CONSTRAINT_OPERATORS = [
  'IN',
  'NOT_IN',
  'STR_ENDS_WITH',
  'STR_STARTS_WITH',
  'STR_CONTAINS',
  'NUM_EQ',
  'NUM_GT',
  'NUM_GTE',
  'NUM_LT',
  'NUM_LTE',
  'DATE_AFTER',
  'DATE_BEFORE',
  'SEMVER_EQ',
  'SEMVER_GT',
  'SEMVER_LT',
  'SEMVER_GTE',
  'SEMVER_LTE',
  'REGEX',
  'IN_CIDR',
] as const;

const constraintSchema = z.looseObject({
  contextName: z.string().min(1),
  operator: z.enum(CONSTRAINT_OPERATORS),
  values: z.array(z.string()).optional(),
  value: z.string().optional(),
  inverted: z.boolean().optional(),
  caseInsensitive: z.boolean().optional(),
});

const variantSchema = z.looseObject({
  name: z.string().min(1),
  weight: z.number().int().min(0).optional(),
  weightType: z.string().optional(),
  stickiness: z.string().optional(),
  payload: z.looseObject({ type: z.string(), value: z.string() }).optional(),
});

// Unleash sends every parameter as a string ("rollout": "50"); hand-written files often use numbers.
const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

const strategySchema = z
  .looseObject({
    name: z.string().min(1),
    parameters: z.record(z.string(), parameterValue).optional(),
    constraints: z.array(constraintSchema).optional(),
    segments: z.array(z.number().int()).optional(),
    variants: z.array(variantSchema).optional(),
    title: z.string().nullable().optional(),
    disabled: z.boolean().nullable().optional(),
  })
  .superRefine((strategy, ctx) => {
    if (strategy.name !== 'flexibleRollout') return;
    const rollout = strategy.parameters?.['rollout'];
    const percent = Number(rollout);
    if (
      rollout === undefined ||
      typeof rollout === 'boolean' ||
      !Number.isInteger(percent) ||
      percent < 0 ||
      percent > 100
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['parameters', 'rollout'],
        message: `flexibleRollout needs parameters.rollout, an integer percent 0-100 (got ${JSON.stringify(rollout)})`,
      });
    }
  });

const featureSchema = z.looseObject({
  name: z.string().min(1),
  enabled: z.boolean(),
  description: z.string().nullable().optional(),
  type: z.string().optional(),
  project: z.string().optional(),
  stale: z.boolean().optional(),
  impressionData: z.boolean().optional(),
  strategies: z.array(strategySchema),
  variants: z.array(variantSchema).optional(),
  dependencies: z
    .array(
      z.looseObject({
        feature: z.string().min(1),
        enabled: z.boolean().optional(),
        variants: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const segmentSchema = z.looseObject({ id: z.number().int(), constraints: z.array(constraintSchema) });

const documentSchema = z.looseObject({
  // Unleash serves version 2; version 1 documents (older servers, the client specification) have the same
  // feature shape and the SDK reads both.
  version: z.union([z.literal(1), z.literal(2)], {
    error: 'version must be 2 (an Unleash client-API features document; 1 is read too)',
  }),
  features: z.array(z.unknown()),
  segments: z.array(segmentSchema).optional(),
});

export type FeatureDefinition = z.infer<typeof featureSchema>;
export type StrategyDefinition = z.infer<typeof strategySchema>;
export type ConstraintDefinition = z.infer<typeof constraintSchema>;
export type SegmentDefinition = z.infer<typeof segmentSchema>;

export interface FlagsDocument {
  readonly version: 1 | 2;
  readonly features: readonly FeatureDefinition[];
  readonly segments?: readonly SegmentDefinition[];
}

export interface FlagsDirContents {
  /** Every valid feature of every file, merged; the first definition wins when a name repeats. */
  readonly features: FeatureDefinition[];
  readonly segments: SegmentDefinition[];
  /** Anything that makes a file (or a feature in it) unusable. `file:line:col message` when printed. */
  readonly problems: ConfigProblem[];
  /** Valid for Unleash, but the edge will not behave as the author probably expects (see `warningsFor`). */
  readonly warnings: ConfigProblem[];
  /** The files read, in the order they were merged. */
  readonly files: string[];
}

export interface ParsedFlagsFile {
  readonly features: FeatureDefinition[];
  readonly segments: SegmentDefinition[];
  readonly problems: ConfigProblem[];
  readonly warnings: ConfigProblem[];
}

/** Parses one document. Invalid features are reported and left out; the valid ones of the same file stay. */
export function parseFlagsFile(text: string, file: string): ParsedFlagsFile {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const { line, col } = positionOfJsonError(text);
    problems.push({ file, line, col, message: `not valid JSON: ${(err as Error).message}` });
    return { features: [], segments: [], problems, warnings };
  }
  const doc = documentSchema.safeParse(json);
  if (!doc.success) {
    for (const issue of doc.error.issues) {
      problems.push({ file, line: 1, col: 1, message: `${formatPath(issue.path)}: ${issue.message}` });
    }
    return { features: [], segments: [], problems, warnings };
  }
  const features: FeatureDefinition[] = [];
  const seen = new Set<string>();
  doc.data.features.forEach((raw, index) => {
    const name = nameOf(raw);
    const { line, col } = locateFeature(text, name);
    const parsed = featureSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push({
          file,
          line,
          col,
          message: `${name === null ? `features[${index}]` : `flag "${name}"`}: ${formatPath(issue.path)}: ${issue.message}`,
        });
      }
      return;
    }
    if (seen.has(parsed.data.name)) {
      problems.push({ file, line, col, message: `flag "${parsed.data.name}" is defined twice in this file` });
      return;
    }
    seen.add(parsed.data.name);
    features.push(parsed.data);
    for (const message of warningsFor(parsed.data)) warnings.push({ file, line, col, message });
  });
  return { features, segments: doc.data.segments ?? [], problems, warnings };
}

/**
 * What the edge needs from a flag for its route weight and the flag's own percentage to select nested sets of users:
 * the proxy passes its stickiness value as `userId` and buckets with groupId = flag name.
 */
export function warningsFor(feature: FeatureDefinition): string[] {
  const out: string[] = [];
  for (const strategy of feature.strategies) {
    if (strategy.name !== 'flexibleRollout') continue;
    const groupId = strategy.parameters?.['groupId'];
    if (groupId !== undefined && String(groupId) !== feature.name) {
      out.push(
        `flag "${feature.name}": flexibleRollout groupId "${String(groupId)}" differs from the flag name, so the flag's users and the route's weighted users will not nest`,
      );
    }
    const stickiness = strategy.parameters?.['stickiness'];
    if (stickiness !== undefined && stickiness !== 'default' && stickiness !== 'userId') {
      out.push(
        `flag "${feature.name}": flexibleRollout stickiness "${String(stickiness)}" is not the edge's (default/userId), so the flag's users and the route's weighted users will not nest`,
      );
    }
  }
  return out;
}

/** Reads and merges every `*.json` in `dir`. A missing directory is a warning (no flags), not a failure. */
export async function readFlagsDir(dir: string): Promise<FlagsDirContents> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return missingDir(dir, err);
  }
  const files = jsonFiles(dir, names);
  const texts: Array<{ file: string; text: string | Error }> = [];
  for (const file of files) {
    try {
      texts.push({ file, text: await readFile(file, 'utf8') });
    } catch (err) {
      texts.push({ file, text: err as Error });
    }
  }
  return merge(texts);
}

/** Synchronous `readFlagsDir`, for `rf-edge validate` and route-table checks that run outside the event loop's I/O. */
export function readFlagsDirSync(dir: string): FlagsDirContents {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    return missingDir(dir, err);
  }
  const files = jsonFiles(dir, names);
  return merge(
    files.map((file) => {
      try {
        return { file, text: readFileSync(file, 'utf8') };
      } catch (err) {
        return { file, text: err as Error };
      }
    }),
  );
}

/** Names of the flags `dir` defines (valid definitions only). */
export async function knownFlagNames(dir: string): Promise<Set<string>> {
  return new Set((await readFlagsDir(dir)).features.map((f) => f.name));
}

export function knownFlagNamesSync(dir: string): Set<string> {
  return new Set(readFlagsDirSync(dir).features.map((f) => f.name));
}

function jsonFiles(dir: string, names: readonly string[]): string[] {
  // Sorted so that "the first definition wins" means the same thing on every machine.
  return names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

function missingDir(dir: string, err: unknown): FlagsDirContents {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return {
      features: [],
      segments: [],
      problems: [],
      warnings: [{ file: dir, line: 1, col: 1, message: 'flags directory does not exist: no flags are defined' }],
      files: [],
    };
  }
  return {
    features: [],
    segments: [],
    problems: [{ file: dir, line: 1, col: 1, message: `flags directory could not be read: ${(err as Error).message}` }],
    warnings: [],
    files: [],
  };
}

function merge(texts: ReadonlyArray<{ file: string; text: string | Error }>): FlagsDirContents {
  const features: FeatureDefinition[] = [];
  const segments: SegmentDefinition[] = [];
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const definedIn = new Map<string, string>();
  for (const { file, text } of texts) {
    if (text instanceof Error) {
      problems.push({ file, line: 1, col: 1, message: `could not be read: ${text.message}` });
      continue;
    }
    const parsed = parseFlagsFile(text, file);
    problems.push(...parsed.problems);
    warnings.push(...parsed.warnings);
    segments.push(...parsed.segments);
    for (const feature of parsed.features) {
      const first = definedIn.get(feature.name);
      if (first !== undefined) {
        const { line, col } = locateFeature(text, feature.name);
        problems.push({ file, line, col, message: `flag "${feature.name}" is already defined in ${first}` });
        continue;
      }
      definedIn.set(feature.name, file);
      features.push(feature);
    }
  }
  return { features, segments, problems, warnings, files: texts.map((t) => t.file) };
}

function nameOf(raw: unknown): string | null {
  if (typeof raw === 'object' && raw !== null && 'name' in raw && typeof raw.name === 'string') return raw.name;
  return null;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(document)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** 1-based line/col of `"name": "<name>"` in the text, so `rf-edge validate` can point at the feature. */
function locateFeature(text: string, name: string | null): { line: number; col: number } {
  if (name === null) return { line: 1, col: 1 };
  const pattern = new RegExp(`"name"\\s*:\\s*${escapeRegExp(JSON.stringify(name))}`);
  const match = pattern.exec(text);
  return match === null ? { line: 1, col: 1 } : lineCol(text, match.index);
}

function positionOfJsonError(text: string): { line: number; col: number } {
  const offset = jsonErrorOffset(text);
  return offset < 0 ? { line: 1, col: 1 } : lineCol(text, offset);
}

class JsonSyntaxAt {
  constructor(readonly offset: number) {}
}

const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Offset of the first JSON syntax error, -1 when there is none. Node 20's JSON.parse messages carry no position
 * (later versions do, in different words), so the place a person should look is found here, the same on every Node.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch < ' ') fail();
      i++;
      if (ch === '"') return;
      if (ch === '\\') {
        const escaped = text[i];
        if (escaped === 'u') {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
        } else if (escaped !== undefined && '"\\/bfnrt'.includes(escaped)) i++;
        else fail();
      }
    }
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
      } else {
        for (;;) {
          ws();
          if (text[i] !== '"') fail();
          string();
          ws();
          if (text[i] !== ':') fail();
          i++;
          value();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] === '}') {
            i++;
            break;
          }
          fail();
        }
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
      } else {
        for (;;) {
          value();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] === ']') {
            i++;
            break;
          }
          fail();
        }
      }
    } else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else {
      JSON_NUMBER.lastIndex = i;
      const match = JSON_NUMBER.exec(text);
      if (match === null) fail();
      else i += match[0].length;
    }
    ws();
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1;
    value();
    if (i < text.length) fail();
    return -1;
  } catch (err) {
    if (err instanceof JsonSyntaxAt) return Math.min(err.offset, text.length);
    throw err;
  }
}

function lineCol(text: string, index: number): { line: number; col: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  const col = index - before.lastIndexOf('\n');
  return { line, col };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
