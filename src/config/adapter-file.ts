// legacy-adapter/<name>.yaml → a DeclaredAdapter, or every problem in the file at once with its line and column
// (the same `file:line:col message` as routes.yaml). The format is a list of operations, each an endpoint of the old
// contract (`match`) with what changes on the way to the service (`request`) and on the way back (`response`);
// the rule vocabulary is documented in README.md ("legacy-adapter/").

import { createHash } from 'node:crypto';
import { LineCounter, parseDocument } from 'yaml';
import {
  type BodyRule,
  CONVERSIONS,
  type LabelledBodyRule,
  parseFormatTemplate,
  type Unmapped,
} from '../core/adapter/body-rules.ts';
import type { DeclaredAdapter, DeclaredOperation, ErrorKey } from '../core/adapter/compile.ts';
import type { HeaderRule, Labelled, QueryRule } from '../core/adapter/field-rules.ts';
import { type FieldPath, parseFieldPath } from '../core/adapter/json-path.ts';
import {
  type ExpandPart,
  parseExpandTemplate,
  parseMatchTemplate,
  templateParams,
} from '../core/adapter/path-template.ts';
import { DEFAULT_ADAPTER_MAX_BODY_BYTES, type JsonValue } from '../core/adapter/types.ts';
import { HTTP_METHODS } from '../core/http-methods.ts';
import {
  describePath,
  type Finding,
  offsetOf,
  type PathSegment,
  sortProblems,
  yamlErrorMessage,
} from './load-route-table.ts';
import type { ConfigProblem } from './types.ts';

export type AdapterFileResult =
  | { readonly ok: true; readonly adapter: DeclaredAdapter }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const OP_NAME = /^[a-z0-9][a-z0-9-]*$/;
const MAX_BODY_LIMIT = 64 * 1024 * 1024;

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and validates an adapter file's text; `name` is the file's base name (the route's `adapter:` value). */
export function parseAdapterFile(text: string, file: string, name: string): AdapterFileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, message: string): ConfigProblem => ({ file, ...lineCounter.linePos(offset), message });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: sortProblems(doc.errors.map((e) => at(e.pos[0], yamlErrorMessage(e.code, e.message, text, e.pos[0])))),
    };
  }
  const findings: Finding[] = [];
  const checker = new Checker(findings);
  const adapter = checker.adapter(
    doc.toJS() as unknown,
    name,
    createHash('sha256').update(text).digest('hex').slice(0, 12),
  );
  if (findings.length > 0 || adapter === null) {
    const problems = findings.map((f) =>
      at(offsetOf(doc, f.path, f.anchor), `${f.path.length === 0 ? 'adapter' : describePath(f.path)}: ${f.message}`),
    );
    return { ok: false, problems: sortProblems(problems) };
  }
  return { ok: true, adapter };
}

/** Walks the raw document; every problem becomes a finding, and what is wrong is left out of the result. */
class Checker {
  constructor(private readonly findings: Finding[]) {}

  private fail(path: readonly PathSegment[], message: string, anchor: Finding['anchor'] = 'value'): void {
    this.findings.push({ path, anchor, message });
  }

  private keys(raw: Raw, path: readonly PathSegment[], allowed: readonly string[]): void {
    for (const key of Object.keys(raw)) {
      if (!allowed.includes(key))
        this.fail([...path, key], `unknown key "${key}" (allowed keys: ${allowed.join(', ')})`, 'key');
    }
  }

  private record(value: unknown, path: readonly PathSegment[], what: string): Raw | null {
    if (isRecord(value)) return value;
    this.fail(path, `must be ${what}`);
    return null;
  }

  private list(value: unknown, path: readonly PathSegment[]): unknown[] {
    if (value === undefined) return [];
    if (Array.isArray(value)) return value;
    this.fail(path, 'must be a list');
    return [];
  }

