// Request-target and framing checks run before a request is routed.
//
// Policy: REFUSE, never normalise. A proxy that rewrites an ambiguous path (decodes `%2f`, resolves `..`, strips
// `;jsessionid`) matches one path and forwards another, or forwards the raw one that the upstream then resolves
// differently (the "path confusion" family: Orange Tsai, "Breaking Parser Logic", Black Hat 2018). So the edge
// answers 400 for any raw path holding:
//   - `%2f` / `%5c` (any case): an encoded separator that some upstreams decode into a real one   → encoded_slash /
//                                                                                                  encoded_backslash
//   - `\`: Windows-style separator several servers treat as `/`                                   → backslash
//   - NUL, raw or `%00`: truncates paths in C-based servers                                        → nul
//   - a dot segment `.` / `..` (RFC 3986 §3.3), raw or with any of its dots percent-encoded
//     (`%2e`, `.%2E`), including trailing `/.` and `/..`                                           → dot_segment
//   - `;` in the path, raw or `%3b`: matrix/path parameters (`/admin;x=1/`) that Tomcat/Jetty/
//     Spring strip before matching while find-my-way would not (Jetty also calls an encoded `;`
//     an ambiguous path parameter and refuses it)                                                  → matrix_param
//   - a malformed escape (`%zz`, `%4`), a percent-encoded sequence that is not UTF-8, or a raw
//     control character                                                                            → bad_encoding
// Double (or deeper) encodings are decoded repeatedly, bounded, only to LOOK for the forms above: `%252e%252e`,
// `%252f`, `%255c`, `%2500`, `%253b` are refused because an upstream that decodes twice would see them (nesting
// deeper than MAX_DECODE_ROUNDS is refused as bad_encoding). A lone `%25` that hides none of them (`/100%25`) is fine.
// The request target must be origin-form (RFC 9112 §3.2.1): absolute-form (`http://host/p`) is refused as
// absolute_form, authority-form (`host:443`), asterisk-form (`*`) or anything not starting with `/` as
// not_origin_form, and so is a raw `#` (a fragment is never part of a request target, and find-my-way would cut the
// path there while the upstream would not).
//
// Empty segments (`//`) are routed as if merged, and forwarded as written: nginx (`merge_slashes on`, its default),
// Apache, Spring and many frameworks serve `/api//agents/1` and `//api/agents/1` as `/api/agents/1`, so matching
// them as written would let a client reach the monolith's copy of an endpoint that a route has moved to a service
// (the legacy handler may lack the service's fixes, or its access rules). Matching on the merged form sends every
// spelling of a path to the same place; the upstream still receives the raw bytes (a server that merges serves the
// same resource, one that does not answers 404 — it never reaches a different handler). Refusing them instead would
// break links that work today (`https://shop//cart` from careless concatenation is common). A trailing `/` is not an
// empty segment and stays significant (`/reports/daily/` is not `/reports/daily`).
//
// On success `path` is the raw path byte for byte (it is what the upstream receives) and `query` the raw text after
// the first `?` (null when there was no `?`, '' for a bare `?`), so signed URLs survive. `normalizedPath` is the form
// routes are matched on (see matchPath).

export type PathRefusal =
  | 'absolute_form'
  | 'encoded_slash'
  | 'encoded_backslash'
  | 'dot_segment'
  | 'nul'
  | 'matrix_param'
  | 'bad_encoding'
  | 'backslash'
  | 'not_origin_form';

export type RequestTargetCheck =
  | { readonly ok: true; readonly path: string; readonly query: string | null; readonly normalizedPath: string }
  | { readonly ok: false; readonly reason: PathRefusal; readonly detail: string };

export type HeaderRefusal =
  | 'duplicate_host'
  | 'cl_te_conflict'
  | 'duplicate_content_length'
  | 'bad_content_length'
  | 'bad_transfer_encoding';

