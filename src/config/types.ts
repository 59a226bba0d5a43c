// The route table after parsing and validation: every default filled in, durations in milliseconds, frozen.
// Only src/config builds these; everything else reads them.

import type { FallbackPolicy } from '../core/fallback-policy.ts';
import type { DiffRule } from '../core/structural-diff.ts';

export type RouteMode = 'legacy' | 'shadow' | 'canary' | 'service';

/** How the Host header reaching an upstream is chosen. */
export type HostPolicy = { kind: 'preserve' } | { kind: 'upstream' } | { kind: 'fixed'; value: string };

export interface UpstreamConfig {
  readonly name: string;
  /** As written, e.g. `http://127.0.0.1:3001` (a path prefix is allowed: `http://svc:80/base`). */
  readonly url: string;
  /** `http://127.0.0.1:3001`, no trailing slash. */
  readonly origin: string;
  /** Path prefix prepended to the request path; '' when none. Never ends with '/'. */
  readonly basePath: string;
  readonly connectTimeoutMs: number;
  /** Time to the response headers (routes.yaml `timeoutMs` sets this). */
  readonly headersTimeoutMs: number;
  /** Longest silence while the body streams. 0 = none (SSE, long downloads). */
  readonly bodyTimeoutMs: number;
  readonly host: HostPolicy;
  /** Rewrite absolute `Location` headers that point at this upstream to the client-facing origin. Default false. */
  readonly rewriteLocation: boolean;
  /** Max pooled connections to this upstream. */
  readonly connections: number;
  /** The upstream treats `x-edge-shadow: 1` as a dry run, so shadow copies of writes may be sent to it. */
  readonly shadowDryRun?: boolean;
}

export type StickinessSource =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'jwt'; readonly claim: string }
  | { readonly kind: 'ip' };

export interface RolloutPolicy {
  /** Percent of users on the service, strictly increasing, each in 1..100. */
  readonly steps: readonly number[];
  readonly stepIntervalMs: number;
  readonly minRequests: number;
  readonly windowMs: number;
  readonly evaluateEveryMs: number;
  readonly maxErrorRate: number;
  readonly maxErrorRateIncrease: number;
  readonly maxP99Ms: number;
  readonly maxP99Ratio: number;
  /** How much slower than the monolith the service may be (relative, median and p90 of the same seconds). */
  readonly maxLatencyIncrease: number;
  /** Requests needed on each side in the window before the judge says anything but "hold". */
  readonly minSamples: number;
  /** Consecutive transport failures of the service that roll back at once, without waiting for the window. */
  readonly criticalConsecutiveFailures: number;
}

/**
 * What a route copies to its service while it is in shadow (mode `shadow`, or a canary route in its shadow phase).
 * Safe methods (GET, HEAD, OPTIONS) are always copied. A write copied to a service in shadow runs twice against real
 * data (once in the monolith, once in the service): that is only safe when the service writes to its own store or
 * treats `x-edge-shadow: 1` as a dry run, so writes are off unless the route lists them here.
 */
export interface ShadowPolicy {
  /** Upper-case methods copied besides the safe ones (e.g. POST); empty by default. */
  readonly methods: readonly string[];
  /** Largest request body copied; a bigger one is not shadowed (counted `skipped`). 0 (default): body-less only. */
  readonly maxBodyBytes: number;
  /** Lower-case response headers compared besides status and body (core/shadow-compare's default when absent). */
  readonly compareHeaders: readonly string[];
  /** Bodies up to this size are compared field by field; larger ones by digest only (`skipped` when they differ). */
  readonly maxDiffBytes: number;
  /** Noise rules by field path (core/structural-diff). */
  readonly rules: readonly DiffRule[];
  /** A canary route starts in shadow and reaches its first step only through the diff gate (core/diff-judge). */
  readonly gate: boolean;
  /** Comparisons the gate needs before it may pass. */
  readonly minRequests: number;
  /** Largest mismatch rate after noise the gate and the canary's `diff` rule accept. */
  readonly maxMismatchRate: number;
  /** Share of the monolith-served requests of a running canary still copied and compared (gated routes). */
  readonly canarySampleRate: number;
  /** How far back the canary's `diff` rule looks, in ms. */
  readonly window: number;
  /** Mismatches kept per route with both answers (GET /api/routes/:id/diff/samples). */
  readonly samples: number;
  readonly noise: {
    /** Share of safe shadowed requests also sent a second time to the monolith (per-request noise). */
    readonly sampleRate: number;
    readonly relativeThreshold: number;
    readonly absoluteThreshold: number;
  };
}

export interface RouteConfig {
  readonly id: string;
  /** find-my-way pattern: static, `:param`, `*`. */
  readonly path: string;
  /** Upper-case methods, or null for all. */
  readonly methods: readonly string[] | null;
  readonly service: string;
  /** Unleash flag name; also the bucketing groupId. Null: no flag (the route is never gated by one). */
  readonly flag: string | null;
  readonly mode: RouteMode;
  readonly adapter: string | null;
  /** What a body over the adapter's maxBodyBytes gets on this route; null/absent: the adapter's own `oversize`. */
  readonly adapterOversize?: 'reject' | 'pass' | null;
  readonly rollout: RolloutPolicy;
  /** Shadow copying; the loader always fills it in, hand-built tables may leave it out (= the defaults). */
  readonly shadow?: ShadowPolicy;
  /** Answering from the monolith when the service fails a request; the loader fills it in (hand-built: none). */
  readonly fallback?: FallbackPolicy;
  /** 1-based line of the route in routes.yaml, for messages. */
  readonly line: number;
}

export interface OverrideConfig {
  /** Request header carrying a signed override, e.g. `x-edge-route`. */
  readonly header: string;
  /** Cookie carrying a signed override. */
  readonly cookie: string;
}

export interface RouteTable {
  readonly version: 1;
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  readonly legacy: string;
  readonly stickiness: readonly StickinessSource[];
  readonly rollout: RolloutPolicy;
  readonly routes: readonly RouteConfig[];
  /** CIDRs or addresses whose X-Forwarded-For / Forwarded values are believed. */
  readonly trustedProxies: readonly string[];
  readonly override: OverrideConfig;
  readonly limits: { readonly maxUrlLength: number; readonly maxHeaderBytes: number };
  /** sha256 of the source text, first 12 hex digits: the "config version" in logs and metrics. */
  readonly hash: string;
  readonly source: string;
}

/** One problem found in routes.yaml, printed as `file:line:col message`. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}
