// Which route a request belongs to. find-my-way (a pure router, no I/O) decides path specificity exactly as fastify
// does: static beats `:param` beats `*`, with backtracking. We add the method layer on top:
//
// 1. Path first. Among the routes that accept the request's method, the most specific PATTERN wins. A route that
//    does not accept the method is invisible to it: `POST /api/agents/42` with a GET-only `/api/agents/:id` and an
//    all-methods `/api/*` goes to `/api/*`.
// 2. Then method, for routes with the same pattern: a route that names the method beats one that takes all methods
//    (`methods` absent). Two routes naming the same method on the same pattern are a config error (validate
//    reports it; compileRoutes throws RF_CONFIG_INVALID if one gets here anyway).
// 3. HEAD is GET without a body (RFC 9110 §9.3.2), so a route that lists GET also serves HEAD, unless a route with
//    the same pattern lists HEAD itself. Otherwise HEAD and GET for one URL could be answered by different upstreams
//    and disagree on headers. Precedence on one pattern: names HEAD > names GET > all methods.
//
// `*` matches the rest of the path, deeper segments included (`/api/agents/*` matches `/api/agents/1/runs`) and the
// empty rest (`/api/agents/`), but not `/api/agents`: that is its own pattern. As in fastify, a `:param` may be empty,
// so `/api/agents/` matches `/api/agents/:id` (if there is one) before `/api/agents/*`. Matching is case-sensitive and a
// trailing slash is significant, so the route matched is exactly the path the upstream receives. Unmatched → null,
// which the decision turns into "legacy, untouched".
//
// Paths handed to `match` are the ones checkRequestTarget accepted (its `normalizedPath`); find-my-way decodes the
// percent-escapes that remain (non-ASCII) once and keeps reserved ones (`%3F`, `%25`) encoded.

import FindMyWay from 'find-my-way';
import type { RouteConfig } from '../config/types.ts';
import { EdgeError } from './errors.ts';
import { HTTP_METHODS } from './http-methods.ts';

export interface RouteMatcher {
  /** The route serving `method` + `path`, or null (legacy). `method` is upper-case as Node gives it. */
  match(method: string, path: string): RouteConfig | null;
}

export interface RouteConflict {
  readonly method: string;
  readonly path: string;
  readonly routeIds: readonly [string, string];
}

// Routes without `methods` are registered for each method the router knows.
const ALL_METHODS: readonly FindMyWay.HTTPMethod[] = HTTP_METHODS;

/** Lower wins on one pattern. */
const Precedence = { NamesMethod: 0, GetServesHead: 1, AllMethods: 2 } as const;
type Precedence = (typeof Precedence)[keyof typeof Precedence];

interface Candidate {
  readonly route: RouteConfig;
  readonly precedence: Precedence;
  readonly order: number;
}

// find-my-way wants a handler; we only read the store.
const noHandler = (): undefined => undefined;

function candidatesFor(method: FindMyWay.HTTPMethod, routes: readonly RouteConfig[]): Candidate[] {
  const out: Candidate[] = [];
  routes.forEach((route, order) => {
    if (route.methods === null) out.push({ route, precedence: Precedence.AllMethods, order });
    else if (route.methods.includes(method)) out.push({ route, precedence: Precedence.NamesMethod, order });
    else if (method === 'HEAD' && route.methods.includes('GET')) {
      out.push({ route, precedence: Precedence.GetServesHead, order });
    }
  });
  // Stable: same precedence keeps file order, so a conflict names the earlier route first.
  return out.sort((a, b) => a.precedence - b.precedence || a.order - b.order);
}

// find-my-way's own rule (index.js OPTIONAL_PARAM_REGEXP): a trailing `/:name?` stands for two patterns. We expand
// it ourselves so each half takes part in precedence on its own: `/a` named by another route keeps `/a`, and the
// optional route still gets `/a/:name`.
const OPTIONAL_PARAM = /(\/:[^/()]*?)\?(\/?)/;

function expandOptional(route: RouteConfig): readonly string[] {
  const m = OPTIONAL_PARAM.exec(route.path);
  if (m === null) return [route.path];
  if (route.path.length !== m.index + m[0].length) {
    throw invalidPattern(route, new Error('an optional parameter must be the last parameter of the path'));
  }
  return [route.path.replace(OPTIONAL_PARAM, '$1$2'), route.path.replace(OPTIONAL_PARAM, '$2') || '/'];
}

function invalidPattern(route: RouteConfig, cause: unknown): EdgeError {
  return new EdgeError('RF_CONFIG_INVALID', `route ${route.id}: invalid path pattern "${route.path}"`, {
    cause,
    details: { routeId: route.id, path: route.path },
  });
}

interface Built {
  readonly router: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>;
  readonly conflicts: RouteConflict[];
}

function build(routes: readonly RouteConfig[]): Built {
  const router = FindMyWay({
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    caseSensitive: true,
    // The default (100) sends a request with a long `:param` to no route at all, i.e. silently to legacy; the URL
    // length limit is the real bound.
    maxParamLength: 65_536,
  });
  const conflicts: RouteConflict[] = [];
  for (const method of ALL_METHODS) {
    for (const candidate of candidatesFor(method, routes)) {
      for (const path of expandOptional(candidate.route)) {
        // find-my-way knows which patterns are equivalent (`/a/:id` and `/a/:name` are one); the candidate already
        // holding one came first in precedence order, so it keeps it.
        const existing = router.findRoute(method, path);
        if (existing !== null) {
          const holder = existing.store as Candidate;
          if (holder.precedence === candidate.precedence && holder.route !== candidate.route) {
            conflicts.push({ method, path: candidate.route.path, routeIds: [holder.route.id, candidate.route.id] });
          }
          continue;
        }
        try {
          router.on(method, path, noHandler, candidate);
        } catch (cause) {
          throw invalidPattern(candidate.route, cause);
        }
      }
    }
  }
  return { router, conflicts };
}

/**
 * Pairs of routes that claim the same method on the same pattern. The config validator may report these; a table
 * that has any cannot be compiled.
 */
export function findRouteConflicts(routes: readonly RouteConfig[]): RouteConflict[] {
  return build(routes).conflicts;
}

/** Compiles a validated table's routes once; `match` is one find-my-way lookup. */
export function compileRoutes(routes: readonly RouteConfig[]): RouteMatcher {
  const { router, conflicts } = build(routes);
  const first = conflicts[0];
  if (first !== undefined) {
    throw new EdgeError(
      'RF_CONFIG_INVALID',
      `routes ${first.routeIds[0]} and ${first.routeIds[1]} both serve ${first.method} ${first.path}`,
      { details: conflicts },
    );
  }
  return {
    match(method: string, path: string): RouteConfig | null {
      // A method no route takes has no tree: find-my-way answers null for it (its trees have no prototype).
      const found = router.find(method as FindMyWay.HTTPMethod, path);
      return found === null ? null : (found.store as Candidate).route;
    },
  };
}
