// routes.yaml → a frozen RouteTable, or every problem in the file at once, each with the line and column of the node
// that is wrong. Three passes feed one list: YAML syntax, the per-field zod schema, and the rules that span fields
// (references, duplicates, overlaps, flags). The cross-field pass reads the raw document, so a broken field elsewhere
// never hides a duplicate id or an unknown upstream: one `validate` run shows everything to fix.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import FindMyWay from 'find-my-way';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { EdgeError } from '../core/errors.ts';
import { DEFAULT_FALLBACK } from '../core/fallback-policy.ts';
import {
  checkPathPattern,
  DEFAULT_LIMITS,
  DEFAULT_OVERRIDE,
  DEFAULT_ROLLOUT,
  DEFAULT_SHADOW,
  DEFAULT_STICKINESS,
  HTTP_METHODS,
  type HttpMethod,
  issueMessage,
  type ParsedRouteTable,
  routeTableSchema,
} from './routes-schema.ts';
import type { ConfigProblem, RouteConfig, RouteTable, UpstreamConfig } from './types.ts';

export interface ParseOptions {
  /** Flag names the flag source knows; when given, a route naming another flag is an error. */
  readonly knownFlags?: ReadonlySet<string> | undefined;
  /** Adapter names legacy-adapter/ defines; when given, a route naming another adapter is an error. */
  readonly knownAdapters?: ReadonlySet<string> | undefined;
}

export type RouteTableResult =
  | { readonly ok: true; readonly table: RouteTable; readonly warnings: readonly ConfigProblem[] }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export type PathSegment = string | number;
/** Where a problem points: the value at `path`, the key naming it, or (for a missing key) the enclosing mapping. */
export type Anchor = 'value' | 'key' | 'parent';

export interface Finding {
  readonly path: readonly PathSegment[];
  readonly anchor: Anchor;
  readonly message: string;
}

/** Parses and validates routes.yaml text. `file` only labels the problems. */
export function parseRouteTable(text: string, file: string, options: ParseOptions = {}): RouteTableResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, message: string): ConfigProblem => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col, message };
  };

  if (doc.errors.length > 0) {
    // Past a syntax error the tree is a guess; schema messages about it would mislead.
    return {
      ok: false,
      problems: sortProblems(doc.errors.map((e) => at(e.pos[0], yamlErrorMessage(e.code, e.message, text, e.pos[0])))),
    };
  }

  const raw: unknown = doc.toJS();
  const locate = (finding: Finding): ConfigProblem =>
    at(offsetOf(doc, finding.path, finding.anchor), `${describePath(finding.path)}: ${finding.message}`);

  const findings: Finding[] = [];
  const parsed = routeTableSchema.safeParse(raw, { error: issueMessage });
  if (!parsed.success) findings.push(...parsed.error.issues.flatMap((issue) => issueFindings(issue, raw)));
  const cross = crossFieldChecks(raw, options);
  findings.push(...cross.errors);

  if (findings.length > 0 || !parsed.success) {
    return { ok: false, problems: sortProblems(findings.map(locate)) };
  }

  const warnings = [...doc.warnings.map((w) => at(w.pos[0], w.message)), ...cross.warnings.map(locate)];
  const routeLine = (index: number) => lineCounter.linePos(offsetOf(doc, ['routes', index], 'value')).line;
  const table = buildTable(parsed.data, text, file, routeLine);
  return { ok: true, table, warnings: sortProblems(warnings) };
}

/** Reads and parses `file`; a read failure is one problem at 1:1 carrying the operating system's words. */
export async function loadRouteTableFile(file: string, options: ParseOptions = {}): Promise<RouteTableResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [readProblem(file, err)] };
  }
  return parseRouteTable(text, file, options);
}

