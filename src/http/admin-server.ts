// The admin listener (ADMIN_HOST:ADMIN_PORT): dashboard, Prometheus metrics, health, and the rollout API.
// Reads are open (the listener binds to loopback by default); every mutating call needs `Authorization: Bearer
// <ADMIN_TOKEN>`. Errors always answer `{ "error": { "code", "message" } }`.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { DiffStore } from '../adapters/diff/diff-store.ts';
import type { Logger } from '../adapters/logger.ts';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { RouteConfig, RouteTable } from '../config/types.ts';
import { EdgeError } from '../core/errors.ts';
import type { Actor, AuditEvent, RouteRolloutState, Verdict } from '../core/types.ts';
import { renderDashboard } from './admin-dashboard.ts';
import { diffView } from './diff-view.ts';

export type RolloutCommand = 'pause' | 'resume' | 'promote' | 'rollback' | 'set_weight';

/** What the admin API needs from the rollout controller and the stores. */
export interface AdminControl {
  table(): RouteTable;
  state(routeId: string): RouteRolloutState | undefined;
  command(
    routeId: string,
    command: RolloutCommand,
    options: { actor: Actor; reason: string; weight?: number },
  ): Promise<RouteRolloutState>;
  history(routeId: string, limit: number): Promise<readonly AuditEvent[]>;
  /** The judge's latest verdict on the route, with the evidence behind it (undefined: none on this replica). */
  verdict?(routeId: string): Verdict | undefined;
  /** Extra facts for /api/routes and the dashboard: flag source, leader, store health, config hash. */
  info(): Record<string, unknown>;
  ready(): { ready: boolean; checks: Record<string, boolean> };
  /** The shadow comparison store (counters and samples); absent: the diff endpoints answer 404. */
  diff?: DiffStore;
}

export interface AdminServerOptions {
  log: Logger;
  metrics: EdgeMetrics;
  control: AdminControl;
  adminToken: string | undefined;
}

const reasonBody = z
  .object({ reason: z.string().max(2000).optional(), actor: z.string().max(200).optional() })
  .strict();
const weightBody = z
  .object({
    weight: z.number().int().min(0).max(100),
    reason: z.string().max(2000).optional(),
    actor: z.string().max(200).optional(),
  })
  .strict();

/**
 * A route as the admin API shows it. `verdict` is the judge's latest, with the evidence behind it (issue 9: "show
 * me why"); null on a replica that does not judge (not the lease holder) or before the first tick.
 */
