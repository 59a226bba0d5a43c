// Query and header operations (Kong request-transformer's rename/remove/replace/add for querystring and headers,
// Envoy's request_headers_to_add/remove). Query pairs stay percent-encoded: names and values are compared decoded
// and only a pair a rule touches is re-encoded, so everything else reaches the service byte for byte.

import { type ExpandPart, expandTemplate, matchExpandTemplate } from './path-template.ts';
import { AdapterFailure, type QueryPair } from './types.ts';

/** The operations query and header rules share: one named field renamed, dropped, set, or given a default. */
type NamedFieldRule =
  | { readonly op: 'rename'; readonly from: string; readonly to: string }
  | { readonly op: 'drop'; readonly name: string }
  | { readonly op: 'set'; readonly name: string; readonly value: string }
  | { readonly op: 'default'; readonly name: string; readonly value: string };

export type QueryRule =
  | NamedFieldRule
  | {
      readonly op: 'map';
      readonly name: string;
      readonly values: ReadonlyMap<string, string>;
      readonly unmapped: 'fail' | 'keep' | 'drop';
    };

export type HeaderRule =
  | NamedFieldRule
  | {
      readonly op: 'rewrite';
      readonly name: string;
      readonly from: readonly ExpandPart[];
      readonly to: readonly ExpandPart[];
    };

export interface Labelled<T> {
  readonly rule: string;
  readonly spec: T;
}

/** `a=1&b&c=%2F` → pairs, raw; '' → none. */
export function parseQuery(raw: string): QueryPair[] {
  if (raw === '') return [];
  return raw.split('&').map((part) => {
    const eq = part.indexOf('=');
    return eq === -1 ? { name: part, value: null } : { name: part.slice(0, eq), value: part.slice(eq + 1) };
  });
}

export function formatQuery(pairs: readonly QueryPair[]): string {
  return pairs.map((p) => (p.value === null ? p.name : `${p.name}=${p.value}`)).join('&');
}

/** application/x-www-form-urlencoded decoding ('+' is a space); a malformed escape reads as the raw text. */
export function decodeQueryComponent(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

export function applyQueryRules(pairs: readonly QueryPair[], rules: readonly Labelled<QueryRule>[]): QueryPair[] {
  let out = [...pairs];
  for (const { rule, spec } of rules) {
    switch (spec.op) {
      case 'rename':
        out = out.map((p) =>
          decodeQueryComponent(p.name) === spec.from ? { name: encodeURIComponent(spec.to), value: p.value } : p,
        );
        break;
      case 'drop':
        out = out.filter((p) => decodeQueryComponent(p.name) !== spec.name);
        break;
      case 'set':
        out = out.filter((p) => decodeQueryComponent(p.name) !== spec.name);
        out.push({ name: encodeURIComponent(spec.name), value: encodeURIComponent(spec.value) });
        break;
      case 'default':
        if (!out.some((p) => decodeQueryComponent(p.name) === spec.name)) {
          out.push({ name: encodeURIComponent(spec.name), value: encodeURIComponent(spec.value) });
        }
        break;
      case 'map': {
        const next: QueryPair[] = [];
        for (const p of out) {
          if (decodeQueryComponent(p.name) !== spec.name) {
            next.push(p);
            continue;
          }
          const value = decodeQueryComponent(p.value ?? '');
          const mapped = spec.values.get(value);
          if (mapped !== undefined) next.push({ name: p.name, value: encodeURIComponent(mapped) });
          else if (spec.unmapped === 'keep') next.push(p);
          else if (spec.unmapped === 'fail') {
            throw new AdapterFailure(rule, `query ${spec.name}: no mapping for ${JSON.stringify(value)}`);
          }
        }
        out = next;
        break;
      }
    }
  }
  return out;
}

function sameName(a: string, lowerB: string): boolean {
  return a.length === lowerB.length && a.toLowerCase() === lowerB;
}

/** First value of a header in a flat list, case-insensitively; undefined when absent. */
export function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (sameName(headers[i] as string, lowerName)) return headers[i + 1];
  return undefined;
}

/** A flat list without the named headers (lower-case names). */
export function withoutHeaders(headers: readonly string[], lowerNames: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!lowerNames.has(name.toLowerCase())) out.push(name, headers[i + 1] as string);
  }
  return out;
}

export function applyHeaderRules(headers: readonly string[], rules: readonly Labelled<HeaderRule>[]): string[] {
  let out = [...headers];
  for (const { spec } of rules) {
    switch (spec.op) {
      case 'rename':
        for (let i = 0; i < out.length; i += 2) if (sameName(out[i] as string, spec.from)) out[i] = spec.to;
        break;
      case 'drop':
        out = withoutHeaders(out, new Set([spec.name]));
        break;
      case 'set':
        out = withoutHeaders(out, new Set([spec.name]));
        out.push(spec.name, spec.value);
        break;
      case 'default':
        if (headerValue(out, spec.name) === undefined) out.push(spec.name, spec.value);
        break;
      case 'rewrite':
        for (let i = 0; i < out.length; i += 2) {
          if (!sameName(out[i] as string, spec.name)) continue;
          out[i + 1] = rewriteValue(out[i + 1] as string, spec.from, spec.to);
        }
        break;
    }
  }
  return out;
}

/**
 * Rewrites a path-like header value (Location, Content-Location, Link targets) from one template to the other. An
 * absolute URL keeps its origin and only its path is rewritten; a value the template does not match stays as is.
 */
function rewriteValue(value: string, from: readonly ExpandPart[], to: readonly ExpandPart[]): string {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(value)?.[0] ?? '';
  const rest = value.slice(origin.length);
  const q = rest.search(/[?#]/);
  const path = q === -1 ? rest : rest.slice(0, q);
  const params = matchExpandTemplate(from, path);
  if (params === null) return value;
  return origin + expandTemplate(to, params) + (q === -1 ? '' : rest.slice(q));
}