/** The config version of a routes.yaml text: first 12 hex digits of its sha256, the `hash` of its table. */
export function hashRouteTableText(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export function readProblem(file: string, err: unknown): ConfigProblem {
  const message = err instanceof Error ? err.message : String(err);
  return { file, line: 1, col: 1, message: `cannot read the route table: ${message}` };
}

/** One `file:line:col message` per line, the format `rf-edge validate` prints and editors jump to. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`).join('\n');
}

/** The error `start` fails with when the table is invalid; the problems ride along as `details`. */
export function routeTableError(problems: readonly ConfigProblem[]): EdgeError {
  return new EdgeError('RF_CONFIG_INVALID', `route table is invalid:\n${formatProblems(problems)}`, {
    details: problems,
  });
}

// ---- building -----------------------------------------------------------------------------------------------------

function buildTable(
  data: ParsedRouteTable,
  text: string,
  file: string,
  routeLine: (index: number) => number,
): RouteTable {
  const rollout = { ...DEFAULT_ROLLOUT, ...data.rollout };
  const upstreams = new Map<string, UpstreamConfig>(
    Object.entries(data.upstreams).map(([name, upstream]) => [name, { name, ...upstream }]),
  );
  const routes = (data.routes ?? []).map(
    (route, index): RouteConfig => ({
      id: route.id,
      path: route.path,
      methods: route.methods ?? null,
      service: route.service,
      flag: route.flag ?? null,
      mode: route.mode ?? 'legacy',
      adapter: route.adapter ?? null,
      adapterOversize: route.adapterOversize ?? null,
      rollout: { ...rollout, ...route.rollout },
      shadow: route.shadow ?? DEFAULT_SHADOW,
      fallback: route.fallback ?? DEFAULT_FALLBACK,
      line: routeLine(index),
    }),
  );
  const table: RouteTable = {
    version: 1,
    upstreams: new FrozenMap(upstreams),
    legacy: data.legacy,
    stickiness: data.stickiness ?? DEFAULT_STICKINESS,
    rollout,
    routes,
    trustedProxies: data.trustedProxies ?? [],
    override: { ...DEFAULT_OVERRIDE, ...data.override },
    limits: { ...DEFAULT_LIMITS, ...data.limits },
    hash: hashRouteTableText(text),
    source: file,
  };
  return deepFreeze(table);
}

/** A Map that refuses writes after construction: `Object.freeze` alone leaves `set` working on a Map. */
class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries) Map.prototype.set.call(this, key, value);
    Object.freeze(this);
  }
  override set(_key: K, _value: V): this {
    throw new TypeError('the route table is frozen');
  }
  override delete(_key: K): boolean {
    throw new TypeError('the route table is frozen');
  }
  override clear(): void {
    throw new TypeError('the route table is frozen');
  }
}

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) {
    if (value instanceof Map) for (const v of value.values()) deepFreeze(v);
    return value;
  }
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/** Methods copied on every shadowed route (RFC 9110 §9.2.1); anything else is a write. */
const SAFE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

// ---- cross-field rules --------------------------------------------------------------------------------------------