export function routeView(route: RouteConfig, state: RouteRolloutState | undefined, verdict?: Verdict) {
  return {
    id: route.id,
    path: route.path,
    methods: route.methods,
    mode: route.mode,
    service: route.service,
    flag: route.flag,
    adapter: route.adapter,
    steps: route.rollout.steps,
    phase: state?.phase ?? 'off',
    weight: state?.weight ?? (route.mode === 'service' ? 100 : 0),
    stepIndex: state?.stepIndex ?? -1,
    manualWeight: state?.manualWeight ?? false,
    since: state ? new Date(state.since).toISOString() : null,
    reason: state?.reason ?? null,
    updatedBy: state?.updatedBy ?? null,
    revision: state?.revision ?? 0,
    verdict: verdict === undefined ? null : { ...verdict, at: new Date(verdict.at).toISOString() },
  };
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length).trim());
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function createAdminServer(options: AdminServerOptions): Promise<FastifyInstance> {
  const { control, metrics, log } = options;
  // No fastify logger: `logger: false` already silences per-request lines (the old `disableRequestLogging`
  // option is deprecated in fastify 5 and warns FSTDEP023 at start).
  const app = Fastify({ logger: false });

  app.setErrorHandler((err: unknown, _request, reply) => {
    if (err instanceof EdgeError) return reply.code(err.status).send(err.toJSON());
    if (err instanceof z.ZodError) {
      const message = err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return reply.code(400).send(new EdgeError('RF_VALIDATION', message).toJSON());
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const message = err instanceof Error ? err.message : String(err);
    if (status >= 500) log.error({ event: 'admin.error', err }, 'admin request failed');
    const code = status >= 500 ? 'RF_INTERNAL' : status === 400 ? 'RF_VALIDATION' : 'RF_BAD_REQUEST';
    return reply.code(status).send({ error: { code, message } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new EdgeError('RF_NOT_FOUND', `no admin endpoint ${request.method} ${request.url}`).toJSON()),
  );

  const requireToken = async (request: FastifyRequest) => {
    if (!options.adminToken) {
      throw new EdgeError('RF_UNAUTHORIZED', 'ADMIN_TOKEN is not configured on this edge: mutating calls are disabled');
    }
    if (!tokenMatches(options.adminToken, request.headers.authorization)) {
      throw new EdgeError('RF_UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <ADMIN_TOKEN>)');
    }
  };

  const findRoute = (id: string): RouteConfig => {
    const route = control.table().routes.find((r) => r.id === id);
    if (!route) throw new EdgeError('RF_ROUTE_NOT_FOUND', `no route with id "${id}" in the route table`);
    return route;
  };

  const actorOf = (request: FastifyRequest, given: string | undefined): Actor => {
    const who = given ?? (request.headers['x-actor'] as string | undefined) ?? 'api';
    return who.startsWith('cli:') ? (who as Actor) : `admin:${who}`;
  };

  app.get('/', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(renderDashboard({ title: 'raptorflow-edge' })),
  );
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const r = control.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not_ready', checks: r.checks });
  });

  app.get('/api/routes', async () => {
    const table = control.table();
    return {
      configHash: table.hash,
      legacy: table.legacy,
      ...control.info(),
      routes: table.routes.map((r) => routeView(r, control.state(r.id), control.verdict?.(r.id))),
    };
  });
  app.get<{ Params: { id: string } }>('/api/routes/:id', async (request) => {
    const route = findRoute(request.params.id);
    return routeView(route, control.state(route.id), control.verdict?.(route.id));
  });
  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>('/api/routes/:id/history', async (request) => {
    const route = findRoute(request.params.id);
    const limit = Math.min(Math.max(Number(request.query.limit ?? 100) || 100, 1), 10_000);
    const events = await control.history(route.id, limit);
    return { route: route.id, events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  });

  const diffStore = (): DiffStore => {
    if (!control.diff) throw new EdgeError('RF_NOT_FOUND', 'shadow comparison is not enabled on this edge');
    return control.diff;
  };
  app.get<{ Params: { id: string } }>('/api/routes/:id/diff', async (request) => {
    const route = findRoute(request.params.id);
    const store = diffStore();
    const [counters, samples] = await Promise.all([store.counters(route.id), store.samples(route.id, 5)]);
    return diffView(route, control.state(route.id), counters, samples, Date.now());
  });
  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    '/api/routes/:id/diff/samples',
    async (request) => {
      const route = findRoute(request.params.id);
      const limit = Math.min(Math.max(Number(request.query.limit ?? 50) || 50, 1), 1000);
      return { route: route.id, samples: await diffStore().samples(route.id, limit) };
    },
  );

  for (const command of ['pause', 'resume', 'promote', 'rollback'] as const) {
    app.post<{ Params: { id: string } }>(`/api/routes/:id/${command}`, async (request) => {
      await requireToken(request);
      const body = reasonBody.parse(request.body ?? {});
      const route = findRoute(request.params.id);
      const state = await control.command(route.id, command, {
        actor: actorOf(request, body.actor),
        reason: body.reason ?? `${command} requested through the admin API`,
      });
      return routeView(route, state, control.verdict?.(route.id));
    });
  }
  app.put<{ Params: { id: string } }>('/api/routes/:id/weight', async (request) => {
    await requireToken(request);
    const body = weightBody.parse(request.body ?? {});
    const route = findRoute(request.params.id);
    const state = await control.command(route.id, 'set_weight', {
      actor: actorOf(request, body.actor),
      reason: body.reason ?? `weight set to ${body.weight}% through the admin API`,
      weight: body.weight,
    });
    return routeView(route, state, control.verdict?.(route.id));
  });

  await app.ready();
  return app;
}
