// Hot reload of routes.yaml. Two independent triggers feed one serialised, debounced check:
// - fs.watch on the DIRECTORY, because editors and config managers replace the file by renaming a new one over it,
//   which ends a watch held on the old inode;
// - a stat poll (inode, size, mtime), because fs.watch is best-effort (network filesystems, containers, exhausted
//   inotify limits, Kubernetes ConfigMaps that swap a symlinked directory).
// The content hash, not the trigger, decides: a table is applied once per distinct valid content and a broken
// content is reported once per distinct content, however many events an edit fires.

import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { hashRouteTableText, parseRouteTable, readProblem } from '../config/load-route-table.ts';
import type { ConfigProblem, RouteTable } from '../config/types.ts';
import type { Logger } from './logger.ts';

export interface RouteTableWatcherOptions {
  readonly file: string;
  /** Read at every check, so a flag added to Unleash since start is accepted. */
  readonly knownFlags: () => ReadonlySet<string> | undefined;
  /** Adapter names legacy-adapter/ defines, read at every check; absent ⇒ adapter names are not checked. */
  readonly knownAdapters?: () => ReadonlySet<string> | undefined;
  /** A new valid table whose content differs from the one serving. */
  readonly onTable: (table: RouteTable) => void;
  /** Every problem of a rejected edit (or the read failure); the previous table keeps serving. */
  readonly onRejected: (problems: readonly ConfigProblem[]) => void;
  readonly log: Logger;
  /** Quiet time after the last event before the file is read; editors write in bursts. Default 100. */
  readonly debounceMs?: number;
  /** The stat poll's period; keep it well under a second, the reload promise. Default 500. */
  readonly pollIntervalMs?: number;
  /**
   * `hash` of the table serving now. With it, an edit made between the caller's load and this call is applied;
   * without it, the file's content at start is taken as the serving one.
   */
  readonly currentHash?: string;
  /** false leaves only the stat poll (default true); for proving the fallback alone meets the deadline. */
  readonly fsWatch?: boolean;
}

export interface RouteTableWatcher {
  /**
   * Re-reads the file now (what SIGHUP calls). Resolves true when the file holds a valid table (now applied, or the
   * one already serving), false when it was rejected; rejections are reported again even if already reported.
   */
  reload(): Promise<boolean>;
  close(): void;
}

/** How long a file must stay empty before that counts as an edit (rather than a write in progress). */
const EMPTY_GRACE_MS = 1_000;

export function watchRouteTable(options: RouteTableWatcherOptions): RouteTableWatcher {
  const { file, log, knownFlags } = options;
  const debounceMs = options.debounceMs ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const fullPath = resolve(file);
  const dir = dirname(fullPath);
  const name = basename(fullPath);

  let closed = false;
  let appliedHash = options.currentHash;
  /** Content hash (or `read:<code>`) last reported as rejected, so repeated triggers stay quiet. */
  let lastRejected: string | undefined;
  let lastSignature: string | undefined;
  /** An empty file is what a non-atomic write looks like mid-way; it is only reported once it stays empty. */
  let emptySince: number | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let polling = false;

  const signature = async (): Promise<string> => {
    try {
      const s = await stat(fullPath);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
  };

  const callSafely = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ event: 'config.callback_failed', err, callback: what }, `route table ${what} callback threw`);
    }
  };

  const reject = (key: string, problems: readonly ConfigProblem[], explicit: boolean): false => {
    if (explicit || key !== lastRejected) callSafely('onRejected', () => options.onRejected(problems));
    lastRejected = key;
    return false;
  };

  async function check(explicit: boolean, baselineOnly: boolean): Promise<boolean> {
    const before = await signature();
    let text: string;
    try {
      text = await readFile(fullPath, 'utf8');
    } catch (err) {
      if (baselineOnly) return false;
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      return reject(`read:${code}`, [readProblem(file, err)], explicit);
    }
    const hash = hashRouteTableText(text);
    if (text.trim() !== '') emptySince = undefined;
    if (baselineOnly) {
      appliedHash = hash;
      lastSignature = before;
      return true;
    }
    if (hash === appliedHash) {
      lastRejected = undefined;
      return true;
    }
    if (!explicit) {
      // Still being written: the event of the last write will bring us back.
      if ((await signature()) !== before) {
        schedule();
        return false;
      }
      if (text.trim() === '') {
        emptySince ??= performance.now();
        const waited = performance.now() - emptySince;
        if (waited < EMPTY_GRACE_MS) {
          schedule(EMPTY_GRACE_MS - waited);
          return false;
        }
      }
      if (hash === lastRejected) return false;
    }

    const result = parseRouteTable(text, file, { knownFlags: knownFlags(), knownAdapters: options.knownAdapters?.() });
    if (!result.ok) return reject(hash, result.problems, explicit);

    appliedHash = hash;
    lastRejected = undefined;
    for (const w of result.warnings) log.warn({ event: 'config.warning', ...w }, w.message);
    callSafely('onTable', () => options.onTable(result.table));
    return true;
  }

  /** One check at a time, in order: a reload racing a watch event must not apply an older read last. */
  const enqueue = (explicit: boolean, baselineOnly = false): Promise<boolean> => {
    const run = chain
      .then(() => (closed ? false : check(explicit, baselineOnly)))
      .catch((err: unknown) => {
        log.error({ event: 'config.reload_failed', err }, 'route table check failed unexpectedly');
        return false;
      });
    chain = run;
    return run;
  };

  function schedule(delayMs = debounceMs): void {
    if (closed) return;
    if (debounce !== undefined) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      void enqueue(false);
    }, delayMs);
    debounce.unref();
  }

  let watcher: FSWatcher | undefined;
  if (options.fsWatch ?? true) {
    try {
      watcher = watch(dir, { persistent: false }, (_event, changed) => {
        // `..data` is how Kubernetes swaps a mounted ConfigMap; null is a platform that does not say.
        if (changed === null || changed === name || String(changed).startsWith('..')) schedule();
      });
      watcher.on('error', (err) => {
        log.warn({ event: 'config.watch_failed', err, dir }, 'directory watch failed; relying on the stat poll');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn({ event: 'config.watch_failed', err, dir }, 'cannot watch the directory; relying on the stat poll');
    }
  }

  const poll = setInterval(() => {
    if (polling || closed) return;
    polling = true;
    void signature()
      .then((current) => {
        if (lastSignature !== undefined && current !== lastSignature) schedule();
        lastSignature = current;
      })
      .finally(() => {
        polling = false;
      });
  }, pollIntervalMs);
  poll.unref();

  // Baseline: without a known serving hash, today's content is the serving one; with it, catch an edit that landed
  // between the caller's own load and now.
  void signature().then((s) => {
    lastSignature ??= s;
  });
  void (appliedHash === undefined ? enqueue(false, true) : enqueue(false));

  return {
    reload: () => enqueue(true),
    close: () => {
      closed = true;
      clearInterval(poll);
      if (debounce !== undefined) clearTimeout(debounce);
      watcher?.close();
      watcher = undefined;
    },
  };
}