  adapter(raw: unknown, name: string, version: string): DeclaredAdapter | null {
    const root = this.record(raw, [], 'a mapping with version and operations');
    if (root === null) return null;
    this.keys(root, [], ['version', 'description', 'maxBodyBytes', 'oversize', 'errors', 'operations']);
    if (root['version'] !== 1)
      this.fail(
        ['version'],
        root['version'] === undefined ? 'missing required key "version" (1)' : 'must be 1',
        root['version'] === undefined ? 'parent' : 'value',
      );
    if (root['description'] !== undefined && typeof root['description'] !== 'string')
      this.fail(['description'], 'must be a string');
    let maxBodyBytes = DEFAULT_ADAPTER_MAX_BODY_BYTES;
    if (root['maxBodyBytes'] !== undefined) {
      const v = root['maxBodyBytes'];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_BODY_LIMIT) {
        this.fail(['maxBodyBytes'], `must be a whole number of bytes from 0 to ${MAX_BODY_LIMIT}`);
      } else maxBodyBytes = v;
    }
    const oversize = root['oversize'] ?? 'reject';
    if (oversize !== 'reject' && oversize !== 'pass')
      this.fail(['oversize'], 'must be "reject" (413/502) or "pass" (untranslated)');
    const sharedErrors = this.errors(root['errors'], ['errors']);
    const rawOps = root['operations'];
    if (rawOps === undefined) this.fail(['operations'], 'missing required key "operations"', 'parent');
    const ops = this.list(rawOps, ['operations']);
    if (rawOps !== undefined && ops.length === 0 && Array.isArray(rawOps))
      this.fail(['operations'], 'needs at least one operation');
    const names = new Set<string>();
    const operations = ops.map((op, i) => this.operation(op, ['operations', i], names));
    return {
      name,
      maxBodyBytes,
      oversize: oversize === 'pass' ? 'pass' : 'reject',
      version,
      errors: sharedErrors,
      operations: operations.filter((o): o is DeclaredOperation => o !== null),
    };
  }

  private operation(raw: unknown, path: PathSegment[], names: Set<string>): DeclaredOperation | null {
    const op = this.record(raw, path, 'a mapping with name, match, request and response');
    if (op === null) return null;
    this.keys(op, path, ['name', 'match', 'request', 'response']);
    let name = `#${String(path[1])}`;
    if (typeof op['name'] !== 'string' || !OP_NAME.test(op['name'])) {
      this.fail(
        [...path, 'name'],
        op['name'] === undefined ? 'missing required key "name"' : 'must match [a-z0-9-]+',
        op['name'] === undefined ? 'parent' : 'value',
      );
    } else {
      name = op['name'];
      if (names.has(name)) this.fail([...path, 'name'], `duplicate operation name "${name}"`);
      names.add(name);
    }
    const match = this.record(op['match'] ?? {}, [...path, 'match'], 'a mapping with path and methods');
    let methods: string[] | null = null;
    let matchPath = '/';
    let captured: string[] = [];
    if (match !== null) {
      this.keys(match, [...path, 'match'], ['path', 'methods']);
      if (typeof match['path'] !== 'string') {
        this.fail(
          [...path, 'match', 'path'],
          'missing required key "path" (the old contract\'s path, e.g. /api/agents/:id)',
          match['path'] === undefined ? 'parent' : 'value',
        );
      } else {
        const parsed = parseMatchTemplate(match['path']);
        if (typeof parsed === 'string') this.fail([...path, 'match', 'path'], parsed);
        else captured = [...parsed.params];
        matchPath = match['path'];
      }
      if (match['methods'] !== undefined) methods = this.methods(match['methods'], [...path, 'match', 'methods']);
    }
    const request = this.record(op['request'] ?? {}, [...path, 'request'], 'a mapping');
    const response = this.record(op['response'] ?? {}, [...path, 'response'], 'a mapping');
    const label = (where: string) => `${name}.${where}`;

    let method: string | null = null;
    let target: ExpandPart[] | null = null;
    let query: Labelled<QueryRule>[] = [];
    let reqHeaders: Labelled<HeaderRule>[] = [];
    let reqBody: LabelledBodyRule[] = [];
    if (request !== null) {
      const rp = [...path, 'request'];
      this.keys(request, rp, ['method', 'path', 'query', 'headers', 'body']);
      if (request['method'] !== undefined) {
        const m = this.methods([request['method']], [...rp, 'method']);
        method = m?.[0] ?? null;
      }
      if (request['path'] !== undefined) {
        if (typeof request['path'] !== 'string' || !request['path'].startsWith('/')) {
          this.fail([...rp, 'path'], 'must be a path template starting with "/", e.g. /v2/agents/{id}');
        } else {
          const parsed = parseExpandTemplate(request['path']);
          if (typeof parsed === 'string') this.fail([...rp, 'path'], parsed);
          else {
            for (const p of templateParams(parsed)) {
              if (!captured.includes(p))
                this.fail(
                  [...rp, 'path'],
                  `"{${p}}" is not captured by match.path (captured: ${captured.join(', ') || 'none'})`,
                );
            }
            target = parsed;
          }
        }
      }
      query = this.queryRules(request['query'], [...rp, 'query'], label('request.query'));
      reqHeaders = this.headerRules(request['headers'], [...rp, 'headers'], label('request.headers'));
      reqBody = this.bodyRules(request['body'], [...rp, 'body'], label('request.body'));
    }

    const status = new Map<number, number>();
    let resHeaders: Labelled<HeaderRule>[] = [];
    let resBody: LabelledBodyRule[] = [];
    const errors = new Map<ErrorKey, LabelledBodyRule[]>();
    if (response !== null) {
      const rp = [...path, 'response'];
      this.keys(response, rp, ['status', 'headers', 'body', 'errors']);
      if (response['status'] !== undefined) {
        const map = this.record(response['status'], [...rp, 'status'], 'a mapping of service status to client status');
        for (const [from, to] of Object.entries(map ?? {})) {
          const f = Number(from);
          if (!isStatus(f)) this.fail([...rp, 'status', from], `"${from}" is not an HTTP status (100-599)`, 'key');
          else if (typeof to !== 'number' || !isStatus(to))
            this.fail([...rp, 'status', from], 'must be an HTTP status (100-599)');
          else status.set(f, to);
        }
      }
      resHeaders = this.headerRules(response['headers'], [...rp, 'headers'], label('response.headers'));
      resBody = this.bodyRules(response['body'], [...rp, 'body'], label('response.body'));
      for (const [key, rules] of this.errors(response['errors'], [...rp, 'errors'], name)) errors.set(key, rules);
    }
    return {
      name,
      methods,
      path: matchPath,
      request: { method, path: target, query, headers: reqHeaders, body: reqBody },
      response: { status, headers: resHeaders, body: resBody, errors },
    };
  }

  private methods(raw: unknown, path: PathSegment[]): string[] | null {
    const list = this.list(raw, path);
    const out: string[] = [];
    list.forEach((m, i) => {
      const upper = typeof m === 'string' ? m.toUpperCase() : '';
      if (!(HTTP_METHODS as readonly string[]).includes(upper)) {
        this.fail(Array.isArray(raw) ? [...path, i] : path, `"${String(m)}" is not an HTTP method`);
      } else out.push(upper);
    });
    return out.length === 0 ? null : out;
  }

  private errors(raw: unknown, path: PathSegment[], opName = 'errors'): Map<ErrorKey, LabelledBodyRule[]> {
    const out = new Map<ErrorKey, LabelledBodyRule[]>();
    if (raw === undefined) return out;
    const map = this.record(raw, path, 'a mapping of a 4xx/5xx service status (or "default") to body rules');
    for (const [key, rules] of Object.entries(map ?? {})) {
      const status = Number(key);
      if (key !== 'default' && (!isStatus(status) || status < 400)) {
        this.fail([...path, key], `"${key}" is not a 4xx/5xx HTTP status or "default"`, 'key');
        continue;
      }
      const label = opName === 'errors' ? `errors.${key}` : `${opName}.response.errors.${key}`;
      out.set(key === 'default' ? 'default' : status, this.bodyRules(rules, [...path, key], label));
    }
    return out;
  }

  private fieldPath(raw: unknown, path: PathSegment[], anchor: Finding['anchor'] = 'value'): FieldPath | null {
    if (typeof raw !== 'string') {
      this.fail(path, 'must be a field path such as data[].displayName', anchor);
      return null;
    }
    const parsed = parseFieldPath(raw);
    if (typeof parsed === 'string') {
      this.fail(path, parsed, anchor);
      return null;
    }
    return parsed;
  }

  private single(raw: unknown, path: PathSegment[], kinds: readonly string[]): [string, unknown] | null {
    if (!isRecord(raw) || Object.keys(raw).length !== 1) {
      this.fail(path, `each rule is a mapping with one of: ${kinds.join(', ')}`);
      return null;
    }
    const [kind, value] = Object.entries(raw)[0] as [string, unknown];
    if (!kinds.includes(kind)) {
      this.fail([...path, kind], `unknown rule "${kind}" (rules: ${kinds.join(', ')})`, 'key');
      return null;
    }
    return [kind, value];
  }

  private pairs(raw: unknown, path: PathSegment[]): [string, unknown][] {
    const map = this.record(raw, path, 'a mapping');
    return Object.entries(map ?? {});
  }

  private names(raw: unknown, path: PathSegment[]): { name: string; path: PathSegment[] }[] {
    if (typeof raw === 'string') return [{ name: raw, path }];
    return this.list(raw, path).flatMap((n, i) => {
      if (typeof n !== 'string') {
        this.fail([...path, i], 'must be a string');
        return [];
      }
      return [{ name: n, path: [...path, i] }];
    });
  }

  /** Each rule of a list (a mapping with one of `kinds`), with its place in the file and its label. */
  private eachRule(
    raw: unknown,
    path: PathSegment[],
    label: string,
    kinds: readonly string[],
    visit: (kind: string, value: unknown, at: PathSegment[], rule: string) => void,
  ): void {
    this.list(raw, path).forEach((item, i) => {
      const one = this.single(item, [...path, i], kinds);
      if (one !== null) visit(one[0], one[1], [...path, i, one[0]], `${label}[${i}].${one[0]}`);
    });
  }

  private bodyRules(raw: unknown, path: PathSegment[], label: string): LabelledBodyRule[] {
    const kinds = ['rename', 'move', 'drop', 'default', 'set', 'map', 'convert', 'format', 'wrap', 'unwrap', 'require'];
    const out: LabelledBodyRule[] = [];
    this.eachRule(raw, path, label, kinds, (kind, value, rp, rule) => {
      const push = (spec: BodyRule) => out.push({ rule, spec });
      switch (kind) {
        case 'rename':
          for (const [from, to] of this.pairs(value, rp)) {
            const p = this.fieldPath(from, [...rp, from], 'key');
            if (typeof to !== 'string' || to === '' || to.includes('.') || to.includes('[')) {
              this.fail([...rp, from], 'the new name is a plain field name (use move to change the place)');
            } else if (p !== null) {
              if (p[p.length - 1]?.kind !== 'key') this.fail([...rp, from], 'rename needs a field, not "[]"', 'key');
              else push({ op: 'rename', path: p, to });
            }
          }
          break;
        case 'move':
          for (const [from, to] of this.pairs(value, rp)) {
            const f = this.fieldPath(from, [...rp, from], 'key');
            const t = this.fieldPath(to, [...rp, from]);
            if (f === null || t === null) continue;
            if (f[f.length - 1]?.kind !== 'key' || t[t.length - 1]?.kind !== 'key') {
              this.fail([...rp, from], 'move takes a field to a field (paths may not end with "[]")');
              continue;
            }
            const fromScope = f.findLastIndex((s) => s.kind === 'each');
            const toEach = t.findLastIndex((s) => s.kind === 'each');
            if (
              toEach > fromScope ||
              JSON.stringify(f.slice(0, fromScope + 1)) !== JSON.stringify(t.slice(0, fromScope + 1))
            ) {
              this.fail([...rp, from], `"${String(to)}" must stay inside the same array elements as "${from}"`);
              continue;
            }
            push({ op: 'move', from: f, to: t });
          }
          break;
        case 'drop':
        case 'require':
          for (const n of this.names(value, rp)) {
            const p = this.fieldPath(n.name, n.path);
            if (p !== null && p[p.length - 1]?.kind === 'key') push({ op: kind, path: p });
            else if (p !== null) this.fail(n.path, `${kind} needs a field, not "[]"`);
          }
          break;
        case 'default':
        case 'set':
          for (const [field, v] of this.pairs(value, rp)) {
            const p = this.fieldPath(field, [...rp, field], 'key');
            if (p !== null && p[p.length - 1]?.kind === 'key') push({ op: kind, path: p, value: v as JsonValue });
            else if (p !== null) this.fail([...rp, field], `${kind} needs a field, not "[]"`, 'key');
          }
          break;
        case 'convert':
          for (const [field, to] of this.pairs(value, rp)) {
            const p = this.fieldPath(field, [...rp, field], 'key');
            if (typeof to !== 'string' || !(CONVERSIONS as readonly string[]).includes(to)) {
              this.fail([...rp, field], `must be one of ${CONVERSIONS.join(', ')}`);
            } else if (p !== null) push({ op: 'convert', path: p, to: to as (typeof CONVERSIONS)[number] });
          }
          break;
        case 'format':
          for (const [field, template] of this.pairs(value, rp)) {
            const p = this.fieldPath(field, [...rp, field], 'key');
            if (typeof template !== 'string') {
              this.fail([...rp, field], 'must be a template string such as "{error.field} {error.reason}"');
              continue;
            }
            const parts = parseFormatTemplate(template, parseFieldPath);
            if (typeof parts === 'string') this.fail([...rp, field], parts);
            else if (p !== null) push({ op: 'format', path: p, template: parts });
          }
          break;
        case 'wrap':
        case 'unwrap':
          if (typeof value !== 'string' || value === '') this.fail(rp, 'must be a field name');
          else push({ op: kind, key: value });
          break;
        case 'map': {
          const m = this.valueMap(value, rp, 'path');
          if (m === null) break;
          const p = this.fieldPath(m.target, [...rp, 'path']);
          if (p !== null) push({ op: 'map', path: p, values: m.values, unmapped: m.unmapped });
          break;
        }
      }
    });
    return out;
  }

  private valueMap(
    raw: unknown,
    path: PathSegment[],
    targetKey: 'path' | 'name',
  ): { target: unknown; values: Map<string, JsonValue>; unmapped: Unmapped } | null {
    const m = this.record(raw, path, `a mapping with ${targetKey}, values and unmapped`);
    if (m === null) return null;
    this.keys(m, path, [targetKey, 'values', 'unmapped']);
    if (m[targetKey] === undefined) this.fail([...path, targetKey], `missing required key "${targetKey}"`, 'parent');
    const unmapped = m['unmapped'] ?? 'fail';
    if (unmapped !== 'fail' && unmapped !== 'keep' && unmapped !== 'drop') {
      this.fail([...path, 'unmapped'], 'must be fail (502 RF_ADAPTER_FAILED), keep or drop');
    }
    const values = new Map<string, JsonValue>();
    for (const [k, v] of this.pairs(m['values'], [...path, 'values'])) values.set(k, v as JsonValue);
    return { target: m[targetKey], values, unmapped: unmapped as Unmapped };
  }

  private queryRules(raw: unknown, path: PathSegment[], label: string): Labelled<QueryRule>[] {
    const out: Labelled<QueryRule>[] = [];
    this.eachRule(raw, path, label, ['rename', 'drop', 'set', 'default', 'map'], (kind, value, rp, rule) => {
      if (kind === 'rename') {
        for (const [from, to] of this.pairs(value, rp)) {
          if (typeof to !== 'string' || to === '') this.fail([...rp, from], 'must be the new parameter name');
          else out.push({ rule, spec: { op: 'rename', from, to } });
        }
      } else if (kind === 'drop') {
        for (const n of this.names(value, rp)) out.push({ rule, spec: { op: 'drop', name: n.name } });
      } else if (kind === 'set' || kind === 'default') {
        for (const [name, v] of this.pairs(value, rp)) {
          if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
            this.fail([...rp, name], 'must be a string, number or boolean');
          } else out.push({ rule, spec: { op: kind, name, value: String(v) } });
        }
      } else {
        const m = this.valueMap(value, rp, 'name');
        if (m === null) return;
        if (typeof m.target !== 'string') {
          this.fail([...rp, 'name'], 'must be a parameter name');
          return;
        }
        const values = new Map<string, string>();
        for (const [k, v] of m.values) {
          if (typeof v === 'object' && v !== null) this.fail([...rp, 'values', k], 'must be a string');
          else values.set(k, String(v));
        }
        out.push({ rule, spec: { op: 'map', name: m.target, values, unmapped: m.unmapped } });
      }
    });
    return out;
  }

  private headerRules(raw: unknown, path: PathSegment[], label: string): Labelled<HeaderRule>[] {
    const out: Labelled<HeaderRule>[] = [];
    const headerName = (n: unknown, p: PathSegment[], anchor: Finding['anchor'] = 'value'): string | null => {
      if (typeof n === 'string' && TOKEN.test(n)) return n.toLowerCase();
      this.fail(p, `"${String(n)}" is not a header name`, anchor);
      return null;
    };
    this.eachRule(raw, path, label, ['rename', 'drop', 'set', 'default', 'rewrite'], (kind, value, rp, rule) => {
      if (kind === 'rename') {
        for (const [from, to] of this.pairs(value, rp)) {
          const f = headerName(from, [...rp, from], 'key');
          const t = headerName(to, [...rp, from]);
          if (f !== null && t !== null) out.push({ rule, spec: { op: 'rename', from: f, to: t } });
        }
      } else if (kind === 'drop') {
        for (const n of this.names(value, rp)) {
          const name = headerName(n.name, n.path);
          if (name !== null) out.push({ rule, spec: { op: 'drop', name } });
        }
      } else if (kind === 'set' || kind === 'default') {
        for (const [n, v] of this.pairs(value, rp)) {
          const name = headerName(n, [...rp, n], 'key');
          if (typeof v !== 'string' && typeof v !== 'number') this.fail([...rp, n], 'must be a string');
          else if (/[\r\n\0]/.test(String(v))) this.fail([...rp, n], 'a header value cannot hold CR, LF or NUL');
          else if (name !== null) out.push({ rule, spec: { op: kind, name, value: String(v) } });
        }
      } else {
        const m = this.record(value, rp, 'a mapping with name, from and to');
        if (m === null) return;
        this.keys(m, rp, ['name', 'from', 'to']);
        const name = headerName(m['name'], [...rp, 'name']);
        const from = typeof m['from'] === 'string' ? parseExpandTemplate(m['from']) : 'must be a path template';
        const to = typeof m['to'] === 'string' ? parseExpandTemplate(m['to']) : 'must be a path template';
        if (typeof from === 'string') this.fail([...rp, 'from'], from);
        if (typeof to === 'string') this.fail([...rp, 'to'], to);
        if (typeof from !== 'string' && typeof to !== 'string') {
          const known = templateParams(from);
          for (const p of templateParams(to)) {
            if (!known.includes(p)) this.fail([...rp, 'to'], `"{${p}}" is not captured by from`);
          }
          if (name !== null) out.push({ rule, spec: { op: 'rewrite', name, from, to } });
        }
      }
    });
    return out;
  }
}

function isStatus(n: number): boolean {
  return Number.isInteger(n) && n >= 100 && n <= 599;
}
