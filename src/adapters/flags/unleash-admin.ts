// Unleash's admin API (and its client API for exports), as small calls the flags CLI, the tests and the rollback
// write-back share. `url` is the API root the SDK uses too (e.g. `http://unleash:4242/api`); an admin token is
// `*:*.<secret>`. Every failure is an EdgeError RF_FLAGS carrying the HTTP status and Unleash's answer.

import { EdgeError } from '../../core/errors.ts';
import type { ConstraintDefinition, FeatureDefinition, SegmentDefinition } from './flags-files.ts';

const TIMEOUT_MS = 10_000;

/** A strategy as the admin API returns it for one feature in one environment. */
export interface AdminStrategy {
  readonly id: string;
  readonly name: string;
  readonly title?: string | null;
  readonly disabled?: boolean | null;
  readonly parameters?: Record<string, string>;
  readonly constraints?: ConstraintDefinition[];
  readonly variants?: unknown[];
  readonly segments?: number[];
  readonly sortOrder?: number;
}

export interface AdminFeature {
  readonly name: string;
  readonly description?: string | null;
  readonly type?: string;
  readonly project?: string;
  readonly impressionData?: boolean;
  readonly environments: ReadonlyArray<{
    readonly name: string;
    readonly enabled: boolean;
    readonly strategies: AdminStrategy[];
  }>;
}

/** What POST/PUT …/strategies accept. */
export interface StrategyPayload {
  name: string;
  parameters: Record<string, string>;
  constraints: ConstraintDefinition[];
  variants?: unknown[];
  segments?: number[];
  title?: string;
  disabled?: boolean;
}

export interface ClientFeaturesDocument {
  version: number;
  features: FeatureDefinition[];
  segments?: SegmentDefinition[];
}

function endpoint(url: string, path: string): URL {
  return new URL(path, url.endsWith('/') ? url : `${url}/`);
}

async function call<T>(url: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const target = endpoint(url, path);
  let response: Response;
  try {
    response = await fetch(target, {
      method,
      headers: {
        authorization: token,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new EdgeError('RF_FLAGS', `Unleash at ${target.origin} could not be reached (${method} ${target.pathname})`, {
      cause: err,
    });
  }
  const text = await response.text();
  if (!response.ok) {
    throw new EdgeError(
      'RF_FLAGS',
      `Unleash answered ${response.status} to ${method} ${target.pathname}: ${text.slice(0, 500)}`,
      {
        details: { status: response.status, body: text.slice(0, 2000) },
      },
    );
  }
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new EdgeError('RF_FLAGS', `Unleash answered ${method} ${target.pathname} with something that is not JSON`, {
      cause: err,
    });
  }
}

function featurePath(project: string, name: string): string {
  return `admin/projects/${encodeURIComponent(project)}/features/${encodeURIComponent(name)}`;
}

function strategiesPath(project: string, name: string, environment: string): string {
  return `${featurePath(project, name)}/environments/${encodeURIComponent(environment)}/strategies`;
}

function strategyPath(project: string, name: string, environment: string, strategyId: string): string {
  return `${strategiesPath(project, name, environment)}/${encodeURIComponent(strategyId)}`;
}

/** What createFeature and updateFeatureMetadata write, with Unleash's own defaults filled in. */
function featureMetadata(feature: { description?: string | null; type?: string; impressionData?: boolean }) {
  return {
    description: feature.description ?? '',
    type: feature.type ?? 'release',
    impressionData: feature.impressionData ?? false,
  };
}

/** The feature with its per-environment state, or null when the project has no such feature. */
export async function getFeature(
  url: string,
  adminToken: string,
  name: string,
  project = 'default',
): Promise<AdminFeature | null> {
  try {
    return await call<AdminFeature>(url, adminToken, 'GET', featurePath(project, name));
  } catch (err) {
    if (err instanceof EdgeError && (err.details as { status?: number } | undefined)?.status === 404) return null;
    throw err;
  }
}

export async function createFeature(
  url: string,
  adminToken: string,
  feature: { name: string; description?: string | null; type?: string; impressionData?: boolean },
  project = 'default',
): Promise<void> {
  await call(url, adminToken, 'POST', `admin/projects/${encodeURIComponent(project)}/features`, {
    name: feature.name,
    ...featureMetadata(feature),
  });
}

export async function updateFeatureMetadata(
  url: string,
  adminToken: string,
  feature: { name: string; description?: string | null; type?: string; impressionData?: boolean },
  project = 'default',
): Promise<void> {
  await call(url, adminToken, 'PUT', featurePath(project, feature.name), featureMetadata(feature));
}

export async function getStrategies(
  url: string,
  adminToken: string,
  name: string,
  environment = 'development',
  project = 'default',
): Promise<AdminStrategy[]> {
  const strategies = await call<AdminStrategy[]>(url, adminToken, 'GET', strategiesPath(project, name, environment));
  return [...strategies].sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0));
}

export async function addStrategy(
  url: string,
  adminToken: string,
  name: string,
  strategy: StrategyPayload,
  environment = 'development',
  project = 'default',
): Promise<AdminStrategy> {
  return call<AdminStrategy>(url, adminToken, 'POST', strategiesPath(project, name, environment), strategy);
}

