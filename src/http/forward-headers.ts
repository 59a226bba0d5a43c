// The headers a request carries to its upstream, and those a response carries back to the client. Pure functions
// (no I/O), unit-tested in test/unit/forward-headers.test.ts.
//
// RFC 9110 §7.6.1: a proxy removes the hop-by-hop fields (Connection, every field Connection names, and the
// well-known ones below) before forwarding, in both directions, and only then adds its own. Request headers are
// built from Node's `rawHeaders` so their order, name spelling and repeats reach the upstream as the client sent
// them (undici writes names as given).

import { isIpv6 } from '../core/client-ip.ts';

/** Hop-by-hop fields (RFC 9110 §7.6.1, RFC 9112 §9.6, RFC 7230 §6.1) plus the non-standard ones proxies meet. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);

/** True for a header a proxy never forwards as such: the fixed hop-by-hop set and any `Proxy-*` field. */
export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName.startsWith('proxy-');
}

/** Header names listed by Connection values (`Connection: close, X-Foo` → `x-foo`), lower-cased. */
export function connectionTokens(values: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (const value of values) {
    for (const part of value.split(',')) {
      const token = part.trim().toLowerCase();
      if (token !== '') tokens.add(token);
    }
  }
  return tokens;
}

export interface UpstreamHeaderContext {
  /** Host header for the upstream; null keeps the client's own (host policy `preserve`). */
  readonly host: string | null;
  /** The TCP peer of this hop, normalised (client-ip normalizeIp). */
  readonly peer: string;
  /** The peer is a trusted proxy: its X-Forwarded-* / Forwarded values are kept and extended, not replaced. */
  readonly peerTrusted: boolean;
  readonly proto: 'http' | 'https';
  readonly requestId: string;
  /** Lower-case name of the signed override header (never forwarded). */
  readonly overrideHeader: string;
  /** Name of the override cookie (removed from Cookie, the other cookies stay). */
  readonly overrideCookie: string;
  /** For a WebSocket (or other) upgrade: the Upgrade value to ask the upstream for; null for plain requests. */
  readonly upgrade: string | null;
}

/**
 * Request headers for the upstream, as a flat `[name, value, …]` list (the shape of Node's rawHeaders, which undici
 * and node:http both accept). Hop-by-hop fields, `Expect` (the edge already answered `100-continue` itself; undici
 * refuses it), the override header and cookie, and the client's `X-Request-Id` are dropped; from an untrusted peer
 * every `X-Forwarded-*` and `Forwarded` is dropped too. Then the edge adds Host, X-Forwarded-For/-Proto/-Host,
 * Forwarded (RFC 7239) and X-Request-Id.
 */
export function buildUpstreamHeaders(rawHeaders: readonly string[], ctx: UpstreamHeaderContext): string[] {
  let connectionValues: string[] | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const value = rawHeaders[i + 1]!;
      // Nearly every client says `Connection: keep-alive` (or close), names that are stripped anyway.
      const lowerValue = value.toLowerCase();
      if (lowerValue === 'keep-alive' || lowerValue === 'close') continue;
      connectionValues ??= [];
      connectionValues.push(value);
    }
  }
  const named = connectionValues === null ? null : connectionTokens(connectionValues);

  const out: string[] = [];
  let clientHost: string | null = null;
  let priorFor: string | null = null;
  let priorProto: string | null = null;
  let priorHost: string | null = null;
  let priorForwarded: string | null = null;
  let sawLength = false;
  const hostAt = out.length;
  out.push('Host', '');

  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    // Host is the edge's to set (a Connection token naming it would otherwise leave the upstream without one).
    if (lower === 'host') {
      clientHost ??= value;
      continue;
    }
    if (isHopByHop(lower) || (named?.has(lower) ?? false)) continue;
    switch (lower) {
      case 'expect':
      case 'x-request-id':
      // The shadow marker is the edge's own word to a service ("this is a copy, skip side effects"): a client must
      // not be able to say it.
      case 'x-edge-shadow':
        continue;
      case 'content-length':
        // Path safety only lets identical repeats through (`42, 42`, RFC 9112 §6.3); the upstream gets one value.
        if (!sawLength) out.push(name, value.indexOf(',') === -1 ? value : value.slice(0, value.indexOf(',')).trim());
        sawLength = true;
        continue;
      case 'cookie': {
        const kept = removeCookie(value, ctx.overrideCookie);
        if (kept !== '') out.push(name, kept);
        continue;
      }
      case 'x-forwarded-for':
        if (ctx.peerTrusted) priorFor = priorFor === null ? value : `${priorFor}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        if (ctx.peerTrusted) priorProto ??= value;
        continue;
      case 'x-forwarded-host':
        if (ctx.peerTrusted) priorHost ??= value;
        continue;
      case 'forwarded':
        if (ctx.peerTrusted) priorForwarded = priorForwarded === null ? value : `${priorForwarded}, ${value}`;
        continue;
    }
    if (lower === ctx.overrideHeader) continue;
    if (!ctx.peerTrusted && lower.startsWith('x-forwarded-')) continue;
    out.push(name, value);
  }

  const host = ctx.host ?? clientHost;
  if (host === null) out.splice(hostAt, 2);
  else out[hostAt + 1] = host;

  if (ctx.upgrade !== null) out.push('Connection', 'Upgrade', 'Upgrade', ctx.upgrade);
  out.push('X-Forwarded-For', priorFor === null ? ctx.peer : `${priorFor}, ${ctx.peer}`);
  out.push('X-Forwarded-Proto', priorProto ?? ctx.proto);
  const forwardedHost = priorHost ?? clientHost;
  if (forwardedHost !== null) out.push('X-Forwarded-Host', forwardedHost);
  const element =
    `for=${forwardedNode(ctx.peer)};proto=${ctx.proto}` +
    (clientHost === null ? '' : `;host=${quoteIfNeeded(clientHost)}`);
  out.push('Forwarded', priorForwarded === null ? element : `${priorForwarded}, ${element}`);
  out.push('X-Request-Id', ctx.requestId);
  return out;
}

/** RFC 7239 §6: an IPv6 node is bracketed and, since `:` is not a token character, quoted. */
export function forwardedNode(ip: string): string {
  return isIpv6(ip) ? `"[${ip}]"` : ip;
}

const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

let lastQuoted = '';
let lastQuote = '""';

/** RFC 7239 §4: a value is a token or a quoted-string (`host="example.com:8080"`). */
export function quoteIfNeeded(value: string): string {
  // Every request to one edge names the same few hosts: the last answer is kept (a regex test and replace each time
  // were a visible share of building the upstream headers).
  if (value === lastQuoted) return lastQuote;
  const quoted = TCHAR.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`;
  lastQuoted = value;
  lastQuote = quoted;
  return quoted;
}

