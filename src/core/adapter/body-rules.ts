// The JSON body operations of the declarative adapters, in the vocabulary gateways share: Kong's
// request/response-transformer (rename, remove, replace, add, append), KrakenD's mapping/allow/deny/group/target,
// Skipper's modify filters. Each rule is applied to every place its path reaches (fanning out over `[]`), in order.
// Reads that find nothing skip quietly except where a rule says the value must be there (`require`, `map` with
// `unmapped: fail`, `unwrap`, `convert` of a present value of the wrong type): those throw an AdapterFailure.

import {
  type FieldPath,
  forEachParent,
  formatFieldPath,
  getAt,
  isObject,
  scopeTargets,
  splitAtEach,
} from './json-path.ts';
import { AdapterFailure, type JsonValue } from './types.ts';

export type Conversion = 'iso-to-epoch-ms' | 'epoch-ms-to-iso' | 'to-string' | 'to-number';
export const CONVERSIONS: readonly Conversion[] = ['iso-to-epoch-ms', 'epoch-ms-to-iso', 'to-string', 'to-number'];
export type Unmapped = 'fail' | 'keep' | 'drop';

/** A piece of a `format` template: text, or `{a.b}` read from the body before the rule runs. */
export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly path: FieldPath };

export type BodyRule =
  | { readonly op: 'rename'; readonly path: FieldPath; readonly to: string }
  | { readonly op: 'move'; readonly from: FieldPath; readonly to: FieldPath }
  | { readonly op: 'drop'; readonly path: FieldPath }
  | { readonly op: 'default'; readonly path: FieldPath; readonly value: JsonValue }
  | { readonly op: 'set'; readonly path: FieldPath; readonly value: JsonValue }
  | {
      readonly op: 'map';
      readonly path: FieldPath;
      readonly values: ReadonlyMap<string, JsonValue>;
      readonly unmapped: Unmapped;
    }
  | { readonly op: 'convert'; readonly path: FieldPath; readonly to: Conversion }
  | { readonly op: 'format'; readonly path: FieldPath; readonly template: readonly TemplatePart[] }
  | { readonly op: 'wrap'; readonly key: string }
  | { readonly op: 'unwrap'; readonly key: string }
  | { readonly op: 'require'; readonly path: FieldPath };

/** A rule and its name in messages and metrics, e.g. `list.response.body[2].map`. */
export interface LabelledBodyRule {
  readonly rule: string;
  readonly spec: BodyRule;
}

/** Applies the rules in order; the body may be changed in place (it is the edge's own parse of the wire bytes). */
export function applyBodyRules(body: JsonValue, rules: readonly LabelledBodyRule[]): JsonValue {
  let current = body;
  for (const { rule, spec } of rules) current = applyOne(current, spec, rule);
  return current;
}

function copy(value: JsonValue): JsonValue {
  // Values from the adapter file are shared by every request: each body gets its own.
  return typeof value === 'object' && value !== null ? (JSON.parse(JSON.stringify(value)) as JsonValue) : value;
}