function crossFieldChecks(raw: unknown, options: ParseOptions): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  if (!isRecord(raw)) return { errors, warnings };

  const upstreamNames = isRecord(raw['upstreams']) ? Object.keys(raw['upstreams']) : null;
  const upstreamsRaw: Record<string, unknown> = isRecord(raw['upstreams']) ? raw['upstreams'] : {};
  const used = new Set<string>();
  const checkReference = (name: unknown, path: readonly PathSegment[], what: string) => {
    if (typeof name !== 'string' || name === '' || upstreamNames === null) return;
    used.add(name);
    if (!upstreamNames.includes(name)) {
      const known = upstreamNames.length > 0 ? upstreamNames.join(', ') : 'none';
      errors.push({
        path,
        anchor: 'value',
        message: `${what} "${name}" is not defined in upstreams (defined: ${known})`,
      });
    }
  };
  checkReference(raw['legacy'], ['legacy'], 'legacy upstream');

  const routes = Array.isArray(raw['routes']) ? raw['routes'] : [];
  const firstById = new Map<string, number>();
  const overlaps = new OverlapDetector();

  routes.forEach((route: unknown, index) => {
    if (!isRecord(route)) return;
    const at = (...rest: PathSegment[]): PathSegment[] => ['routes', index, ...rest];
    const id = typeof route['id'] === 'string' ? route['id'] : `#${index + 1}`;

    if (typeof route['id'] === 'string') {
      const first = firstById.get(route['id']);
      if (first === undefined) firstById.set(route['id'], index);
      else
        errors.push({ path: at('id'), anchor: 'value', message: `duplicate route id "${id}" (also routes[${first}])` });
    }

    checkReference(route['service'], at('service'), `route "${id}": service upstream`);
    if (typeof route['service'] === 'string' && route['service'] === raw['legacy']) {
      warnings.push({
        path: at('service'),
        anchor: 'value',
        message: `route "${id}": service is the legacy upstream "${route['service']}", so every mode sends it to the same place`,
      });
    }

    if (typeof route['adapter'] === 'string' && options.knownAdapters !== undefined) {
      if (!options.knownAdapters.has(route['adapter'])) {
        const names = [...options.knownAdapters].sort();
        errors.push({
          path: at('adapter'),
          anchor: 'value',
          message: `route "${id}": unknown adapter "${route['adapter']}" (legacy-adapter/ defines: ${names.length > 0 ? names.join(', ') : 'none'})`,
        });
      }
    }

    const mode = route['mode'] ?? 'legacy';
    const flag = route['flag'];
    if ((mode === 'canary' || mode === 'shadow') && (flag === undefined || flag === null)) {
      errors.push({
        path: at('flag'),
        anchor: 'parent',
        message: `route "${id}" in ${mode} mode needs a flag (its kill switch and bucketing group)`,
      });
    }
    if (typeof flag === 'string' && options.knownFlags !== undefined && !options.knownFlags.has(flag)) {
      const names = [...options.knownFlags].sort();
      const known =
        names.length === 0 ? 'none' : names.length > 10 ? `${names.slice(0, 10).join(', ')}, …` : names.join(', ');
      errors.push({ path: at('flag'), anchor: 'value', message: `unknown flag "${flag}" (known flags: ${known})` });
    }

    const shadow = route['shadow'];
    if (isRecord(shadow) && shadow['gate'] === true && mode !== 'canary') {
      warnings.push({
        path: at('shadow', 'gate'),
        anchor: 'value',
        message: `route "${id}": shadow.gate only applies to mode: canary (it holds the first step until the answers match)`,
      });
    }
    // A copied write runs in the service too: only a service that declares it treats x-edge-shadow as a dry run.
    const methods = isRecord(shadow) && Array.isArray(shadow['methods']) ? shadow['methods'] : [];
    const writes = methods.filter((m): m is string => typeof m === 'string' && !SAFE.has(m.toUpperCase()));
    const service = typeof route['service'] === 'string' ? upstreamsRaw[route['service']] : undefined;
    if (writes.length > 0 && isRecord(service) && service['shadowDryRun'] !== true) {
      errors.push({
        path: at('shadow', 'methods'),
        anchor: 'value',
        message: `route "${id}": copying ${writes.join(', ')} needs the service upstream "${String(route['service'])}" to declare shadowDryRun: true (it treats x-edge-shadow: 1 as a dry run); otherwise every copied write runs twice`,
      });
    }

    const overlap = overlaps.check(route, index, id);
    if (overlap !== null) errors.push({ path: at('path'), anchor: 'value', message: overlap });
  });

  if (upstreamNames !== null && isRecord(raw['upstreams'])) {
    for (const name of upstreamNames) {
      if (!used.has(name)) {
        warnings.push({
          path: ['upstreams', name],
          anchor: 'key',
          message: `upstream "${name}" is not used by legacy or any route`,
        });
      }
    }
  }
  return { errors, warnings };
}

/**
 * Finds routes that claim the same requests. find-my-way, not a re-implementation of it, decides what counts as the
 * same pattern (`/a/:x` ≡ `/a/:y`; an optional parameter covers two paths). As in the router, a route naming a
 * method outranks an all-methods route on the same pattern, so only two routes naming one method, or two
 * all-methods routes, clash. Routes with a broken path or methods are left to the schema's messages.
 */
class OverlapDetector {
  private readonly named = FindMyWay({ caseSensitive: true });
  private readonly allMethods = FindMyWay({ caseSensitive: true });
  private readonly seen: { index: number; id: string; erased: string; methods: readonly HttpMethod[] | null }[] = [];

