// Admission and decision: everything between a parsed request and forwarding, shared by plain requests and
// upgrades. Limits, path safety, framing, the client IP, the signed override, the ONE decision (stored on the
// request state), the shadow copy, and the forward target. Writes nothing to the client: it returns either the
// error to answer with or where to send the request.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { EdgeMetrics } from '../adapters/metrics.ts';
import type { RouteTable } from '../config/types.ts';
import { normalizeIp, resolveClientIp } from '../core/client-ip.ts';
import { EdgeError } from '../core/errors.ts';
import type { BodyReplay, FallbackPolicy } from '../core/fallback-policy.ts';
import { childMap } from '../core/nested-map.ts';
import { checkHeaders, checkRequestTarget } from '../core/path-safety.ts';
import type { Decision, Target } from '../core/types.ts';
import type { ShadowAdaptation } from './adapted-exchange.ts';
import { bodyReplayOf, type FallbackPlan } from './fallback.ts';
import type { BodySource, ForwardTarget } from './forward.ts';
import { buildUpstreamHeaders, readCookie } from './forward-headers.ts';
import { type EdgeRequestState, PEER, type PeerInfo, type TaggedSocket, type UpstreamPlan } from './request-state.ts';
import type { ShadowTraffic } from './shadow-traffic.ts';
import type { TablePlan, TablePlanOwner } from './table-plan.ts';

/** Where an admitted request goes, and the body to send with it. */
export interface Admitted {
  readonly target: ForwardTarget;
  readonly body: BodySource;
  /** A service request's way back to the monolith, when its route falls back; null otherwise. */
  readonly fallback: FallbackPlan | null;
}

export interface AdmissionOptions {
  readonly metrics: EdgeMetrics;
  readonly tables: TablePlanOwner;
  readonly shadows: ShadowTraffic;
  /** Signed QA override; null when no secret is configured (override header/cookie then only get stripped). */
  readonly verifyOverride: ((token: string) => Target | null) | null;
  /** A shadow copy on a route with a legacy adapter, translated (adapted-exchange); undefined: no adapter. */
  readonly adaptShadow?: (
    table: RouteTable,
    routeId: string,
    method: string,
    url: string,
    headers: string[],
  ) => ShadowAdaptation | null | undefined;
}

/**
 * `proto://host` as the client addressed the edge: what a trusted proxy in front reports (it may have terminated
 * TLS), else this hop's own view. '' when the client sent no Host: Location is then left alone.
 */
export function clientOrigin(headers: IncomingHttpHeaders, peerTrusted: boolean): string {
  const forwardedProto = peerTrusted ? headers['x-forwarded-proto'] : undefined;
  const forwardedHost = peerTrusted ? headers['x-forwarded-host'] : undefined;
  const proto = typeof forwardedProto === 'string' ? forwardedProto.split(',')[0]!.trim() : 'http';
  const host = typeof forwardedHost === 'string' ? forwardedHost.split(',')[0]!.trim() : headers.host;
  return host === undefined || host === '' ? '' : `${proto}://${host}`;
}

function pathForLog(url: string, max: number): string {
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)).slice(0, max);
}

export class Admission {
  readonly #metrics: EdgeMetrics;
  readonly #tables: TablePlanOwner;
  readonly #shadows: ShadowTraffic;
  readonly #verifyOverride: ((token: string) => Target | null) | null;
  readonly #adaptShadow: AdmissionOptions['adaptShadow'];
  /**
   * Decision counter children by route, then target and reason (prom-client hashes its labels on every call; nested
   * maps look up the decision's own strings, whose hashes V8 keeps, instead of building and hashing a key).
   */
  readonly #decisionCounters = new Map<string, Map<string, Map<string, { inc(): void }>>>();

  constructor(options: AdmissionOptions) {
    this.#metrics = options.metrics;
    this.#tables = options.tables;
    this.#shadows = options.shadows;
    this.#verifyOverride = options.verifyOverride;
    this.#adaptShadow = options.adaptShadow;
  }

