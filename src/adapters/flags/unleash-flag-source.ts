// Flags from a real Unleash through unleash-client. The request path only ever reads memory:
//   1. before anything else, flags/ (the bootstrap) answers, so a fresh proxy routes as the repository says;
//   2. the SDK's file backup in DATA_DIR, when there is one, replaces the bootstrap as soon as it is read: it holds
//      what Unleash last said, which is newer than flags/;
//   3. every successful fetch replaces both (state `live`); a failing fetch keeps the last known flags (`stale`).
// The SDK's own `bootstrap` option is deliberately not used for 1: in unleash-client 6.12 an in-memory bootstrap is
// applied before the backup file has been read, so the backup never wins, and the bootstrap is then written over
// the backup file — a restart during an outage would forget what Unleash last said.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Unleash } from 'unleash-client';
import type { FlagContext, FlagVerdict } from '../../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FlagSource } from '../ports.ts';
import { createFlagSourceTracker } from './flag-source-state.ts';
import { readFlagsDir } from './flags-files.ts';
import {
  createEmbeddedEngine,
  type EmbeddedEngine,
  NO_FLAG_DATA,
  rolloutPercentOf,
  verdictOf,
} from './unleash-evaluation.ts';

export interface UnleashFlagSourceOptions {
  /** Unleash API root, e.g. `http://unleash:4242/api/`. */
  readonly url: string;
  /** A backend (client) token, e.g. `default:production.<secret>`. */
  readonly apiToken: string;
  readonly appName?: string;
  readonly instanceId?: string;
  /** Polling period. Default 5000 ms. A flag switched off reaches the request path within one period. */
  readonly refreshMs?: number;
  /** Where the SDK keeps its backup of the last fetched flags (DATA_DIR). Created when missing. */
  readonly dataDir: string;
  /** flags/: answers until the SDK has data (from its backup or a fetch). */
  readonly bootstrapDir: string;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  /** Longest `start()` waits for the backup or a first fetch. Default 1000 ms; Unleash being down never blocks. */
  readonly startTimeoutMs?: number;
  /** Per-request timeout of the SDK's fetches. Default 5000 ms. */
  readonly fetchTimeoutMs?: number;
  /**
   * Let the SDK register and post usage counts to Unleash (what makes "last seen" work in its UI). Default true;
   * while Unleash is down these posts fail and show as `sdk_warn`/`sdk_error` in rf_edge_flag_errors_total.
   */
  readonly sendUsageMetrics?: boolean;
  readonly metricsIntervalMs?: number;
  readonly now?: () => number;
}

export interface UnleashFlagSource extends FlagSource {
  /** The SDK's backup file (`unleash-backup-<appName>.json` in dataDir). */
  readonly backupPath: string;
}

