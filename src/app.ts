// Wires the pure core to its adapters: one `createEdge(env)` builds the flag source, the state store, the audit
// trail, the rollout controller, the edge listener and the admin listener, and keeps them in step on hot reload.
// With nothing configured it runs on embedded defaults (flags/ files, memory + DATA_DIR); with REDIS_URL,
// DATABASE_URL, UNLEASH_URL the same code talks to the real components.

import { watchAdapters } from './adapters/adapter-watcher.ts';
import { createAuditLog } from './adapters/audit/index.ts';
import { createMemoryDiffStore } from './adapters/diff/diff-store.ts';
import { createRedisDiffStore } from './adapters/diff/redis-diff-store.ts';
import { trackEffectiveWeights } from './adapters/flags/effective-weight-gauge.ts';
import { createFlagSource } from './adapters/flags/index.ts';
import { createUnleashWriteBack } from './adapters/flags/unleash-write-back.ts';
import { createJudgeSlotStore } from './adapters/judge-slots/index.ts';
import { createLogger, type Logger } from './adapters/logger.ts';
import { createLoopDelayMonitor } from './adapters/loop-delay.ts';
import { createMetrics, type EdgeMetrics } from './adapters/metrics.ts';
import { watchRouteTable } from './adapters/route-table-watcher.ts';
import { createStateStore, DEFAULT_REDIS_KEY_PREFIX } from './adapters/state/index.ts';
import type { EdgeEnv } from './config/env.ts';
import { adapterDir, loadAdapters } from './config/load-adapters.ts';
import { formatProblems, loadRouteTableFile, routeTableError } from './config/load-route-table.ts';
import type { RouteTable } from './config/types.ts';
import { createRolloutController } from './controller/rollout-controller.ts';
import { verifyOverride } from './core/override-token.ts';
import { compileRouter } from './core/request-router.ts';
import type { Target } from './core/types.ts';
import { createAdminServer } from './http/admin-server.ts';
import { createEdgeServer, type EdgeRouting } from './http/edge-server.ts';
import { ShadowDiffRecorder } from './http/shadow-diff.ts';

export interface EdgeHandle {
  readonly port: number;
  readonly adminPort: number;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
  table(): RouteTable;
  /** Re-read routes.yaml now (what SIGHUP does). Resolves true when a new table was applied. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

export interface CreateEdgeOptions {
  log?: Logger;
  /** Tests run several edges in one process: leave process metrics out of all but one. */
  processMetrics?: boolean;
  /** Milliseconds between controller ticks; defaults to the smallest `evaluateEvery` of the table. */
  controllerTickMs?: number;
  leaseTtlMs?: number;
  clock?: () => number;
}