export async function updateStrategy(
  url: string,
  adminToken: string,
  name: string,
  strategyId: string,
  strategy: StrategyPayload,
  environment = 'development',
  project = 'default',
): Promise<void> {
  await call(url, adminToken, 'PUT', strategyPath(project, name, environment, strategyId), strategy);
}

export async function deleteStrategy(
  url: string,
  adminToken: string,
  name: string,
  strategyId: string,
  environment = 'development',
  project = 'default',
): Promise<void> {
  await call(url, adminToken, 'DELETE', strategyPath(project, name, environment, strategyId));
}

/**
 * Switches a flag on or off in one environment (the kill switch; what an automatic rollback writes back).
 * Unleash treats a repeated on/off as a no-op.
 */
export async function setFlagEnabled(
  url: string,
  adminToken: string,
  name: string,
  enabled: boolean,
  environment = 'development',
  project = 'default',
): Promise<void> {
  const path = `${featurePath(project, name)}/environments/${encodeURIComponent(environment)}/${enabled ? 'on' : 'off'}`;
  await call(url, adminToken, 'POST', path);
}

/** Sets `rollout` on the flag's first flexibleRollout strategy in `environment`. */
export async function setRolloutPercent(
  url: string,
  adminToken: string,
  name: string,
  percent: number,
  environment = 'development',
  project = 'default',
): Promise<void> {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new EdgeError('RF_VALIDATION', `rollout percent must be an integer 0-100, got ${percent}`);
  }
  await rewriteFirstRollout(url, adminToken, name, environment, project, (strategy) => ({
    ...toPayload(strategy),
    parameters: { ...(strategy.parameters ?? {}), rollout: String(percent) },
  }));
}

/** Replaces the constraints of the flag's first flexibleRollout strategy in `environment`. */
export async function setConstraints(
  url: string,
  adminToken: string,
  name: string,
  constraints: readonly ConstraintDefinition[],
  environment = 'development',
  project = 'default',
): Promise<void> {
  await rewriteFirstRollout(url, adminToken, name, environment, project, (strategy) => ({
    ...toPayload(strategy),
    constraints: [...constraints],
  }));
}

/**
 * The client-API features document Unleash serves. A backend token is already scoped to one environment; an
 * admin token is not, so `environment` (and `project`) narrow the export the way a backend token would.
 */
export async function fetchClientFeatures(
  url: string,
  token: string,
  scope: { environment?: string; project?: string } = {},
): Promise<ClientFeaturesDocument> {
  const query = new URLSearchParams();
  if (scope.project) query.set('project', scope.project);
  if (scope.environment) query.set('environment', scope.environment);
  const search = query.toString();
  const suffix = search === '' ? '' : `?${search}`;
  return call<ClientFeaturesDocument>(url, token, 'GET', `client/features${suffix}`);
}

async function firstRollout(
  url: string,
  adminToken: string,
  name: string,
  environment: string,
  project: string,
): Promise<AdminStrategy> {
  const strategies = await getStrategies(url, adminToken, name, environment, project);
  const strategy = strategies.find((s) => s.name === 'flexibleRollout');
  if (!strategy) {
    throw new EdgeError('RF_FLAGS', `flag "${name}" has no flexibleRollout strategy in ${environment}`, {
      details: { strategies: strategies.map((s) => s.name) },
    });
  }
  return strategy;
}

/** Writes back the flag's first flexibleRollout strategy in `environment` as `rewrite` changes it. */
async function rewriteFirstRollout(
  url: string,
  adminToken: string,
  name: string,
  environment: string,
  project: string,
  rewrite: (strategy: AdminStrategy) => StrategyPayload,
): Promise<void> {
  const strategy = await firstRollout(url, adminToken, name, environment, project);
  await updateStrategy(url, adminToken, name, strategy.id, rewrite(strategy), environment, project);
}

/** An existing strategy as the body that writes it back unchanged. */
export function toPayload(strategy: AdminStrategy): StrategyPayload {
  return {
    name: strategy.name,
    parameters: { ...(strategy.parameters ?? {}) },
    constraints: [...(strategy.constraints ?? [])],
    ...(strategy.variants && strategy.variants.length > 0 ? { variants: strategy.variants } : {}),
    ...(strategy.segments && strategy.segments.length > 0 ? { segments: strategy.segments } : {}),
    ...(strategy.title ? { title: strategy.title } : {}),
    ...(strategy.disabled ? { disabled: true } : {}),
  };
}

/**
 * The project and environment a backend token is scoped to (`<project>:<environment>.<secret>`), so that writes
 * through the admin API (a rollback's kill switch, push) land in the environment the edge actually reads.
 * `project` is null for all-project tokens (`*:production.…`); the result is null for tokens without an
 * environment (admin tokens `*:*.…`, secrets minted in other formats).
 */
export function scopeOfToken(token: string): { project: string | null; environment: string } | null {
  const match = /^([^:.]+):([^:.]+)\.\S+$/.exec(token);
  if (!match || match[1] === undefined || match[2] === undefined || match[2] === '*') return null;
  return { project: match[1] === '*' ? null : match[1], environment: match[2] };
}
