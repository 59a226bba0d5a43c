// Does the service answer like the monolith? The edge serves a shadowed request from legacy and copies it to the
// service; once both answers are in, this compares them: status, body (by sha256, so neither body is kept), and a
// chosen set of response headers. Pure: the answers arrive as plain values.
//
// Headers that differ between any two responses by nature (a clock, a request id, which host served it, an opaque
// validator derived from the bytes or the build) are never compared, even when asked for: a mismatch on them would
// be noise that hides the real ones. Set-Cookie values carry per-response session ids and expiry dates, so only the
// cookie names are compared (the service setting a cookie the monolith does not is worth knowing; its value is not).

/** What one side answered, as far as the comparison needs it. */
export interface ShadowAnswer {
  readonly status: number;
  /** The response headers as a flat `[name, value, …]` list (raw: any case, repeats kept). */
  readonly headers: readonly string[];
  /** Hex sha256 of the body as it was delivered (the empty body's hash when there was none). */
  readonly bodySha256: string;
  readonly bodyBytes: number;
}

export type ShadowComparison =
  | { readonly result: 'match' }
  | {
      readonly result: 'mismatch';
      /** What differed, one short phrase each: `status 200 != 500`, `header content-type …`, `body …`. */
      readonly differences: readonly string[];
    };

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

/** Values longer than this are cut in a difference description (it goes into a log line). */
const MAX_SHOWN = 80;

/**
 * Compares the service's answer (`shadow`) with the monolith's (`primary`). `headers` are lower-case names; names in
 * NEVER_COMPARED_HEADERS are skipped.
 */
export function compareShadow(
  primary: ShadowAnswer,
  shadow: ShadowAnswer,
  headers: readonly string[] = DEFAULT_COMPARED_HEADERS,
): ShadowComparison {
  const differences: string[] = [];
  if (primary.status !== shadow.status) differences.push(`status ${primary.status} != ${shadow.status}`);
  for (const name of headers) {
    if (NEVER_COMPARED_HEADERS.has(name)) continue;
    const a = headerValue(primary.headers, name);
    const b = headerValue(shadow.headers, name);
    if (a !== b) differences.push(`header ${name} ${show(a)} != ${show(b)}`);
  }
  if (primary.bodySha256 !== shadow.bodySha256) {
    differences.push(
      primary.bodyBytes === shadow.bodyBytes
        ? `body differs (${primary.bodyBytes} bytes each)`
        : `body ${primary.bodyBytes} != ${shadow.bodyBytes} bytes`,
    );
  }
  return differences.length === 0 ? { result: 'match' } : { result: 'mismatch', differences };
}

/** One line for a log: the differences joined, cut to a readable length. */
export function describeDifferences(differences: readonly string[]): string {
  const text = differences.join('; ');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
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

function show(value: string | null): string {
  if (value === null) return '(absent)';
  const text = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN - 1)}…` : value;
  return JSON.stringify(text);
}
