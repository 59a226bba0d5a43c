// Picks the flag source the environment asks for: Unleash when UNLEASH_URL is set (flags/ as its bootstrap and
// DATA_DIR for its backup), otherwise the flags/ files themselves.

import type { EdgeEnv } from '../../config/env.ts';
import { EdgeError } from '../../core/errors.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FlagSource } from '../ports.ts';
import { createFileFlagSource } from './file-flag-source.ts';
import { createUnleashFlagSource } from './unleash-flag-source.ts';

export { createFileFlagSource, type FileFlagSource, type FileFlagSourceOptions } from './file-flag-source.ts';
export {
  createUnleashFlagSource,
  type UnleashFlagSource,
  type UnleashFlagSourceOptions,
} from './unleash-flag-source.ts';

export type FlagSourceEnv = Pick<
  EdgeEnv,
  | 'FLAGS_DIR'
  | 'DATA_DIR'
  | 'UNLEASH_URL'
  | 'UNLEASH_API_TOKEN'
  | 'UNLEASH_REFRESH_MS'
  | 'UNLEASH_APP_NAME'
  | 'INSTANCE_ID'
>;

export function createFlagSource(options: { env: FlagSourceEnv; log: Logger; metrics: EdgeMetrics }): FlagSource {
  const { env, log, metrics } = options;
  if (!env.UNLEASH_URL)
    return createFileFlagSource({ dir: env.FLAGS_DIR, log, metrics, appName: env.UNLEASH_APP_NAME });
  if (!env.UNLEASH_API_TOKEN) {
    // Unleash answers 401 without a token and the SDK then stops polling for good: better to refuse at start.
    throw new EdgeError('RF_ENV_INVALID', 'UNLEASH_URL is set but UNLEASH_API_TOKEN is not');
  }
  return createUnleashFlagSource({
    url: env.UNLEASH_URL,
    apiToken: env.UNLEASH_API_TOKEN,
    appName: env.UNLEASH_APP_NAME,
    instanceId: env.INSTANCE_ID,
    refreshMs: env.UNLEASH_REFRESH_MS,
    dataDir: env.DATA_DIR,
    bootstrapDir: env.FLAGS_DIR,
    log,
    metrics,
  });
}