  /**
   * Checks and decides `raw`; fills `state` (path, decision, upstream). `upgrade` is the Upgrade value for an
   * upgrade request, null for a plain one. Returns the error to answer with, or where to forward.
   */
  admit(raw: IncomingMessage, state: EdgeRequestState, upgrade: string | null): EdgeError | Admitted {
    const url = (raw as IncomingMessage & { originalUrl?: string }).originalUrl ?? raw.url ?? '/';
    const plan = this.#tables.current();
    if (url.length > plan.maxUrlLength) {
      state.path = pathForLog(url, 64);
      return this.refuse(state, 'uri_too_long', 'uri_too_long', new EdgeError('RF_URI_TOO_LONG'));
    }
    const checked = checkRequestTarget(url);
    if (!checked.ok) {
      state.path = pathForLog(url, 256);
      return this.refuse(state, 'bad_path', checked.reason, new EdgeError('RF_BAD_PATH', checked.detail));
    }
    state.path = checked.path;
    const framing = checkHeaders(raw.rawHeaders);
    if (framing !== null) {
      return this.refuse(
        state,
        'smuggling',
        framing.reason,
        new EdgeError('RF_BAD_REQUEST', `request framing refused: ${framing.reason}`),
      );
    }

    const headers = raw.headers;
    const peer = peerOf(state.socket, plan);
    const xff = headers['x-forwarded-for'];
    const clientIp =
      peer.trusted && xff !== undefined
        ? resolveClientIp(peer.ip, typeof xff === 'string' ? xff : xff.join(', '), plan.trusted)
        : peer.ip;
    let override: Target | null = null;
    const verifyOverride = this.#verifyOverride;
    if (verifyOverride !== null) {
      const fromHeader = headers[plan.overrideHeader];
      const token = typeof fromHeader === 'string' ? fromHeader : readCookie(headers.cookie, plan.overrideCookie);
      if (token !== null && token !== '') override = verifyOverride(token);
    }

    const decision = plan.routing.decide(
      { method: state.method, path: checked.normalizedPath, headers, clientIp },
      override,
    );
    state.decision = decision;
    this.#countDecision(decision);
    const upstream = plan.upstreams.get(decision.upstream);
    if (upstream === undefined) {
      return new EdgeError('RF_UPSTREAM_ERROR', `no upstream named "${decision.upstream}"`);
    }
    state.upstream = upstream;
    if (upstream.location !== null) state.clientOrigin = clientOrigin(headers, peer.trusted);
    const hasBody =
      upgrade === null &&
      (headers['transfer-encoding'] !== undefined ||
        (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
    let body: Readable | null = hasBody ? raw : null;
    if (
      decision.shadow ||
      this.#shadows.sampleCanary(plan.shadowRoutes.get(decision.routeId ?? ''), decision, state.method)
    ) {
      body = this.#startShadow(raw, state, decision, plan, peer, url, body, upgrade);
    }
    const target = forwardTarget(raw.rawHeaders, peer, plan, state.id, url, upstream, upgrade);
    let fallback: FallbackPlan | null = null;
    if (decision.target === 'service' && decision.routeId !== null && upgrade === null) {
      const policy = plan.fallbacks.get(decision.routeId);
      const legacy = plan.legacy;
      if (policy !== undefined && legacy !== undefined) {
        fallback = new LegacyFallback(
          decision.routeId,
          policy,
          legacy,
          bodyReplayOf(headers, hasBody, policy.maxBodyBytes),
          raw.rawHeaders,
          peer,
          plan,
          state.id,
          url,
        );
      }
    }
    return { target, body, fallback };
  }

  /** Counts and marks a request the edge refuses itself (also parse errors Node reported); returns `err`. */
  refuse(state: EdgeRequestState, label: string, reason: string, err: EdgeError): EdgeError {
    this.#metrics.rejectedRequests.inc({ reason: label });
    state.rejected = reason;
    return err;
  }

  /**
   * Sends the shadow copy of a request served by legacy (when its route copies this method and body); returns the
   * body stream the primary must send (the client's, or a pass-through keeping a copy of it).
   */
  #startShadow(
    raw: IncomingMessage,
    state: EdgeRequestState,
    decision: Decision,
    plan: TablePlan,
    peer: PeerInfo,
    url: string,
    body: Readable | null,
    upgrade: string | null,
  ): Readable | null {
    const routeId = decision.routeId ?? '-';
    const shadows = this.#shadows;
    if (upgrade !== null) {
      // A tunnel has no single answer to compare.
      shadows.skip(routeId, state.method, 'upgrade');
      return body;
    }
    const length = raw.headers['content-length'];
    const copy = shadows.begin(
      plan.shadowRoutes.get(routeId),
      routeId,
      state.method,
      body !== null,
      length === undefined ? null : Number.parseInt(length, 10),
      !decision.shadow,
    );
    if (copy === null) return body;
    const route = copy.route;
    const headers = upstreamHeaders(raw.rawHeaders, peer, plan, route.host, `${state.id}-shadow`, null);
    // A route with a legacy adapter: the copy asks the service in its own contract, and its answer is translated
    // back before the comparison (v1 against adapted v2).
    const adapted = this.#adaptShadow?.(plan.routing.table, routeId, state.method, url, headers);
    if (adapted === null) {
      copy.giveUp('adapter');
      return body;
    }
    state.shadow = copy;
    // The per-request noise call: the same request to the monolith once more, addressed as the primary was.
    const noise =
      copy.wantsNoiseCall && route.legacy !== null
        ? {
            path: route.legacy.basePath + url,
            headers: upstreamHeaders(raw.rawHeaders, peer, plan, route.legacyHost, `${state.id}-noise`, null),
          }
        : undefined;
    const sent = copy.send(
      adapted === undefined
        ? { reqId: state.id, method: state.method, path: route.upstream.basePath + url, headers, noise }
        : {
            reqId: state.id,
            method: adapted.method,
            path: route.upstream.basePath + adapted.path,
            headers: adapted.headers,
            noise,
            translate: adapted.translate,
            translateBody: adapted.translateBody,
          },
      body === null ? null : raw,
    );
    return sent ?? body;
  }

  #countDecision(decision: Decision): void {
    const route = decision.routeId ?? '-';
    const byTarget = childMap(this.#decisionCounters, route);
    const byReason = childMap(byTarget, decision.target);
    let counter = byReason.get(decision.reason);
    if (counter === undefined) {
      counter = this.#metrics.decisions.labels(route, decision.target, decision.reason);
      byReason.set(decision.reason, counter);
    }
    counter.inc();
  }
}

/** The request for upstream `to`: its base path + the raw target, the client's headers as forward-headers builds them. */
function forwardTarget(
  rawHeaders: string[],
  peer: PeerInfo,
  plan: TablePlan,
  requestId: string,
  url: string,
  to: UpstreamPlan,
  upgradeTo: string | null,
): ForwardTarget {
  return {
    upstream: to.config,
    path: to.config.basePath + url,
    headers: upstreamHeaders(rawHeaders, peer, plan, to.host, requestId, upgradeTo),
  };
}

/** The client's headers for an upstream (forward-headers), as this hop sends them. */
function upstreamHeaders(
  rawHeaders: string[],
  peer: PeerInfo,
  plan: TablePlan,
  host: string | null,
  requestId: string,
  upgrade: string | null,
): string[] {
  return buildUpstreamHeaders(rawHeaders, {
    host,
    peer: peer.ip,
    peerTrusted: peer.trusted,
    proto: 'http',
    requestId,
    overrideHeader: plan.overrideHeader,
    overrideCookie: plan.overrideCookie,
    upgrade,
  });
}

/**
 * A service request's fallback plan. Its target is built only if the monolith is asked (most service requests never
 * need it), from fields rather than a closure: a closure per request is allocated, and named by tsx's `__name`.
 */
class LegacyFallback implements FallbackPlan {
  readonly routeId: string;
  readonly policy: FallbackPolicy;
  readonly legacy: UpstreamPlan;
  readonly body: BodyReplay;
  readonly #rawHeaders: string[];
  readonly #peer: PeerInfo;
  readonly #plan: TablePlan;
  readonly #requestId: string;
  readonly #url: string;

  constructor(
    routeId: string,
    policy: FallbackPolicy,
    legacy: UpstreamPlan,
    body: BodyReplay,
    rawHeaders: string[],
    peer: PeerInfo,
    plan: TablePlan,
    requestId: string,
    url: string,
  ) {
    this.routeId = routeId;
    this.policy = policy;
    this.legacy = legacy;
    this.body = body;
    this.#rawHeaders = rawHeaders;
    this.#peer = peer;
    this.#plan = plan;
    this.#requestId = requestId;
    this.#url = url;
  }

  target(): ForwardTarget {
    return forwardTarget(this.#rawHeaders, this.#peer, this.#plan, this.#requestId, this.#url, this.legacy, null);
  }
}

function peerOf(socket: TaggedSocket, plan: TablePlan): PeerInfo {
  const cached = socket[PEER];
  if (cached !== undefined && cached.plan === plan) return cached;
  const ip = normalizeIp(socket.remoteAddress ?? '');
  const info: PeerInfo = { plan, ip, trusted: plan.trusted.contains(ip) };
  socket[PEER] = info;
  return info;
}
