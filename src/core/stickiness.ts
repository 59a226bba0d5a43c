// The value a user is bucketed by. The first source in routes.yaml's `stickiness` list that has a value wins; when
// none has one the client IP is used, so a request without identity still lands in the same bucket every time
// instead of flipping between monolith and service per request.
//
// The value is used as is (no source prefix): it is also the Unleash `userId`, and Unleash must hash exactly the
// string we hash for the flag's percentage and our weight to select nested sets.

import type { StickinessSource } from '../config/types.ts';
import type { RequestFacts } from './types.ts';

export type StickinessOrigin = 'header' | 'cookie' | 'jwt' | 'ip';

export interface StickinessValue {
  readonly value: string;
  readonly source: StickinessOrigin;
}

type Headers = RequestFacts['headers'];

function firstHeader(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined || typeof value === 'string') return value;
  return value[0];
}

export function stickinessValue(sources: readonly StickinessSource[], facts: RequestFacts): StickinessValue {
  for (const source of sources) {
    let value: string | undefined;
    switch (source.kind) {
      case 'header':
        // Facts carry lower-case header names; lower-casing an already lower-case name returns it unchanged.
        value = firstHeader(facts.headers, source.name.toLowerCase());
        break;
      case 'cookie':
        value = cookieValue(facts.headers['cookie'], source.name);
        break;
      case 'jwt':
        value = jwtClaim(firstHeader(facts.headers, 'authorization'), source.claim);
        break;
      case 'ip':
        value = facts.clientIp;
        break;
    }
    if (value !== undefined && value !== '') return { value, source: source.kind };
  }
  return { value: facts.clientIp, source: 'ip' };
}

/**
 * The first cookie called `name` in a `Cookie` header (RFC 6265 §5.4: clients send the most specific one first).
 * Node joins several Cookie headers with "; "; an array (several headers kept apart) is searched in order.
 * Double quotes around the value are removed; nothing is URL-decoded (the value only has to be stable).
 */
export function cookieValue(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') {
    for (const one of header) {
      const found = cookieValue(one, name);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end === -1) end = header.length;
    let start = at;
    while (start < end && (header.charCodeAt(start) === 0x20 || header.charCodeAt(start) === 0x09)) start++;
    if (
      header.startsWith(name, start) &&
      start + name.length < end &&
      header.charCodeAt(start + name.length) === 0x3d /* = */
    ) {
      let value = header.slice(start + name.length + 1, end).trim();
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
        value = value.slice(1, -1);
      }
      return value;
    }
    at = end + 1;
  }
  return undefined;
}

/**
 * A claim of the bearer JWT in `Authorization`, read WITHOUT verifying the signature: it only picks a bucket, and a
 * forged token can only choose which of two equivalent implementations answers (authorization stays upstream).
 * The claim must be a non-empty string or a finite number; anything malformed yields undefined (next source).
 */
const BEARER = /^bearer /i;

export function jwtClaim(authorization: string | undefined, claim: string): string | undefined {
  if (authorization === undefined || authorization.length < 8) return undefined;
  // RFC 9110 §11.1: the auth scheme is case-insensitive. Compared in place: this runs on every request.
  if (
    (authorization.charCodeAt(0) | 0x20) !== 0x62 /* b */ ||
    authorization.charCodeAt(6) !== 0x20 ||
    !BEARER.test(authorization)
  ) {
    return undefined;
  }
  const firstDot = authorization.indexOf('.', 7);
  const secondDot = firstDot === -1 ? -1 : authorization.indexOf('.', firstDot + 1);
  if (secondDot === -1 || authorization.indexOf('.', secondDot + 1) !== -1) return undefined;
  const payload = authorization.slice(firstDot + 1, secondDot);
  const claims = payloadClaims(payload);
  if (claims === null || !Object.hasOwn(claims, claim)) return undefined;
  const value = claims[claim];
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

// A client sends the same token on every request until it expires, and decoding one costs ~1.5 µs (base64 +
// JSON.parse), so decoded payloads are memoised. Bounded: the whole map is dropped when it fills, which keeps the
// memory ceiling at PAYLOAD_CACHE_SIZE payloads whatever a client sends.
const PAYLOAD_CACHE_SIZE = 1024;
const payloadCache = new Map<string, Readonly<Record<string, unknown>> | null>();

function payloadClaims(payload: string): Readonly<Record<string, unknown>> | null {
  const cached = payloadCache.get(payload);
  if (cached !== undefined) return cached;
  const claims = decodePayload(payload);
  if (payloadCache.size >= PAYLOAD_CACHE_SIZE) payloadCache.clear();
  payloadCache.set(payload, claims);
  return claims;
}

function decodePayload(payload: string): Readonly<Record<string, unknown>> | null {
  if (payload === '' || !/^[A-Za-z0-9_-]+$/.test(payload)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  return parsed as Record<string, unknown>;
}