export async function createEdge(env: EdgeEnv, options: CreateEdgeOptions = {}): Promise<EdgeHandle> {
  const log = options.log ?? createLogger(env.LOG_LEVEL, undefined, { buffered: true });
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? true });
  const clock = options.clock ?? Date.now;
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    // Last started, first closed; splice so a second close() finds nothing left to close.
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        log.warn({ event: 'edge.close_failed', err }, 'a component failed to close cleanly');
      }
    }
  };

  try {
    const flags = createFlagSource({ env, log, metrics });
    closers.push(() => flags.stop());
    await flags.start();

    // legacy-adapter/ first: the route table may only name adapters that loaded.
    const adaptersDir = adapterDir(env);
    const firstAdapters = await loadAdapters(adaptersDir);
    if (firstAdapters.problems.length > 0) throw routeTableError(firstAdapters.problems);
    let adapters = firstAdapters.adapters;
    const knownAdapters = () => new Set(adapters.keys());
    const first = await loadRouteTableFile(env.ROUTES_FILE, {
      knownFlags: flags.knownFlags(),
      knownAdapters: knownAdapters(),
    });
    if (!first.ok) throw routeTableError(first.problems);
    for (const w of first.warnings) log.warn({ event: 'config.warning', ...w }, w.message);
    let table = first.table;

    const store = createStateStore({ env, log, metrics });
    closers.push(() => store.close());
    await store.load();
    const audit = createAuditLog({ env, log, metrics });
    closers.push(() => audit.close());

    // Written to the environment of UNLEASH_API_TOKEN: the one this edge reads its flags from.
    const writeBack =
      env.UNLEASH_URL && env.UNLEASH_ADMIN_TOKEN && env.UNLEASH_API_TOKEN
        ? createUnleashWriteBack({
            url: env.UNLEASH_URL,
            adminToken: env.UNLEASH_ADMIN_TOKEN,
            apiToken: env.UNLEASH_API_TOKEN,
            log,
          })
        : null;

    // Shadow comparisons: shared by every replica with REDIS_URL, like the rollout state.
    const redisUrl = env.REDIS_URL?.trim();
    const diffStore = redisUrl
      ? createRedisDiffStore({
          url: redisUrl,
          keyPrefix: env.REDIS_KEY_PREFIX || DEFAULT_REDIS_KEY_PREFIX,
          log: log.child({ component: 'diff' }),
        })
      : createMemoryDiffStore(clock);
    closers.push(() => diffStore.close());

    // The judge's evidence for `rf-edge judge replay`; closed after the controller (closers run in reverse).
    const judgeSlots = createJudgeSlotStore(env, log);
    closers.push(() => judgeSlots.close());
    const controller = createRolloutController({
      diffCounters: (routeId) => diffStore.counters(routeId),
      recordSecond: (r) => judgeSlots.record(r),
      store,
      audit,
      metrics,
      log,
      instanceId: env.INSTANCE_ID,
      clock,
      getTable: () => table,
      ...(writeBack ? { writeBack } : {}),
      ...(options.leaseTtlMs ? { leaseTtlMs: options.leaseTtlMs } : {}),
      ...(options.controllerTickMs ? { tickMs: options.controllerTickMs } : {}),
    });
    closers.push(() => controller.stop());
    const effectiveWeights = trackEffectiveWeights({ flags, store, metrics, getTable: () => table });
    closers.push(async () => effectiveWeights.stop());

    const buildRouting = (t: RouteTable): EdgeRouting => {
      const router = compileRouter(t);
      return {
        table: t,
        decide: (facts, override: Target | null) =>
          router.decide(facts, (id) => store.get(id), flags.evaluate, override),
      };
    };
    let routing = buildRouting(table);
    // Tables are applied one after another: two quick edits must reach the controller in the order they were made,
    // or a slow store could leave the older table's states in force.
    let applying: Promise<void> = Promise.resolve();
    const applyTable = (next: RouteTable): Promise<void> => {
      const run = applying.then(() => applyTableNow(next));
      applying = run.catch(() => undefined);
      return run;
    };
    const applyTableNow = async (next: RouteTable) => {
      routing = buildRouting(next);
      table = next;
      metrics.configInfo.reset();
      metrics.configInfo.set({ hash: next.hash }, 1);
      metrics.configLoadedAt.set(clock() / 1000);
      await controller.applyConfig(next);
      effectiveWeights.refresh();
    };
    await applyTable(table);

    const loopDelay = createLoopDelayMonitor();
    closers.push(async () => loopDelay.stop());
    const overrideSecret = env.EDGE_OVERRIDE_SECRET;
    const edge = await createEdgeServer({
      shadowDiff: new ShadowDiffRecorder({ store: diffStore, metrics, log, clock }),
      log,
      metrics,
      routing: () => routing,
      recordOutcome: (o) => store.recordOutcome(loopDelay.tag(o)),
      ...(overrideSecret ? { verifyOverride: (token: string) => verifyOverride(overrideSecret, token, clock()) } : {}),
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      adapters: () => adapters,
    });
    const closeEdge = () => edge.close();
    closers.push(closeEdge);

    const watcher = watchRouteTable({
      file: env.ROUTES_FILE,
      currentHash: table.hash,
      knownFlags: () => flags.knownFlags(),
      knownAdapters,
      log,
      onTable: (next) => {
        const previous = table.hash;
        applyTable(next).then(
          () => {
            metrics.configReloads.inc({ result: 'success' });
            log.info(
              { event: 'config.reloaded', from: previous, to: next.hash, routes: next.routes.length },
              'route table reloaded',
            );
          },
          (err) =>
            log.error({ event: 'config.apply_failed', err }, 'new route table could not be applied to the controller'),
        );
      },
      onRejected: (problems) => {
        metrics.configReloads.inc({ result: 'failure' });
        log.error(
          { event: 'config.rejected', problems, keeping: table.hash },
          `route table edit rejected, still serving ${table.hash}:\n${formatProblems(problems)}`,
        );
      },
    });
    closers.push(async () => watcher.close());

    const adapterWatcher = watchAdapters({
      dir: adaptersDir,
      initial: firstAdapters,
      log,
      onAdapters: (next) => {
        // An adapter the serving table names may not disappear: that edit waits until routes.yaml lets go of it.
        const missing = table.routes.filter((r) => r.adapter !== null && !next.has(r.adapter)).map((r) => r.adapter);
        if (missing.length > 0) {
          metrics.configReloads.inc({ result: 'failure' });
          log.error(
            { event: 'config.rejected', what: 'legacy-adapter', missing },
            `legacy-adapter edit rejected: routes.yaml still names ${missing.join(', ')}`,
          );
          return;
        }
        adapters = next;
        metrics.configReloads.inc({ result: 'success' });
        log.info({ event: 'config.adapters_reloaded', adapters: [...next.keys()] }, 'legacy-adapter reloaded');
        // A routes.yaml edit naming an adapter that had not loaded yet was refused; it may be valid now.
        watcher.reload().catch((err: unknown) => log.error({ event: 'config.reload_failed', err }, 'reload failed'));
      },
      onRejected: (problems) => {
        metrics.configReloads.inc({ result: 'failure' });
        log.error(
          { event: 'config.rejected', what: 'legacy-adapter', problems },
          `legacy-adapter edit rejected, the last good adapters keep serving:\n${formatProblems(problems)}`,
        );
      },
    });
    closers.push(async () => adapterWatcher.close());

    let listening = false;
    const admin = await createAdminServer({
      log,
      metrics,
      adminToken: env.ADMIN_TOKEN,
      control: {
        diff: diffStore,
        table: () => table,
        state: (id) => store.get(id),
        command: (id, cmd, opts) => controller.command(id, cmd, opts),
        history: (id, limit) => audit.history(id, limit),
        verdict: (id) => controller.lastVerdict(id),
        info: () => ({
          instance: env.INSTANCE_ID,
          flags: flags.status(),
          leader: controller.isLeader(),
          stores: { state: store.healthy(), auditPending: audit.pending() },
        }),
        ready: () => {
          const checks = { config: true, listeners: listening };
          return { ready: checks.config && checks.listeners, checks };
        },
      },
    });
    // Closers run in reverse: the admin listener goes in just before the edge's, so it stays up while the edge
    // drains. /readyz then answers 503 (a load balancer stops sending) and /metrics still shows the drain.
    closers.splice(closers.indexOf(closeEdge), 0, () => admin.close());

    const { port } = await edge.listen(env.PORT, env.HOST);
    await admin.listen({ port: env.ADMIN_PORT, host: env.ADMIN_HOST });
    const adminAddress = admin.server.address();
    const adminPort = typeof adminAddress === 'object' && adminAddress ? adminAddress.port : env.ADMIN_PORT;
    controller.start();
    listening = true;
    log.info(
      {
        event: 'edge.started',
        port,
        adminPort,
        config: table.hash,
        routes: table.routes.length,
        flags: flags.status().state,
      },
      'rf-edge is serving',
    );

    return {
      port,
      adminPort,
      log,
      metrics,
      table: () => table,
      reload: async () => {
        const adaptersOk = await adapterWatcher.reload();
        const applied = (await watcher.reload()) && adaptersOk;
        log.info(
          { event: 'config.reload_checked', applied, serving: table.hash },
          applied ? `route table checked: serving ${table.hash}` : `route table rejected: still serving ${table.hash}`,
        );
        return applied;
      },
      close: async () => {
        listening = false;
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
