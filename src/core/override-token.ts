// Signed overrides let QA and support pin their own requests to the monolith or the service on canary routes:
//
//   <target>.<expiresAtUnixSeconds>.<sig>     sig = base64url(HMAC-SHA256(secret, "<target>.<expiresAtUnixSeconds>"))
//   e.g. service.1767225600.Jt3…Q            (target: service | legacy)
//
// Only the holder of the secret (EDGE_OVERRIDE_SECRET) can mint one, and every token expires, so a token pasted
// into a ticket stops working on its own. A token is not scoped to a route: it applies to every route in canary
// mode (a QA session spans many routes; modes legacy/service/shadow are not overridden). Anything that is not a
// valid, unexpired token is ignored (null), never an error: the request is routed as if it had none.
// The header/cookie carrying it is removed before forwarding by the HTTP layer.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Target } from './types.ts';

const SIG_CHARS = 43; // base64url of a 32-byte SHA-256 MAC, unpadded
const MAX_EXPIRY_DIGITS = 12;

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** A token forcing `target` until `expiresAt` (Unix seconds, an integer). */
export function signOverride(secret: string, target: Target, expiresAt: number): string {
  if (secret === '') throw new RangeError('an override secret must not be empty');
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0 || String(expiresAt).length > MAX_EXPIRY_DIGITS) {
    throw new RangeError(`expiresAt must be a non-negative integer number of seconds, got ${expiresAt}`);
  }
  const payload = `${target}.${expiresAt}`;
  return `${payload}.${sign(secret, payload).toString('base64url')}`;
}

/** The target a valid, unexpired token forces, or null for anything else. */
export function verifyOverride(secret: string, token: string, nowMs: number): Target | null {
  if (secret === '') return null;
  const firstDot = token.indexOf('.');
  const secondDot = firstDot === -1 ? -1 : token.indexOf('.', firstDot + 1);
  if (secondDot === -1) return null;
  const target = token.slice(0, firstDot);
  if (target !== 'service' && target !== 'legacy') return null;
  const expiresText = token.slice(firstDot + 1, secondDot);
  if (expiresText.length === 0 || expiresText.length > MAX_EXPIRY_DIGITS || !/^[0-9]+$/.test(expiresText)) return null;
  const sigText = token.slice(secondDot + 1);
  if (sigText.length !== SIG_CHARS || !/^[A-Za-z0-9_-]+$/.test(sigText)) return null;
  // Compared as text, not decoded bytes: base64url's last character carries 2 spare bits, so several spellings
  // decode to one signature; only the canonical one is accepted. Signature before clock, in constant time.
  const expected = sign(secret, token.slice(0, secondDot)).toString('base64url');
  if (!timingSafeEqual(Buffer.from(sigText, 'latin1'), Buffer.from(expected, 'latin1'))) return null;
  if (Number(expiresText) * 1000 <= nowMs) return null;
  return target;
}