/** An encoding nested deeper than this (`%25252525…`) has no honest use and is refused. */
const MAX_DECODE_ROUNDS = 4;

const CH_PERCENT = 0x25;
const CH_DOT = 0x2e;
const CH_SLASH = 0x2f;
const CH_SEMICOLON = 0x3b;
const CH_BACKSLASH = 0x5c;

function refuse(reason: PathRefusal, detail: string): RequestTargetCheck {
  return { ok: false, reason, detail };
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Checks a raw request target (`req.url`) and splits it into the raw path and raw query.
 * Pure and allocation-free on the common path (no `%`, no dot segment): two slices at most.
 */
export function checkRequestTarget(rawUrl: string): RequestTargetCheck {
  if (rawUrl.charCodeAt(0) !== CH_SLASH) {
    // Absolute-form is the only other form a client may legitimately send to a proxy (RFC 9112 §3.2.2); name it.
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawUrl)) {
      return refuse('absolute_form', 'absolute-form request targets are not accepted; send origin-form (/path)');
    }
    return refuse('not_origin_form', 'the request target must start with "/"');
  }

  const queryAt = rawUrl.indexOf('?');
  const pathEnd = queryAt === -1 ? rawUrl.length : queryAt;
  if (rawUrl.indexOf('#') !== -1) {
    return refuse('not_origin_form', 'a fragment ("#") is not part of a request target');
  }

  let hasPercent = false;
  let hasEmptySegment = false;
  let segmentStart = 1; // index just after the last '/'
  for (let i = 1; i <= pathEnd; i++) {
    const code = i === pathEnd ? CH_SLASH : rawUrl.charCodeAt(i);
    if (code === CH_SLASH) {
      const len = i - segmentStart;
      // `//` inside the path; the end of the path (a trailing `/`) is not one.
      if (len === 0 && i !== pathEnd) hasEmptySegment = true;
      if (
        (len === 1 && rawUrl.charCodeAt(segmentStart) === CH_DOT) ||
        (len === 2 && rawUrl.charCodeAt(segmentStart) === CH_DOT && rawUrl.charCodeAt(segmentStart + 1) === CH_DOT)
      ) {
        return refuse('dot_segment', `dot segment "${rawUrl.slice(segmentStart, i)}" in the path`);
      }
      segmentStart = i + 1;
    } else if (code === CH_PERCENT) {
      hasPercent = true;
    } else if (code === CH_BACKSLASH) {
      return refuse('backslash', 'a backslash in the path');
    } else if (code === CH_SEMICOLON) {
      return refuse('matrix_param', '";" (a path parameter) in the path');
    } else if (code === 0) {
      return refuse('nul', 'a NUL byte in the path');
    } else if (code <= 0x20 || code === 0x7f) {
      return refuse('bad_encoding', `control character 0x${code.toString(16).padStart(2, '0')} in the path`);
    }
  }

  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt === -1 ? null : rawUrl.slice(queryAt + 1);
  if (!hasPercent) return { ok: true, path, query, normalizedPath: hasEmptySegment ? mergeSlashes(path) : path };

  const encodedProblem = checkEncodedPath(path);
  if (encodedProblem !== null) return encodedProblem;
  return { ok: true, path, query, normalizedPath: normalizeEscapes(hasEmptySegment ? mergeSlashes(path) : path) };
}

/** `/a//b///c/` → `/a/b/c/`: runs of `/` become one, as servers that merge slashes read the path. */
function mergeSlashes(path: string): string {
  return path.replace(MULTIPLE_SLASHES, '/');
}

const MULTIPLE_SLASHES = /\/{2,}/g;

