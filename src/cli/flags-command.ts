// `rf-edge flags push|pull`: keeps flags/ (flags as code) and a real Unleash in step through Unleash's admin API.
// push is idempotent — it compares before it writes, so a second run changes nothing — and orders its writes so a
// flag is never briefly wider than either its old or its new definition: a flag being switched off is switched
// off before its strategies change; a flag being switched on gets its strategies first.
// Both return what they did; printing is the caller's business.

import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { ConstraintDefinition, FeatureDefinition, StrategyDefinition } from '../adapters/flags/flags-files.ts';
import { readFlagsDir } from '../adapters/flags/flags-files.ts';
import {
  type AdminStrategy,
  addStrategy,
  createFeature,
  deleteStrategy,
  fetchClientFeatures,
  getFeature,
  type StrategyPayload,
  setFlagEnabled,
  toPayload,
  updateFeatureMetadata,
  updateStrategy,
} from '../adapters/flags/unleash-admin.ts';
import type { Logger } from '../adapters/logger.ts';
import { EdgeError } from '../core/errors.ts';

export interface PushFlagsOptions {
  readonly dir: string;
  readonly url: string;
  readonly adminToken: string;
  readonly project?: string;
  readonly environment?: string;
  readonly log: Logger;
}

export interface PushReport {
  readonly flags: number;
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  /** One line per write made, e.g. `raptorflow.x: switched off in development`. */
  readonly changes: string[];
  readonly warnings: string[];
}

export async function pushFlags(options: PushFlagsOptions): Promise<PushReport> {
  const { url, adminToken, log } = options;
  const project = options.project ?? 'default';
  const environment = options.environment ?? 'development';
  const contents = await readFlagsDir(options.dir);
  if (contents.problems.length > 0) {
    throw new EdgeError('RF_FLAGS', `flags in ${options.dir} are invalid: nothing was pushed`, {
      details: contents.problems,
    });
  }
  const warnings = contents.warnings.map((w) => `${w.file}:${w.line}:${w.col} ${w.message}`);
  // Segment ids are local to one Unleash; pushing a strategy without its segments would widen who sees the flag.
  const withSegments = contents.features.filter((f) => f.strategies.some((s) => (s.segments?.length ?? 0) > 0));
  if (withSegments.length > 0) {
    throw new EdgeError(
      'RF_FLAGS',
      `flags using segments cannot be pushed (segment ids differ between Unleash instances): ${withSegments.map((f) => f.name).join(', ')}`,
    );
  }

  const report: PushReport = {
    flags: contents.features.length,
    created: [],
    updated: [],
    unchanged: [],
    changes: [],
    warnings,
  };
  for (const feature of contents.features) {
    if ((feature.variants?.length ?? 0) > 0)
      warnings.push(`flag "${feature.name}": feature-level variants are not pushed`);
    if ((feature.dependencies?.length ?? 0) > 0) warnings.push(`flag "${feature.name}": dependencies are not pushed`);
    const changes: string[] = [];
    const note = (change: string) => {
      changes.push(`${feature.name}: ${change}`);
      log.info(
        { event: 'flags.push_change', flag: feature.name, change, project, environment },
        `${feature.name}: ${change}`,
      );
    };

    let current = await getFeature(url, adminToken, feature.name, project);
    if (current === null) {
      await createFeature(url, adminToken, feature, project);
      note('created');
      report.created.push(feature.name);
      current = await getFeature(url, adminToken, feature.name, project);
      if (current === null)
        throw new EdgeError('RF_FLAGS', `flag "${feature.name}" was created but cannot be read back`);
    } else if (metadataDiffers(current, feature)) {
      await updateFeatureMetadata(url, adminToken, feature, project);
      note('description/type updated');
    }

    const env = current.environments.find((e) => e.name === environment);
    if (!env) {
      throw new EdgeError(
        'RF_FLAGS',
        `project "${project}" has no environment "${environment}" for flag "${feature.name}"`,
      );
    }
    if (!feature.enabled && env.enabled) {
      await setFlagEnabled(url, adminToken, feature.name, false, environment, project);
      note(`switched off in ${environment}`);
    }
    const desired = desiredStrategies(feature);
    const existing = [...env.strategies].sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0));
    const strategyChanges = await syncStrategies(
      url,
      adminToken,
      feature.name,
      existing,
      desired,
      environment,
      project,
    );
    if (strategyChanges > 0) note(`strategies updated in ${environment} (${strategyChanges} write(s))`);
    if (feature.enabled && !env.enabled) {
      await setFlagEnabled(url, adminToken, feature.name, true, environment, project);
      note(`switched on in ${environment}`);
    }

    report.changes.push(...changes);
    if (changes.length === 0) report.unchanged.push(feature.name);
    else if (!report.created.includes(feature.name)) report.updated.push(feature.name);
  }
  return report;
}

