// Which response headers a shadow comparison looks at, and in what form (core/structural-diff does the comparing).
// Pure.
//
// Headers that differ between any two responses by nature (a clock, a request id, which host served it, an opaque
// validator derived from the bytes or the build) are never compared, even when asked for: a mismatch on them would
// be noise that hides the real ones. Set-Cookie values carry per-response session ids and expiry dates, so only the
// cookie names are compared (the service setting a cookie the monolith does not is worth knowing; its value is not).

/** Compared when a route names none. */
export const DEFAULT_COMPARED_HEADERS: readonly string[] = Object.freeze(['content-type', 'set-cookie']);

/** Never compared: they differ between two correct responses. */
export const NEVER_COMPARED_HEADERS: ReadonlySet<string> = new Set([
  'date',
  'x-request-id',
  'x-served-by',
  'etag',
  'last-modified',
  'age',
  'expires',
  'server',
  'via',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length', // the body hash already says whether the bytes are the same
]);

/** The headers of `asked` that are compared: the ones NEVER_COMPARED_HEADERS names are dropped. */
export function comparedHeaders(asked: readonly string[]): string[] {
  return asked.filter((name) => !NEVER_COMPARED_HEADERS.has(name));
}

/**
 * The comparable form of header `name` in a raw list, or null when absent. Repeats are joined in order (RFC 9110
 * §5.3); content-type is compared as a media type (case and spaces around `;` `=` do not matter, RFC 9110 §8.3.1);
 * set-cookie by the sorted set of cookie names.
 */
export function headerValue(raw: readonly string[], name: string): string | null {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && n.toLowerCase() === name) values.push(raw[i + 1]!.trim());
  }
  if (values.length === 0) return null;
  if (name === 'set-cookie') return cookieNames(values);
  if (name === 'content-type') return values.map(normalizeMediaType).join(', ');
  return values.join(', ');
}

function cookieNames(setCookies: readonly string[]): string {
  const names = new Set<string>();
  for (const value of setCookies) {
    const eq = value.indexOf('=');
    names.add((eq === -1 ? value : value.slice(0, eq)).trim());
  }
  return `names: ${[...names].sort().join(', ')}`;
}

function normalizeMediaType(value: string): string {
  return value
    .toLowerCase()
    .split(';')
    .map((part) =>
      part
        .split('=')
        .map((s) => s.trim())
        .join('='),
    )
    .filter((part) => part !== '')
    .join(';');
}