/** The slow path, only for paths holding `%`: escapes well-formed, UTF-8, and hiding nothing dangerous. */
function checkEncodedPath(path: string): RequestTargetCheck | null {
  let mayHideDots = false; // `%2e` or `%25` seen: look at segments (dot segments, nested encodings)
  let hasHighBytes = false; // non-ASCII escapes: check they are UTF-8
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) !== CH_PERCENT) continue;
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) {
      return refuse('bad_encoding', `malformed percent-escape "${path.slice(i, i + 3)}"`);
    }
    const byte = (hi << 4) | lo;
    if (byte === CH_SLASH) return refuse('encoded_slash', `encoded "/" (${path.slice(i, i + 3)}) in the path`);
    if (byte === CH_BACKSLASH) {
      return refuse('encoded_backslash', `encoded "\\" (${path.slice(i, i + 3)}) in the path`);
    }
    if (byte === 0) return refuse('nul', 'encoded NUL (%00) in the path');
    if (byte === CH_SEMICOLON) return refuse('matrix_param', `encoded ";" (${path.slice(i, i + 3)}) in the path`);
    if (byte === CH_DOT || byte === CH_PERCENT) mayHideDots = true;
    else if (byte >= 0x80) hasHighBytes = true;
    i += 2;
  }
  if (hasHighBytes) {
    // A percent-encoded byte sequence that is not UTF-8 would make find-my-way (and many upstreams) fail or guess.
    try {
      decodeURIComponent(path);
    } catch {
      return refuse('bad_encoding', 'percent-encoded bytes are not valid UTF-8');
    }
  }
  if (!mayHideDots) return null;
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i !== path.length && path.charCodeAt(i) !== CH_SLASH) continue;
    if (i > segmentStart) {
      const problem = checkEncodedSegment(path.slice(segmentStart, i));
      if (problem !== null) return problem;
    }
    segmentStart = i + 1;
  }
  return null;
}

function checkEncodedSegment(segment: string): RequestTargetCheck | null {
  let current = segment;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    if (current.indexOf('%') === -1) return null;
    const decoded = percentDecodeBytes(current);
    if (decoded === current) return null;
    const layer = round === 0 ? 'encoded' : 'double-encoded';
    if (decoded.indexOf('/') !== -1) return refuse('encoded_slash', `${layer} "/" in path segment "${segment}"`);
    if (decoded.indexOf('\\') !== -1) {
      return refuse('encoded_backslash', `${layer} "\\" in path segment "${segment}"`);
    }
    if (decoded.indexOf('\0') !== -1) return refuse('nul', `${layer} NUL in path segment "${segment}"`);
    if (decoded.indexOf(';') !== -1) return refuse('matrix_param', `${layer} ";" in path segment "${segment}"`);
    if (decoded === '.' || decoded === '..') {
      return refuse('dot_segment', `${layer} dot segment "${segment}" in the path`);
    }
    current = decoded;
  }
  return current.indexOf('%') === -1
    ? null
    : refuse('bad_encoding', `percent-encoding nested more than ${MAX_DECODE_ROUNDS} levels deep in "${segment}"`);
}

/** One round of percent-decoding to bytes (as latin1 code units); malformed escapes stay as they are. */
function percentDecodeBytes(text: string): string {
  let out = '';
  let copiedTo = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== CH_PERCENT) continue;
    const hi = hexValue(text.charCodeAt(i + 1));
    const lo = hexValue(text.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) continue;
    out += text.slice(copiedTo, i) + String.fromCharCode((hi << 4) | lo);
    copiedTo = i + 3;
    i += 2;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}

