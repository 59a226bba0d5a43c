// The structural differ: what exactly did the service answer differently from the monolith? Pure: both answers
// arrive as plain values (status, raw header list, body bytes or their digest), the rules as compiled data.
//
// Field paths. Every difference names the field it is about, in two forms:
//   path   the concrete place: `body.items[3].updatedAt`, `header.content-type`, `status`, `body`
//   field  the same with array indices folded to `[]` (`body.items[].updatedAt`): the key rules are written against
//          and noise is learned by, so the same field in every element of a list is one field.
// Object keys that are not plain identifiers are quoted (`body["a.b"]`), so a path never reads two ways.
//
// Kinds (Diffy's and Scientist's users ask "what kind of different?" before "how much"):
//   value       same type, different value            type        string vs number, object vs array, …
//   missing     the monolith has it, the service not  extra       the service has it, the monolith not
//   array_size  lists of different lengths            order       the same elements in another order
// Status and headers use `value` (and missing/extra for a header only one side sent). A non-JSON body is compared
// by length and sha256 (`value` at `body`); JSON against non-JSON is a `type` difference at `body`.
//
// Rules (routes.yaml `shadow.rules`, matched against `field`; `*` matches one segment, `**` any number):
//   ignore                         the field and everything below it is never compared
//   tolerance {absolute, relative} numbers within either bound are equal
//   timestamp <Δ>                  two date strings (ISO 8601 / RFC 3339) or epoch numbers within Δ are equal
//   sameShape                      strings of the same shape (a UUID for a UUID, `ord_123` for `ord_456`) are equal
//   array unordered                a list compared as a multiset: order never matters
//   array {key}                    list elements paired by the value of `key`, then compared field by field
//
// Bodies above `maxDiffBytes` are not parsed: equal digests still match, different ones are `skipped` with the
// reason, never silently counted as a match or a mismatch.

/** What one side answered. `body` is null when it was larger than the limit (then only the digest is known). */
export interface DiffAnswer {
  readonly status: number;
  /** Flat `[name, value, …]` list, any case, repeats kept. */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
  readonly bodyBytes: number;
  readonly bodySha256: string;
}

export type DiffKind = 'value' | 'type' | 'missing' | 'extra' | 'array_size' | 'order';

export interface FieldDifference {
  readonly field: string;
  readonly path: string;
  readonly kind: DiffKind;
  /** The monolith's value, shown (cut to a readable length); null when absent. */
  readonly legacy: string | null;
  /** The service's value, shown; null when absent. */
  readonly service: string | null;
}

export type DiffRule =
  | { readonly path: string; readonly kind: 'ignore' }
  | { readonly path: string; readonly kind: 'tolerance'; readonly absolute: number; readonly relative: number }
  | { readonly path: string; readonly kind: 'timestamp'; readonly withinMs: number }
  | { readonly path: string; readonly kind: 'same_shape' }
  | { readonly path: string; readonly kind: 'unordered' }
  | { readonly path: string; readonly kind: 'key'; readonly key: string };

export interface DiffOptions {
  /** Lower-case header names compared (case-insensitively on the wire). */
  readonly headers: readonly string[];
  readonly rules: readonly DiffRule[];
  readonly maxDiffBytes: number;
}

export type DiffResult =
  | {
      readonly result: 'compared';
      /** Empty: the answers are the same after the rules. */
      readonly differences: readonly FieldDifference[];
      /** Fields a rule made equal (ignored or within tolerance), for the "what did the rules absorb" counts. */
      readonly ruled: number;
    }
  | { readonly result: 'skipped'; readonly reason: string };

export const DEFAULT_MAX_DIFF_BYTES = 1024 * 1024;
/** Differences reported per comparison at most; the rest are one `…` entry (a broken service differs everywhere). */
export const MAX_DIFFERENCES = 50;
const MAX_SHOWN = 80;

// ---- rules ------------------------------------------------------------------------------------------------------

/** Splits a field path into segments: `body.items[].id` → [body, items, [], id]; `body["a.b"]` → [body, a.b]. */
export function pathSegments(path: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      if (i === 0 || i === path.length - 1) return null;
      i++;
      continue;
    }
    if (c === '[') {
      if (path.startsWith('[]', i)) {
        out.push('[]');
        i += 2;
        continue;
      }
      if (path[i + 1] !== '"') return null;
      const end = path.indexOf('"]', i + 2);
      if (end < 0) return null;
      out.push(path.slice(i + 2, end));
      i = end + 2;
      continue;
    }
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    out.push(path.slice(i, j));
    i = j;
  }
  return out.length > 0 ? out : null;
}

