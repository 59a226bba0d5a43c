// Hot reload of legacy-adapter/: the same promise as routes.yaml (an edit applies within a second, a broken edit is
// reported with file:line:col and the last good adapters keep serving). A stat-free content poll drives it: the
// folder holds a handful of small files, and reading them every 500 ms is cheaper and surer than fs.watch, which
// misses renames on some filesystems. The content hash decides, so a broken edit is reported once.

import { type AdapterSet, hashAdapterFiles, loadAdapters, readAdapterFiles } from '../config/load-adapters.ts';
import type { ConfigProblem } from '../config/types.ts';
import type { AdapterPlan } from '../core/adapter/compile.ts';
import type { Logger } from './logger.ts';

export interface AdapterWatcherOptions {
  readonly dir: string;
  /** The set serving now (loaded at start). */
  readonly initial: AdapterSet;
  readonly onAdapters: (adapters: ReadonlyMap<string, AdapterPlan>) => void;
  readonly onRejected: (problems: readonly ConfigProblem[]) => void;
  readonly log: Logger;
  /** Default 500. */
  readonly pollIntervalMs?: number;
}

export interface AdapterWatcher {
  /** Re-reads the folder now; resolves true when it holds valid adapters (applied, or already serving). */
  reload(): Promise<boolean>;
  close(): void;
}

export function watchAdapters(options: AdapterWatcherOptions): AdapterWatcher {
  let applied = options.initial.hash;
  let rejected: string | undefined;
  let closed = false;
  let chain: Promise<boolean> = Promise.resolve(true);

  const contentHash = async (): Promise<string> => hashAdapterFiles((await readAdapterFiles(options.dir)).files);

  async function check(explicit: boolean): Promise<boolean> {
    if (closed) return false;
    if (!explicit && (await contentHash()) === applied) return true;
    const set = await loadAdapters(options.dir);
    if (set.problems.length > 0) {
      if (explicit || set.hash !== rejected) options.onRejected(set.problems);
      rejected = set.hash;
      return false;
    }
    rejected = undefined;
    if (set.hash === applied) return true;
    applied = set.hash;
    options.onAdapters(set.adapters);
    return true;
  }

  const run = (explicit: boolean): Promise<boolean> => {
    chain = chain.then(
      () => check(explicit),
      () => check(explicit),
    );
    return chain.catch((err: unknown) => {
      options.log.error({ event: 'adapters.check_failed', err }, 'legacy-adapter check failed');
      return false;
    });
  };

  const timer = setInterval(() => void run(false), options.pollIntervalMs ?? 500);
  timer.unref();
  return {
    reload: () => run(true),
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