export function createUnleashFlagSource(options: UnleashFlagSourceOptions): UnleashFlagSource {
  const { metrics } = options;
  const appName = options.appName ?? 'rf-edge';
  const refreshMs = options.refreshMs ?? 5000;
  const now = options.now ?? Date.now;
  const log = options.log.child({ component: 'flags', source: 'unleash', url: options.url });
  const tracker = createFlagSourceTracker({ initial: 'bootstrap', metrics, log, now });
  // The SDK's file name for its backup (helpers.safeName: slashes become underscores).
  const backupPath = join(options.dataDir, `unleash-backup-${appName.replace(/\//g, '_')}.json`);

  let bootstrap: EmbeddedEngine | null = null;
  let sdk: Unleash | null = null;
  let sdkReady = false;
  let known: ReadonlySet<string> = new Set();
  let lastProblem = '';

  const countAndLog = (kind: 'sdk_error' | 'sdk_warn', detail: string, fields: Record<string, unknown>) => {
    metrics.flagErrors.inc({ kind });
    // The SDK repeats the same failure on every poll of an outage: the first one is news, the rest are debug.
    const level = detail === lastProblem ? 'debug' : kind === 'sdk_error' ? 'error' : 'warn';
    lastProblem = detail;
    log[level](
      { event: kind === 'sdk_error' ? 'flags.sdk_error' : 'flags.sdk_warning', detail, ...fields },
      kind === 'sdk_error' ? 'unleash-client reported an error' : 'unleash-client warned',
    );
  };

  const onSdkReady = () => {
    if (sdk === null) return;
    sdkReady = true;
    known = new Set(sdk.getFeatureToggleDefinitions().map((f) => f.name));
    log.info(
      { event: 'flags.sdk_ready', flags: known.size, from: tracker.status().state === 'live' ? 'unleash' : 'backup' },
      'unleash-client has flag data: it now answers instead of the flags/ bootstrap',
    );
    bootstrap?.destroy();
    bootstrap = null;
    tracker.changed();
  };

  const onChanged = () => {
    // 'changed' only ever comes from a fetch: this source gives the SDK no bootstrap of its own.
    lastProblem = '';
    tracker.set('live');
    if (!sdkReady || sdk === null) return; // 'ready' follows on the next tick and announces the data
    known = new Set(sdk.getFeatureToggleDefinitions().map((f) => f.name));
    log.info({ event: 'flags.updated', flags: known.size }, 'flags updated from Unleash');
    tracker.changed();
  };

  const onUnchanged = () => {
    lastProblem = '';
    tracker.set('live');
    tracker.touched();
  };

  const onError = (err: unknown) => {
    const detail = err instanceof Error ? err.message : String(err);
    // Only filesystem errors carry a `path`: network failures (even a socket's EPIPE on `write`) do not.
    if (typeof (err as NodeJS.ErrnoException | null)?.path === 'string') {
      // Writing the backup failed (disk full, permissions): the flags in memory are fine, the next restart
      // during an outage would fall back further than it should.
      countAndLog('sdk_error', detail, { err, backupPath });
      return;
    }
    countAndLog('sdk_error', detail, { err });
    if (detail.startsWith('Unleash Repository error')) tracker.set('stale');
  };

  const onWarn = (message: unknown) => {
    const detail = message instanceof Error ? message.message : String(message);
    countAndLog('sdk_warn', detail, {});
    // Fetch failures that the SDK reports as warnings (404/429/5xx, a dropped keep-alive socket) name the
    // features URL; warnings of its usage-metrics posts name /client/metrics or /client/register instead.
    if (detail.includes('client/features') || detail.startsWith('Socket keep alive error')) tracker.set('stale');
  };

  return {
    backupPath,

    evaluate(flag: string, context: FlagContext): FlagVerdict {
      if (sdkReady && sdk !== null) return verdictOf(sdk, flag, context);
      return bootstrap === null ? NO_FLAG_DATA : verdictOf(bootstrap, flag, context);
    },
    knownFlags: () => known,
    rolloutPercent(flag: string): number | null {
      if (sdkReady && sdk !== null) return rolloutPercentOf(sdk.getFeatureToggleDefinition(flag));
      return bootstrap === null ? null : rolloutPercentOf(bootstrap.getFeatureToggleDefinition(flag));
    },
    status: () => tracker.status(),
    onChange: (listener) => tracker.onChange(listener),

    async start() {
      if (sdk !== null) return;
      await mkdir(options.dataDir, { recursive: true });

      const contents = await readFlagsDir(options.bootstrapDir);
      if (contents.problems.length > 0) {
        // A fallback that is partly broken is still better than none: the valid files are used.
        metrics.flagErrors.inc({ kind: 'bootstrap_invalid' });
        log.warn(
          { event: 'flags.bootstrap_invalid', problems: contents.problems },
          'flags/ has problems: the bootstrap uses its valid flags only',
        );
      }
      bootstrap = await createEmbeddedEngine({
        appName,
        features: contents.features,
        segments: contents.segments,
        onWarn: (m) => countAndLog('sdk_warn', String(m), {}),
        onError: (e) => countAndLog('sdk_error', e instanceof Error ? e.message : String(e), { err: e }),
      });
      known = bootstrap.names();
      tracker.changed();

      const client = new Unleash({
        url: options.url,
        appName,
        ...(options.instanceId ? { instanceId: options.instanceId } : {}),
        refreshInterval: refreshMs,
        timeout: options.fetchTimeoutMs ?? 5000,
        customHeaders: { Authorization: options.apiToken },
        backupPath: options.dataDir,
        disableMetrics: options.sendUsageMetrics === false,
        metricsInterval: options.metricsIntervalMs ?? 60_000,
        disableAutoStart: true,
        skipInstanceCountWarning: true,
      });
      sdk = client;
      client.on('ready', onSdkReady);
      client.on('changed', onChanged);
      client.on('unchanged', onUnchanged);
      client.on('error', onError);
      client.on('warn', onWarn);

      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.startTimeoutMs ?? 1000);
        timer.unref();
        client.once('ready', () => resolve());
      });
      const started = client.start().catch((err: unknown) => onError(err));
      await Promise.race([started, bounded]);
      clearTimeout(timer);
      log.info(
        { event: 'flags.started', state: tracker.status().state, flags: known.size, from: sdkReady ? 'sdk' : 'flags/' },
        'flag source started',
      );
    },

    async stop() {
      if (sdk !== null) {
        const repository = (sdk as unknown as { repository?: { on(event: 'error', fn: (err: unknown) => void): void } })
          .repository;
        sdk.destroy();
        // unleash-client 6.12.1: destroy() strips every listener from its repository, but a fetch already under
        // way still reports its failure there; an 'error' with no listener throws inside the fetcher and surfaces
        // as an unhandled rejection (a crash under Node's default policy). Catch that last word instead.
        repository?.on('error', (err) =>
          log.debug({ event: 'flags.sdk_error_after_stop', err }, 'a fetch under way at stop() failed'),
        );
      }
      sdk = null;
      sdkReady = false;
      bootstrap?.destroy();
      bootstrap = null;
    },
  };
}