export interface PullFlagsOptions {
  readonly dir: string;
  readonly url: string;
  /** A backend token (already scoped to one environment) … */
  readonly apiToken?: string;
  /** … or an admin token, narrowed to `project`/`environment`. */
  readonly adminToken?: string;
  /** Where flags not yet in any file go, relative to `dir`. Default: the first *.json of `dir`, else `flags.json`. */
  readonly file?: string;
  readonly project?: string;
  readonly environment?: string;
}

export interface PullReport {
  readonly flags: number;
  /** Files rewritten (only those whose content changed). */
  readonly written: string[];
  /** Flags that were not in any file, now in `file`. */
  readonly added: string[];
  /** Flags in flags/ that Unleash no longer has (archived or never pushed), now removed from their file. */
  readonly removed: string[];
}

/**
 * Exports Unleash's flags into flags/ as client-API features documents. Each flag stays in the file that already
 * defines it, so pull after push leaves the directory as it was.
 */
export async function pullFlags(options: PullFlagsOptions): Promise<PullReport> {
  const token = options.apiToken ?? options.adminToken;
  if (!token) throw new EdgeError('RF_FLAGS', 'pulling flags needs an API token or an admin token');
  const scope =
    options.apiToken === undefined
      ? { project: options.project ?? 'default', environment: options.environment ?? 'development' }
      : {};
  const document = await fetchClientFeatures(options.url, token, scope);
  const pulled = new Map(document.features.map((f) => [f.name, toFileFeature(f)]));

  const contents = await readFlagsDir(options.dir);
  const unreadable = contents.problems.filter(
    (p) => p.message.startsWith('not valid JSON') || p.message.startsWith('could not be read'),
  );
  if (unreadable.length > 0) {
    throw new EdgeError('RF_FLAGS', `flags in ${options.dir} cannot be read: nothing was pulled`, {
      details: unreadable,
    });
  }
  const target = options.file
    ? isAbsolute(options.file)
      ? options.file
      : join(options.dir, options.file)
    : (contents.files[0] ?? join(options.dir, 'flags.json'));

  const report: PullReport = { flags: pulled.size, written: [], added: [], removed: [] };
  const placed = new Set<string>();
  const files = contents.files.includes(target) ? contents.files : [...contents.files, target];
  const rewritten = new Map<string, Record<string, unknown>>();
  for (const file of files) {
    const raw = contents.files.includes(file)
      ? (JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>)
      : {};
    const before = Array.isArray(raw['features']) ? (raw['features'] as unknown[]) : [];
    const after: FeatureDefinition[] = [];
    for (const entry of before) {
      const name = (entry as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') continue;
      const fresh = pulled.get(name);
      if (fresh === undefined || placed.has(name)) {
        if (fresh === undefined) report.removed.push(name);
        continue;
      }
      after.push(fresh);
      placed.add(name);
    }
    rewritten.set(file, { ...raw, version: 2, features: after });
  }
  const newcomers = [...pulled.values()].filter((f) => !placed.has(f.name));
  const targetDoc = rewritten.get(target) as { features: FeatureDefinition[] };
  for (const feature of newcomers) {
    targetDoc.features.push(feature);
    report.added.push(feature.name);
  }

  for (const [file, doc] of rewritten) {
    const text = `${JSON.stringify({ version: 2, ...doc }, null, 2)}\n`;
    const previous = await readFile(file, 'utf8').catch(() => null);
    if (previous === text) continue;
    if (previous === null && (doc['features'] as unknown[]).length === 0) continue;
    await writeFile(file, text);
    report.written.push(file);
  }
  return report;
}

/** A flag as Unleash serves it, minus what differs between servers (ids, sort orders) and empty noise. */
export function toFileFeature(feature: FeatureDefinition): FeatureDefinition {
  return {
    name: feature.name,
    ...(feature.description ? { description: feature.description } : {}),
    type: feature.type ?? 'release',
    project: feature.project ?? 'default',
    enabled: feature.enabled,
    stale: feature.stale ?? false,
    impressionData: feature.impressionData ?? false,
    strategies: feature.strategies.map((s) => ({
      name: s.name,
      constraints: (s.constraints ?? []).map(fileConstraint),
      parameters: Object.fromEntries(Object.entries(s.parameters ?? {}).map(([k, v]) => [k, String(v)])),
      ...((s.variants?.length ?? 0) > 0 ? { variants: s.variants } : {}),
      ...((s.segments?.length ?? 0) > 0 ? { segments: s.segments } : {}),
      ...(s.title ? { title: s.title } : {}),
      ...(s.disabled ? { disabled: true } : {}),
    })),
    variants: feature.variants ?? [],
    ...((feature.dependencies?.length ?? 0) > 0 ? { dependencies: feature.dependencies } : {}),
  };
}

function fileConstraint(c: ConstraintDefinition): ConstraintDefinition {
  return {
    contextName: c.contextName,
    operator: c.operator,
    ...(c.values !== undefined ? { values: c.values } : {}),
    ...(c.value !== undefined ? { value: c.value } : {}),
    ...(c.inverted ? { inverted: true } : {}),
    ...(c.caseInsensitive ? { caseInsensitive: true } : {}),
  };
}

/**
 * The strategies a flag should have in Unleash. An enabled flag without strategies is on for everyone; Unleash
 * would add a 100 % flexibleRollout when enabling it anyway, so push writes that explicitly to stay idempotent.
 */
export function desiredStrategies(feature: FeatureDefinition): StrategyPayload[] {
  if (feature.strategies.length === 0 && feature.enabled) {
    return [
      {
        name: 'flexibleRollout',
        parameters: { rollout: '100', stickiness: 'default', groupId: feature.name },
        constraints: [],
      },
    ];
  }
  return feature.strategies.map(fileStrategyToPayload);
}

function fileStrategyToPayload(s: StrategyDefinition): StrategyPayload {
  return {
    name: s.name,
    parameters: Object.fromEntries(Object.entries(s.parameters ?? {}).map(([k, v]) => [k, String(v)])),
    constraints: (s.constraints ?? []).map(fileConstraint),
    ...((s.variants?.length ?? 0) > 0 ? { variants: s.variants } : {}),
    ...(s.title ? { title: s.title } : {}),
    ...(s.disabled ? { disabled: true } : {}),
  };
}

/** Stable text of a strategy for comparison: key order, defaults and number-vs-string do not count as changes. */
export function strategyKey(s: StrategyPayload): string {
  return JSON.stringify({
    name: s.name,
    parameters: Object.entries(s.parameters)
      .map(([k, v]) => [k, String(v)])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
    constraints: s.constraints.map((c) => ({
      contextName: c.contextName,
      operator: c.operator,
      values: c.values ?? [],
      value: c.value ?? null,
      inverted: c.inverted ?? false,
      caseInsensitive: c.caseInsensitive ?? false,
    })),
    variants: s.variants ?? [],
    segments: s.segments ?? [],
    title: s.title ?? '',
    disabled: s.disabled ?? false,
  });
}

async function syncStrategies(
  url: string,
  adminToken: string,
  flag: string,
  existing: readonly AdminStrategy[],
  desired: readonly StrategyPayload[],
  environment: string,
  project: string,
): Promise<number> {
  let writes = 0;
  // Position by position: update in place, then add or remove the tail, so no moment has zero strategies
  // (an enabled flag without strategies is on for everyone).
  for (let i = 0; i < Math.max(existing.length, desired.length); i++) {
    const have = existing[i];
    const want = desired[i];
    if (have && want) {
      if (strategyKey(toPayload(have)) === strategyKey(want)) continue;
      await updateStrategy(url, adminToken, flag, have.id, want, environment, project);
    } else if (want) {
      await addStrategy(url, adminToken, flag, want, environment, project);
    } else if (have) {
      await deleteStrategy(url, adminToken, flag, have.id, environment, project);
    }
    writes++;
  }
  return writes;
}

function metadataDiffers(
  current: { description?: string | null; type?: string; impressionData?: boolean },
  wanted: FeatureDefinition,
): boolean {
  return (
    (current.description ?? '') !== (wanted.description ?? '') ||
    (current.type ?? 'release') !== (wanted.type ?? 'release') ||
    (current.impressionData ?? false) !== (wanted.impressionData ?? false)
  );
}