function applyOne(body: JsonValue, spec: BodyRule, rule: string): JsonValue {
  switch (spec.op) {
    case 'wrap':
      return { [spec.key]: body };
    case 'unwrap': {
      if (!isObject(body) || body[spec.key] === undefined) {
        throw new AdapterFailure(rule, `expected an object with "${spec.key}" to unwrap`);
      }
      return body[spec.key] as JsonValue;
    }
    case 'rename':
      forEachParent(body, spec.path, false, (parent, key) => {
        if (!Object.hasOwn(parent, key) || key === spec.to) return;
        renameInPlace(parent, key, spec.to);
      });
      return body;
    case 'move': {
      const split = splitAtEach(spec.from, spec.to);
      if (split === null) throw new AdapterFailure(rule, 'move cannot leave the array its source is in');
      for (const scope of split.scope.length === 0 ? [body] : scopeTargets(body, split.scope)) {
        let value: JsonValue | undefined;
        forEachParent(scope, split.from, false, (parent, key) => {
          if (!Object.hasOwn(parent, key)) return;
          value = parent[key];
          delete parent[key];
        });
        if (value === undefined) continue;
        const moved = value;
        forEachParent(scope, split.to, true, (parent, key) => {
          parent[key] = moved;
        });
      }
      return body;
    }
    case 'drop':
      forEachParent(body, spec.path, false, (parent, key) => {
        delete parent[key];
      });
      return body;
    case 'default':
      forEachParent(body, spec.path, true, (parent, key) => {
        if (parent[key] === undefined) parent[key] = copy(spec.value);
      });
      return body;
    case 'set':
      forEachParent(body, spec.path, true, (parent, key) => {
        parent[key] = copy(spec.value);
      });
      return body;
    case 'map':
      forEachParent(body, spec.path, false, (parent, key) => {
        const value = parent[key];
        if (value === undefined) return;
        const mapped = spec.values.get(mapKey(value));
        if (mapped !== undefined) parent[key] = copy(mapped);
        else if (spec.unmapped === 'drop') delete parent[key];
        else if (spec.unmapped === 'fail') {
          throw new AdapterFailure(rule, `${formatFieldPath(spec.path)}: no mapping for ${JSON.stringify(value)}`);
        }
      });
      return body;
    case 'convert':
      forEachParent(body, spec.path, false, (parent, key) => {
        const value = parent[key];
        if (value === undefined || value === null) return;
        parent[key] = convert(value, spec.to, rule, spec.path);
      });
      return body;
    case 'format': {
      // Fields are read before anything is written, so `message: "{error.field} {message}"` sees the old message.
      // A template whose fields are absent leaves the target alone (an error without a field keeps its own
      // message); put a `require` before it to insist.
      let text = '';
      for (const part of spec.template) {
        if (part.kind === 'text') {
          text += part.text;
          continue;
        }
        const value = getAt(body, part.path);
        if (value === undefined || value === null) return body;
        if (typeof value === 'object') {
          throw new AdapterFailure(rule, `template field ${formatFieldPath(part.path)} is not a scalar`);
        }
        text += String(value);
      }
      forEachParent(body, spec.path, true, (parent, key) => {
        parent[key] = text;
      });
      return body;
    }
    case 'require': {
      let missing = false;
      const last = spec.path[spec.path.length - 1];
      if (spec.path.some((s) => s.kind === 'each') || last?.kind !== 'key') {
        forEachParent(body, spec.path, false, (parent, key) => {
          if (parent[key] === undefined) missing = true;
        });
      } else missing = getAt(body, spec.path) === undefined;
      if (missing) throw new AdapterFailure(rule, `${formatFieldPath(spec.path)} is required and missing`);
      return body;
    }
  }
}

/**
 * Renames a key where it stands: JSON field order is not meaning, but a v1 client (or a shadow comparison of bytes)
 * sees the same order the old contract wrote when only names change. A field already named `to` is replaced.
 */
function renameInPlace(parent: { [key: string]: JsonValue }, from: string, to: string): void {
  const entries = Object.entries(parent);
  for (const key of Object.keys(parent)) delete parent[key];
  for (const [key, value] of entries) {
    if (key === to) continue;
    parent[key === from ? to : key] = value;
  }
}

/** Map keys are written in YAML, where every key is a string: values are matched by their JSON text (`true`, `3`). */
export function mapKey(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function convert(value: JsonValue, to: Conversion, rule: string, path: FieldPath): JsonValue {
  const where = formatFieldPath(path);
  switch (to) {
    case 'iso-to-epoch-ms': {
      const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (Number.isNaN(ms))
        throw new AdapterFailure(rule, `${where}: ${JSON.stringify(value)} is not an ISO 8601 time`);
      return ms;
    }
    case 'epoch-ms-to-iso': {
      if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > 8.64e15) {
        throw new AdapterFailure(rule, `${where}: ${JSON.stringify(value)} is not epoch milliseconds`);
      }
      return new Date(value).toISOString();
    }
    case 'to-string':
      if (typeof value === 'object') throw new AdapterFailure(rule, `${where}: cannot turn an object into a string`);
      return String(value);
    case 'to-number': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : Number.NaN;
      if (!Number.isFinite(n)) throw new AdapterFailure(rule, `${where}: ${JSON.stringify(value)} is not a number`);
      return n;
    }
  }
}

/** `{error.field} {error.reason}` → parts; returns the problem in words when a `{…}` is not a field path. */
export function parseFormatTemplate(
  template: string,
  parsePath: (text: string) => FieldPath | string,
): TemplatePart[] | string {
  const parts: TemplatePart[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push({ kind: 'text', text: template.slice(last, m.index) });
    const path = parsePath(m[1] ?? '');
    if (typeof path === 'string') return path;
    if (path.some((s) => s.kind === 'each')) return `"{${m[1]}}": a template reads one value, not every element`;
    parts.push({ kind: 'field', path });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ kind: 'text', text: template.slice(last) });
  return parts;
}