  check(route: Record<string, unknown>, index: number, id: string): string | null {
    const path = route['path'];
    if (typeof path !== 'string' || checkPathPattern(path) !== null) return null;
    const methods = knownMethods(route['methods']);
    if (methods === undefined) return null;

    const clashing: HttpMethod[] = [];
    // All-methods routes are registered under one stand-in method: they all claim the same set.
    for (const method of methods ?? ['GET' as const]) {
      try {
        (methods === null ? this.allMethods : this.named).on(method, path, noop);
      } catch {
        clashing.push(method);
      }
    }
    const erased = erasePattern(path);
    this.seen.push({ index, id, erased, methods });
    if (clashing.length === 0) return null;

    const other = this.seen.find(
      (r) =>
        r.index !== index &&
        r.erased === erased &&
        (methods === null ? r.methods === null : r.methods?.some((m) => clashing.includes(m))),
    );
    const what = methods === null ? 'both for all methods' : `both naming ${clashing.join(', ')}`;
    const against = other === undefined ? 'an earlier route' : `route "${other.id}" (routes[${other.index}])`;
    return `route "${id}": path "${path}" claims the same requests as ${against}: same pattern, ${what}`;
  }
}

/** The route's methods upper-cased; null for all; undefined when they are broken (the schema reports that). */
function knownMethods(raw: unknown): readonly HttpMethod[] | null | undefined {
  if (raw === undefined) return null;
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const upper = raw.map((m) => (typeof m === 'string' ? m.toUpperCase() : ''));
  const known = upper.filter((m): m is HttpMethod => (HTTP_METHODS as readonly string[]).includes(m));
  return known.length === upper.length ? [...new Set(known)] : undefined;
}

const noop = (): void => {};

/** `/a/:x/b` → `/a/:/b`: the names of parameters do not change what a pattern matches. */
export function erasePattern(pattern: string): string {
  // A parameter name runs until '/', '-', '.', '(' or the end, as in find-my-way; `::` is an escaped colon.
  return pattern.replace(/::|:[^/\-.(]*/g, (m) => (m === '::' ? '::' : ':'));
}

// ---- positions and messages --------------------------------------------------------------------------------------

function issueFindings(issue: z.core.$ZodIssue, raw: unknown): Finding[] {
  const path = issue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: [...path, key],
      anchor: 'key',
      message: `unknown key "${key}" (${issue.message})`,
    }));
  }
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0]?.message;
    return [{ path, anchor: 'key', message: `invalid name: ${inner ?? issue.message}` }];
  }
  const last = path[path.length - 1];
  if (last !== undefined && !hasKey(raw, path)) {
    return [{ path, anchor: 'parent', message: `missing required key "${last}"` }];
  }
  return [{ path, anchor: 'value', message: issue.message }];
}

function hasKey(root: unknown, path: readonly PathSegment[]): boolean {
  let node: unknown = root;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') {
      if (segment >= node.length) return false;
      node = node[segment];
    } else if (isRecord(node) && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else {
      return false;
    }
  }
  return node !== undefined;
}

/** `routes[2].rollout.steps`, the way people point at a place in the file. */
export function describePath(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'route table';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** The source offset of the node a finding points at; the nearest enclosing node when the path runs out. */
export function offsetOf(doc: Document, path: readonly PathSegment[], anchor: Anchor): number {
  const target = anchor === 'parent' ? path.slice(0, -1) : path;
  let node: unknown = doc.contents;
  let best = rangeStart(node) ?? 0;
  for (let i = 0; i < target.length; i++) {
    const segment = target[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) return best;
      const keyStart = rangeStart(pair.key);
      const isLast = i === target.length - 1;
      if (isLast && anchor === 'key' && keyStart !== undefined) return keyStart;
      node = pair.value;
      best = rangeStart(node) ?? keyStart ?? best;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      best = rangeStart(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range?.[0];
}

export function yamlErrorMessage(code: string, message: string, text: string, offset: number): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^[^\s:,{}[\]]+/.exec(text.slice(offset))?.[0];
    return key === undefined ? 'duplicate key in a mapping' : `duplicate key "${key}" in the same mapping`;
  }
  if (code === 'MULTIPLE_DOCS') return "a second YAML document starts here ('---'); the route table is one document";
  return `YAML syntax error: ${message}`;
}

export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
