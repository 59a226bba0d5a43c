// After an automatic rollback the flag is also switched off in Unleash, so its UI tells the truth and every other
// consumer of the flag stops too. The write must land where the edge reads: the environment (and project) of
// UNLEASH_API_TOKEN, not Unleash's `development` default — a rollback of a production edge that turned off the
// development flag would leave Unleash showing the flag on while the edge refuses the service.
//
// The controller calls this without waiting and logs the outcome: a slow or unreachable Unleash never delays the
// local rollback, which is already in force when this runs.

import { EdgeError } from '../../core/errors.ts';
import type { Logger } from '../logger.ts';
import { fetchClientFeatures, scopeOfToken, setFlagEnabled } from './unleash-admin.ts';

/** Turns `flag` off in Unleash; rejects with EdgeError RF_FLAGS naming where it tried. */
export type FlagWriteBack = (routeId: string, flag: string) => Promise<void>;

export interface UnleashWriteBackOptions {
  /** Unleash API root (UNLEASH_URL). */
  readonly url: string;
  /** UNLEASH_ADMIN_TOKEN: may write flags. */
  readonly adminToken: string;
  /** UNLEASH_API_TOKEN: the backend token the edge reads with; its scope says where to write. */
  readonly apiToken: string;
  readonly log: Logger;
}

/**
 * The write-back for the API token's environment, or null (logged) when the token names none: guessing an
 * environment could switch off the wrong one.
 */
export function createUnleashWriteBack(options: UnleashWriteBackOptions): FlagWriteBack | null {
  const { url, adminToken, apiToken, log } = options;
  const scope = scopeOfToken(apiToken);
  if (scope === null) {
    log.warn(
      { event: 'flags.write_back_disabled' },
      'UNLEASH_ADMIN_TOKEN is set but UNLEASH_API_TOKEN does not name an environment (<project>:<environment>.<secret>): rollbacks will not be written back to Unleash',
    );
    return null;
  }
  const { environment } = scope;

  /** An all-projects token (`*:<env>.…`) says nothing of the flag's project: Unleash's client API does. */
  const projectOf = async (flag: string): Promise<string> => {
    if (scope.project !== null) return scope.project;
    const served = await fetchClientFeatures(url, apiToken);
    return served.features.find((f) => f.name === flag)?.project ?? 'default';
  };

  return async (routeId, flag) => {
    let project: string | null = scope.project;
    try {
      project = await projectOf(flag);
      await setFlagEnabled(url, adminToken, flag, false, environment, project);
    } catch (err) {
      throw new EdgeError(
        'RF_FLAGS',
        `could not switch flag ${flag} off in Unleash (project ${project ?? 'unknown'}, environment ${environment}) after the rollback of route ${routeId}`,
        { cause: err, details: { routeId, flag, project, environment } },
      );
    }
  };
}