/** The Cookie header without the cookie `name` (every other cookie kept as written); '' when nothing is left. */
export function removeCookie(header: string, name: string): string {
  if (name === '' || header.indexOf(name) === -1) return header;
  const kept: string[] = [];
  for (const pair of header.split(';')) {
    const trimmed = pair.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const cookieName = (eq === -1 ? trimmed : trimmed.slice(0, eq)).trim();
    if (cookieName !== name) kept.push(trimmed);
  }
  return kept.join('; ');
}

/** The value of cookie `name` in a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined || name === '' || header.indexOf(name) === -1) return null;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}

export interface ResponseHeaderContext {
  readonly requestId: string;
  /** Set when the upstream has `rewriteLocation: true`. */
  readonly location: LocationRewrite | null;
  /** Ask the client to close its connection: the edge is draining, or the request body was not read to its end. */
  readonly close: boolean;
}

export interface LocationRewrite {
  /** The upstream's origin (`http://10.0.0.5:3001`). */
  readonly upstreamOrigin: string;
  /** The upstream's basePath ('' or `/base`), which the client never saw. */
  readonly basePath: string;
  /** `proto://host` as the client addressed the edge. */
  readonly clientOrigin: string;
}

/**
 * Response headers for the client, as a flat `[name, value, …]` list: the upstream's own, in their order and
 * spelling with repeats (several Set-Cookie) kept apart, minus the hop-by-hop fields and those Connection names,
 * Location rewritten when configured; then the edge's X-Request-Id (replacing any upstream echo) and, when asked,
 * `Connection: close`.
 */
export function buildClientHeaders(rawHeaders: readonly string[], ctx: ResponseHeaderContext): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = rawHeaders[i + 1]!;
    // Nearly every upstream response says `Connection: keep-alive` (or close): nothing more to strip then.
    const lowerValue = value.toLowerCase();
    if (lowerValue === 'keep-alive' || lowerValue === 'close') continue;
    named ??= new Set();
    for (const token of connectionTokens([value])) named.add(token);
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || lower === 'x-request-id' || (named?.has(lower) ?? false)) continue;
    const value = rawHeaders[i + 1]!;
    out.push(name, lower === 'location' && ctx.location !== null ? rewriteLocation(value, ctx.location) : value);
  }
  out.push('X-Request-Id', ctx.requestId);
  if (ctx.close) out.push('Connection', 'close');
  return out;
}

/**
 * An absolute Location pointing at the upstream (under its basePath) becomes the same place on the client-facing
 * origin; relative Locations and other origins pass unchanged (the client resolves those against the edge already).
 */
export function rewriteLocation(location: string, rw: LocationRewrite): string {
  const origin = rw.upstreamOrigin;
  if (location.length < origin.length || location.slice(0, origin.length).toLowerCase() !== origin.toLowerCase()) {
    return location;
  }
  let rest = location.slice(origin.length);
  const next = rest.charCodeAt(0);
  // `http://up:3001` must not match `http://up:30011/…`: the origin has to end there.
  if (rest !== '' && next !== 0x2f /* / */ && next !== 0x3f /* ? */ && next !== 0x23 /* # */) return location;
  if (rw.basePath !== '') {
    if (rest === rw.basePath) rest = '/';
    else if (rest.startsWith(rw.basePath) && '/?#'.includes(rest.charAt(rw.basePath.length))) {
      rest = rest.slice(rw.basePath.length);
    } else {
      return location;
    }
  }
  return rw.clientOrigin + rest;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._~:@+=/-]{1,200}$/;

/** The client's X-Request-Id when it is one value of sane characters and length (it lands in logs); else null. */
export function saneRequestId(value: string | string[] | undefined): string | null {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) ? value : null;
}
