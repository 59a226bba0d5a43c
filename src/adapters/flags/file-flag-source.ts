// The embedded default: without UNLEASH_URL the files in flags/ are the source of truth. An edit there applies
// within about a second, like routes.yaml: the directory is watched (editors that save by rename included), and a
// stat poll backs the watcher up where it is unreliable (network filesystems, some containers). An invalid edit is
// logged and counted, and the flags in force keep working until the files are valid again.

import { type FSWatcher, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeError } from '../../core/errors.ts';
import type { FlagContext, FlagVerdict } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FlagSource } from '../ports.ts';
import { createFlagSourceTracker } from './flag-source-state.ts';
import { type FlagsDirContents, readFlagsDir } from './flags-files.ts';
import {
  createEmbeddedEngine,
  type EmbeddedEngine,
  NO_FLAG_DATA,
  rolloutPercentOf,
  verdictOf,
} from './unleash-evaluation.ts';

export interface FileFlagSourceOptions {
  readonly dir: string;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** Stat-poll period, the fallback when file events do not arrive. Default 500 ms. */
  readonly pollMs?: number;
  /** Watch the directory for file events. Default true; false leaves only the stat poll (network filesystems). */
  readonly watch?: boolean;
  /** Quiet time after a file event before reading, so a multi-write save is read once. Default 50 ms. */
  readonly debounceMs?: number;
  readonly appName?: string;
  readonly now?: () => number;
}

export interface FileFlagSource extends FlagSource {
  /** Re-reads the directory now. Resolves true when new flags were applied. */
  reload(): Promise<boolean>;
}

export function createFileFlagSource(options: FileFlagSourceOptions): FileFlagSource {
  const { dir, metrics } = options;
  const log = options.log.child({ component: 'flags', source: 'file', dir });
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 500;
  const debounceMs = options.debounceMs ?? 50;
  const tracker = createFlagSourceTracker({ initial: 'file', metrics, log, now });

  let engine: EmbeddedEngine | null = null;
  let known: ReadonlySet<string> = new Set();
  let fingerprint = '';
  let dirSignature = '';
  let lastFailure = '';
  let watcher: FSWatcher | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let debounceTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  // Reloads never overlap: a change that arrives during one is picked up by one more pass right after it.
  let running: Promise<boolean> | null = null;
  let again = false;

  const sdkWarn = (message: unknown) => {
    metrics.flagErrors.inc({ kind: 'sdk_warn' });
    log.warn({ event: 'flags.sdk_warning', detail: String(message) }, 'unleash-client warned while evaluating flags/');
  };
  const sdkError = (err: unknown) => {
    metrics.flagErrors.inc({ kind: 'sdk_error' });
    log.error({ event: 'flags.sdk_error', err }, 'unleash-client failed while evaluating flags/');
  };

  const logWarnings = (contents: FlagsDirContents) => {
    for (const w of contents.warnings) log.warn({ event: 'flags.warning', ...w }, w.message);
  };

  const readAndApply = async (): Promise<boolean> => {
    // Signature first: an edit landing while the files are read then shows up as a difference at the next poll.
    const signature = await signatureOf(dir);
    const contents = await readFlagsDir(dir);
    dirSignature = signature;
    if (contents.problems.length > 0) {
      const key = JSON.stringify(contents.problems);
      metrics.flagErrors.inc({ kind: 'file_invalid' });
      // One error per distinct broken state, not one per poll or watcher event.
      (key === lastFailure ? log.debug.bind(log) : log.error.bind(log))(
        { event: 'flags.reload_failed', problems: contents.problems },
        'flags/ is invalid: the previous flags stay in force until it is fixed',
      );
      lastFailure = key;
      return false;
    }
    lastFailure = '';
    const next = JSON.stringify([contents.features, contents.segments]);
    if (next === fingerprint || engine === null) return false;
    engine.replace(contents.features, contents.segments);
    fingerprint = next;
    known = engine.names();
    logWarnings(contents);
    log.info({ event: 'flags.reloaded', flags: known.size, files: contents.files.length }, 'flags/ reloaded');
    tracker.changed();
    return true;
  };

  const reload = (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let applied = false;
      try {
        do {
          again = false;
          applied = (await readAndApply()) || applied;
        } while (again && !stopped);
      } catch (err) {
        metrics.flagErrors.inc({ kind: 'file_invalid' });
        log.error(
          { event: 'flags.reload_failed', err },
          'flags/ could not be reloaded: the previous flags stay in force',
        );
      } finally {
        running = null;
      }
      return applied;
    })();
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    if (debounceTimer) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = null;
      void reload();
    }, debounceMs);
    debounceTimer.unref();
  };

  const startWatching = () => {
    if (options.watch !== false) watchDir();
    pollTimer = setInterval(() => {
      signatureOf(dir).then(
        (signature) => {
          if (signature !== dirSignature) schedule();
        },
        () => {},
      );
    }, pollMs);
    pollTimer.unref();
  };

  const watchDir = () => {
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || String(name).endsWith('.json')) schedule();
      });
      watcher.on('error', (err) => {
        log.warn({ event: 'flags.watch_failed', err }, 'watching flags/ failed: relying on the stat poll');
        watcher?.close();
        watcher = null;
      });
    } catch (err) {
      log.warn({ event: 'flags.watch_failed', err }, 'flags/ cannot be watched: relying on the stat poll');
    }
  };

  return {
    evaluate(flag: string, context: FlagContext): FlagVerdict {
      return engine === null ? NO_FLAG_DATA : verdictOf(engine, flag, context);
    },
    knownFlags: () => known,
    rolloutPercent: (flag) => (engine === null ? null : rolloutPercentOf(engine.getFeatureToggleDefinition(flag))),
    status: () => tracker.status(),
    onChange: (listener) => tracker.onChange(listener),
    reload,

    async start() {
      if (engine !== null) return;
      stopped = false;
      const signature = await signatureOf(dir);
      const contents = await readFlagsDir(dir);
      if (contents.problems.length > 0) {
        metrics.flagErrors.inc({ kind: 'file_invalid' });
        throw new EdgeError('RF_FLAGS', `flags in ${dir} are invalid`, { details: contents.problems });
      }
      dirSignature = signature;
      engine = await createEmbeddedEngine({
        appName: options.appName ?? 'rf-edge',
        features: contents.features,
        segments: contents.segments,
        onWarn: sdkWarn,
        onError: sdkError,
      });
      fingerprint = JSON.stringify([contents.features, contents.segments]);
      known = engine.names();
      logWarnings(contents);
      log.info({ event: 'flags.loaded', flags: known.size, files: contents.files.length }, 'flags/ loaded');
      tracker.changed();
      startWatching();
    },

    async stop() {
      stopped = true;
      watcher?.close();
      watcher = null;
      if (pollTimer) clearInterval(pollTimer);
      if (debounceTimer) clearTimeout(debounceTimer);
      pollTimer = null;
      debounceTimer = null;
      if (running) await running;
      engine?.destroy();
      engine = null;
    },
  };
}

/** Names, sizes and mtimes of the *.json files: cheap to take every poll, changes whenever a file does. */
async function signatureOf(dir: string): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return 'missing';
  }
  const parts: string[] = [];
  for (const name of names) {
    try {
      const s = await stat(join(dir, name));
      parts.push(`${name}:${s.size}:${s.mtimeMs}`);
    } catch {
      parts.push(`${name}:gone`);
    }
  }
  return parts.join('|');
}