function segmentsMatch(pattern: readonly string[], p: number, field: readonly string[], f: number): boolean {
  if (p === pattern.length) return f === field.length;
  const seg = pattern[p];
  if (seg === '**') {
    for (let k = f; k <= field.length; k++) if (segmentsMatch(pattern, p + 1, field, k)) return true;
    return false;
  }
  if (f === field.length) return false;
  return (seg === '*' || seg === field[f]) && segmentsMatch(pattern, p + 1, field, f + 1);
}

interface CompiledRule {
  readonly rule: DiffRule;
  readonly segments: readonly string[];
}

function compileRules(rules: readonly DiffRule[]): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const rule of rules) {
    const segments = pathSegments(rule.path);
    if (segments !== null) out.push({ rule, segments });
  }
  return out;
}

// ---- values -----------------------------------------------------------------------------------------------------

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

function typeOf(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const t = typeof value;
  return t === 'boolean' || t === 'number' || t === 'string' ? t : 'object';
}

function isPrimitive(t: JsonType): boolean {
  return t !== 'object' && t !== 'array';
}

/** A value as a difference shows it: JSON, cut to MAX_SHOWN characters. */
export function show(value: unknown): string {
  // A string is cut inside its quotes, so it still reads as a string.
  if (typeof value === 'string')
    return JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN - 1)}…` : value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/** JSON with object keys sorted: two values that mean the same give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

function keySegment(key: string): string {
  return IDENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

// RFC 3339 / ISO 8601 date-times and dates: what a timestamp rule accepts as a string.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Milliseconds since the epoch for a date string or an epoch number (seconds below 1e11, else ms; below 1e9, i.e.
 * before 2001, a number is a count or a price, not a clock); else null.
 */
export function timestampMs(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 1e9) return value < 1e11 ? value * 1000 : value;
  if (typeof value !== 'string' || !ISO_DATE.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The shape of a value: UUIDs and ULIDs by kind, other strings with every digit as 9, every letter as a (A when
 * upper-case) and punctuation kept (`ord_123` → `aaa_999`), numbers by integer-ness.
 */
export function shapeOf(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value !== 'string') return typeOf(value);
  if (UUID.test(value)) return 'uuid';
  if (ULID.test(value)) return 'ulid';
  return value.replace(/[0-9]/g, '9').replace(/[a-z]/g, 'a').replace(/[A-Z]/g, 'A');
}

// ---- the walk ---------------------------------------------------------------------------------------------------

class Walk {
  readonly differences: FieldDifference[] = [];
  ruled = 0;
  readonly #rules: readonly CompiledRule[];
  #truncated = false;

  constructor(rules: readonly CompiledRule[]) {
    this.#rules = rules;
  }

  /** The last rule whose pattern matches `field` (later rules refine earlier ones). */
  ruleFor(segments: readonly string[]): DiffRule | null {
    let found: DiffRule | null = null;
    for (const r of this.#rules) if (segmentsMatch(r.segments, 0, segments, 0)) found = r.rule;
    return found;
  }

  add(segments: readonly string[], path: string, kind: DiffKind, legacy: unknown, service: unknown): void {
    if (this.differences.length >= MAX_DIFFERENCES) {
      if (!this.#truncated) {
        this.#truncated = true;
        this.differences.push({ field: '…', path: '…', kind: 'value', legacy: 'more differences', service: null });
      }
      return;
    }
    this.differences.push({
      field: fieldOf(segments),
      path,
      kind,
      legacy: legacy === undefined ? null : show(legacy),
      service: service === undefined ? null : show(service),
    });
  }

  compare(a: unknown, b: unknown, segments: string[], path: string): void {
    const rule = this.ruleFor(segments);
    if (rule?.kind === 'ignore') {
      if (canonicalJson(a) !== canonicalJson(b)) this.ruled++;
      return;
    }
    const ta = typeOf(a);
    const tb = typeOf(b);
    if (rule !== null && isPrimitive(ta) && isPrimitive(tb) && this.#primitiveRule(rule, a, b)) return;
    if (ta !== tb) {
      this.add(segments, path, 'type', a, b);
      return;
    }
    if (ta === 'object') {
      this.#objects(a as Record<string, unknown>, b as Record<string, unknown>, segments, path);
    } else if (ta === 'array') {
      this.#arrays(a as unknown[], b as unknown[], rule, segments, path);
    } else if (a !== b) {
      this.add(segments, path, 'value', a, b);
    }
  }

  /** True when `rule` makes two primitive values equal (counted as ruled when they were not already). */
  #primitiveRule(rule: DiffRule, a: unknown, b: unknown): boolean {
    if (a === b) return false;
    let equal = false;
    if (rule.kind === 'tolerance' && typeof a === 'number' && typeof b === 'number') {
      const delta = Math.abs(a - b);
      equal = delta <= rule.absolute || delta <= rule.relative * Math.max(Math.abs(a), Math.abs(b));
    } else if (rule.kind === 'timestamp') {
      const ta = timestampMs(a);
      const tb = timestampMs(b);
      equal = ta !== null && tb !== null && Math.abs(ta - tb) <= rule.withinMs;
    } else if (rule.kind === 'same_shape') {
      equal = typeOf(a) === typeOf(b) && shapeOf(a) === shapeOf(b);
    }
    if (equal) this.ruled++;
    return equal;
  }

  #objects(a: Record<string, unknown>, b: Record<string, unknown>, segments: string[], path: string): void {
    for (const key of Object.keys(a)) {
      const childSegments = [...segments, key];
      const childPath = path + keySegment(key);
      if (!Object.hasOwn(b, key)) {
        if (this.ruleFor(childSegments)?.kind === 'ignore') this.ruled++;
        else this.add(childSegments, childPath, 'missing', a[key], undefined);
      } else {
        this.compare(a[key], b[key], childSegments, childPath);
      }
    }
    for (const key of Object.keys(b)) {
      if (Object.hasOwn(a, key)) continue;
      const childSegments = [...segments, key];
      if (this.ruleFor(childSegments)?.kind === 'ignore') this.ruled++;
      else this.add(childSegments, path + keySegment(key), 'extra', undefined, b[key]);
    }
  }

  #arrays(a: unknown[], b: unknown[], rule: DiffRule | null, segments: string[], path: string): void {
    const item = [...segments, '[]'];
    if (rule?.kind === 'key') {
      this.#byKey(a, b, rule.key, item, path);
      return;
    }
    if (rule?.kind === 'unordered') {
      // As a multiset: pair equal elements first, then compare what is left in sorted order (the closest reading
      // of "which one changed" without a key).
      const left = sortCanonical(a);
      const right = sortCanonical(b);
      const unmatchedA: unknown[] = [];
      const unmatchedB: unknown[] = [];
      let i = 0;
      let j = 0;
      while (i < left.length || j < right.length) {
        const la = left[i];
        const rb = right[j];
        if (la !== undefined && rb !== undefined && la.text === rb.text) {
          i++;
          j++;
        } else if (rb === undefined || (la !== undefined && la.text < rb.text)) {
          unmatchedA.push(la?.value);
          i++;
        } else {
          unmatchedB.push(rb.value);
          j++;
        }
      }
      if (unmatchedA.length !== unmatchedB.length) this.add(segments, path, 'array_size', a.length, b.length);
      const n = Math.min(unmatchedA.length, unmatchedB.length);
      for (let k = 0; k < n; k++) this.compare(unmatchedA[k], unmatchedB[k], item, `${path}[]`);
      if (a.length !== b.length || unmatchedA.length > 0) return;
      if (!sameOrder(a, b)) this.ruled++;
      return;
    }
    if (a.length !== b.length) {
      this.add(segments, path, 'array_size', a.length, b.length);
      const n = Math.min(a.length, b.length);
      for (let k = 0; k < n; k++) this.compare(a[k], b[k], item, `${path}[${k}]`);
      return;
    }
    // Same length: same elements in another order is one `order` difference, not one per element.
    let differs = false;
    for (let k = 0; k < a.length && !differs; k++) differs = canonicalJson(a[k]) !== canonicalJson(b[k]);
    if (!differs) return;
    const sa = sortCanonical(a).map((e) => e.text);
    const sb = sortCanonical(b).map((e) => e.text);
    if (sa.every((text, k) => text === sb[k])) {
      this.add(segments, path, 'order', `${a.length} elements`, 'same elements, other order');
      return;
    }
    for (let k = 0; k < a.length; k++) this.compare(a[k], b[k], item, `${path}[${k}]`);
  }

  #byKey(a: unknown[], b: unknown[], key: string, item: string[], path: string): void {
    const keyOf = (e: unknown): string | null => {
      if (e === null || typeof e !== 'object' || Array.isArray(e)) return null;
      const v = (e as Record<string, unknown>)[key];
      return v === undefined ? null : canonicalJson(v);
    };
    const right = new Map<string, unknown>();
    const unkeyedB: unknown[] = [];
    for (const e of b) {
      const k = keyOf(e);
      if (k === null) unkeyedB.push(e);
      else right.set(k, e);
    }
    const unkeyedA: unknown[] = [];
    for (const e of a) {
      const k = keyOf(e);
      if (k === null) {
        unkeyedA.push(e);
        continue;
      }
      const label = `${path}[${key}=${k}]`;
      if (!right.has(k)) this.add(item, label, 'missing', e, undefined);
      else this.compare(e, right.get(k), item, label);
      right.delete(k);
    }
    for (const [k, e] of right) this.add(item, `${path}[${key}=${k}]`, 'extra', undefined, e);
    const n = Math.max(unkeyedA.length, unkeyedB.length);
    for (let k = 0; k < n; k++) {
      if (k >= unkeyedA.length) this.add(item, `${path}[]`, 'extra', undefined, unkeyedB[k]);
      else if (k >= unkeyedB.length) this.add(item, `${path}[]`, 'missing', unkeyedA[k], undefined);
      else this.compare(unkeyedA[k], unkeyedB[k], item, `${path}[]`);
    }
  }
}

function sortCanonical(list: readonly unknown[]): { text: string; value: unknown }[] {
  return list
    .map((value) => ({ text: canonicalJson(value), value }))
    .sort((x, y) => (x.text < y.text ? -1 : x.text > y.text ? 1 : 0));
}

function sameOrder(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.every((e, k) => canonicalJson(e) === canonicalJson(b[k]));
}

/** The field form of segments: `[]` for array elements, quoted keys where needed. */
export function fieldOf(segments: readonly string[]): string {
  let out = '';
  for (const seg of segments) {
    if (seg === '[]') out += '[]';
    else if (out === '') out = seg;
    else out += keySegment(seg);
  }
  return out;
}

// ---- answers ----------------------------------------------------------------------------------------------------

/** All values of header `name` (lower-case) in a raw list, joined in order (RFC 9110 §5.3); null when absent. */
export function headerValues(raw: readonly string[], name: string): string | null {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && n.toLowerCase() === name) values.push(raw[i + 1]!.trim());
  }
  return values.length === 0 ? null : values.join(', ');
}

/** Whether a content-type says JSON (`application/json`, `application/problem+json`, …). */
export function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || media.endsWith('+json');
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Compares the service's answer with the monolith's. `compareHeaderValue` gives a header's comparable form (the
 * caller's normalisation: media types, cookie names); by default the joined raw values.
 */
export function diffAnswers(
  legacy: DiffAnswer,
  service: DiffAnswer,
  options: DiffOptions,
  compareHeaderValue: (raw: readonly string[], name: string) => string | null = headerValues,
): DiffResult {
  const walk = new Walk(compileRules(options.rules));
  if (legacy.status !== service.status) walk.add(['status'], 'status', 'value', legacy.status, service.status);
  for (const name of options.headers) {
    const segments = ['header', name];
    if (walk.ruleFor(segments)?.kind === 'ignore') continue;
    const a = compareHeaderValue(legacy.headers, name);
    const b = compareHeaderValue(service.headers, name);
    if (a === b) continue;
    const path = `header.${name}`;
    if (a === null) walk.add(segments, path, 'extra', undefined, b);
    else if (b === null) walk.add(segments, path, 'missing', a, undefined);
    else walk.add(segments, path, 'value', a, b);
  }

  const bodyRule = walk.ruleFor(['body']);
  if (bodyRule?.kind !== 'ignore' && legacy.bodySha256 !== service.bodySha256) {
    if (legacy.body === null || service.body === null) {
      const bytes = Math.max(legacy.bodyBytes, service.bodyBytes);
      return {
        result: 'skipped',
        reason: `body of ${bytes} bytes is over maxDiffBytes ${options.maxDiffBytes}: digests differ, fields not compared`,
      };
    }
    const jsonA = isJsonType(headerValues(legacy.headers, 'content-type'));
    const jsonB = isJsonType(headerValues(service.headers, 'content-type'));
    const a = jsonA ? parseJson(legacy.body) : null;
    const b = jsonB ? parseJson(service.body) : null;
    if (a?.ok && b?.ok) {
      walk.compare(a.value, b.value, ['body'], 'body');
    } else if ((a?.ok ?? false) !== (b?.ok ?? false)) {
      walk.add(['body'], 'body', 'type', a?.ok ? 'JSON' : 'not JSON', b?.ok ? 'JSON' : 'not JSON');
    } else {
      walk.add(
        ['body'],
        'body',
        'value',
        `${legacy.bodyBytes} bytes sha256 ${legacy.bodySha256.slice(0, 12)}`,
        `${service.bodyBytes} bytes sha256 ${service.bodySha256.slice(0, 12)}`,
      );
    }
  }
  return { result: 'compared', differences: walk.differences, ruled: walk.ruled };
}

/** One line for a log: `path kind legacy != service; …`, cut to a readable length. */
export function describeFieldDifferences(differences: readonly FieldDifference[]): string {
  const text = differences
    .map((d) => `${d.path} ${d.kind} ${d.legacy ?? '(absent)'} != ${d.service ?? '(absent)'}`)
    .join('; ');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