function isUnreserved(code: number): boolean {
  // RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~"
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

const HEX_UPPER = '0123456789ABCDEF';

/**
 * The form of a path that routes are matched on: percent-encoded unreserved characters decoded (`%41` → `A`,
 * `%7e` → `~`) and the hex of every other escape upper-cased (`%c3%a9` → `%C3%A9`) — the equivalences RFC 3986
 * §6.2.2.1–2 guarantee every conforming upstream also applies, so the route matched is the route the upstream
 * serves — and runs of `/` merged into one, as many upstreams do (see the top of this file). Reserved characters (`%3F`, `%23`, `%40`…), `%25` and non-ASCII stay encoded: decoding them would
 * change the path's meaning or open a second decoding (find-my-way decodes the non-ASCII ones itself, once).
 * Call it only on a path `checkRequestTarget` accepted; `checkRequestTarget` already returns it as `normalizedPath`.
 */
export function matchPath(path: string): string {
  const merged = path.indexOf('//') === -1 ? path : mergeSlashes(path);
  if (merged.indexOf('%') === -1) return merged;
  return normalizeEscapes(merged);
}

function normalizeEscapes(path: string): string {
  let out = '';
  let copiedTo = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) !== CH_PERCENT) continue;
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) continue;
    const byte = (hi << 4) | lo;
    out += path.slice(copiedTo, i);
    out += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX_UPPER[hi] + HEX_UPPER[lo];
    copiedTo = i + 3;
    i += 2;
  }
  return copiedTo === 0 ? path : out + path.slice(copiedTo);
}

// ---- framing headers (request smuggling) --------------------------------------------------------------------------

function equalsIgnoreCase(name: string, lowerName: string): boolean {
  return name.length === lowerName.length && (name === lowerName || name.toLowerCase() === lowerName);
}

const DIGITS = /^[0-9]+$/;

/**
 * Refuses requests whose framing two HTTP parsers could read differently (RFC 9112 §6.3, §6.1):
 * - two `Host` headers (RFC 9112 §3.2: a server MUST answer 400)                            → duplicate_host
 * - `Transfer-Encoding` together with `Content-Length` (§6.1: a proxy MUST NOT forward both;
 *   refusing is the safe reading of "ought to be handled as an error")                        → cl_te_conflict
 * - several `Content-Length` values that differ (headers or a comma list, §6.3 rule 5)       → duplicate_content_length
 *   (identical repeats such as `42, 42` are accepted, as §6.3 allows)
 * - a `Content-Length` that is not 1*DIGIT (`+5`, `-1`, `0x10`, empty)                        → bad_content_length
 * - any `Transfer-Encoding` other than exactly one `chunked` (case-insensitive). RFC 9112 allows
 *   `gzip, chunked`, but Node does not decode transfer codings, so forwarding it would hand the
 *   upstream gzip bytes as an identity body; and a non-final or repeated `chunked` is the classic
 *   smuggling vector                                                                           → bad_transfer_encoding
 * `rawHeaders` is Node's `req.rawHeaders`: [name, value, name, value, …] as received.
 */
export function checkHeaders(rawHeaders: readonly string[]): null | { reason: HeaderRefusal } {
  let hosts = 0;
  let contentLength: string | null = null;
  let transferEncoding: string | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const len = name.length;
    if (len !== 4 && len !== 14 && len !== 17) continue;
    const value = rawHeaders[i + 1]!;
    if (equalsIgnoreCase(name, 'host')) {
      hosts++;
      if (hosts > 1) return { reason: 'duplicate_host' };
    } else if (equalsIgnoreCase(name, 'content-length')) {
      for (const part of value.split(',')) {
        const trimmed = part.trim();
        if (!DIGITS.test(trimmed)) return { reason: 'bad_content_length' };
        // `007` and `7` frame the same body; compare without leading zeros (not as numbers: 2^53 would round).
        const normalized = trimmed.replace(/^0+(?=[0-9])/, '');
        if (contentLength === null) contentLength = normalized;
        else if (contentLength !== normalized) return { reason: 'duplicate_content_length' };
      }
    } else if (equalsIgnoreCase(name, 'transfer-encoding')) {
      transferEncoding = transferEncoding === null ? value : transferEncoding + ',' + value;
    }
  }
  if (transferEncoding !== null) {
    if (contentLength !== null) return { reason: 'cl_te_conflict' };
    if (transferEncoding.trim().toLowerCase() !== 'chunked') return { reason: 'bad_transfer_encoding' };
  }
  return null;
}
