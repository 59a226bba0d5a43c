// Field paths of the declarative adapters: `a.b.c`, with `[]` for "every element of this array"
// (`data[].state`, `[].id` for a top-level array). Kong and KrakenD use dotted paths the same way; `[]` is how
// jq and Skipper's JSON filters spell "each". No indexes, no wildcards: a path names fields a contract names.

import type { JsonValue } from './types.ts';

export type PathStep = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'each' };
export type FieldPath = readonly PathStep[];

type JsonObject = { [key: string]: JsonValue };

/** Parses `data[].displayName`; returns the problem in words when it is not a path. */
export function parseFieldPath(text: string): FieldPath | string {
  if (text === '') return 'a field path cannot be empty';
  const steps: PathStep[] = [];
  for (const part of text.split('.')) {
    let rest = part;
    let key = rest;
    const bracket = rest.indexOf('[');
    if (bracket !== -1) {
      key = rest.slice(0, bracket);
      rest = rest.slice(bracket);
      if (!/^(\[\])+$/.test(rest)) return `"${text}": only "[]" (every element) may follow a field name`;
    } else rest = '';
    if (key === '' && (bracket === -1 || steps.length > 0)) return `"${text}": empty field name`;
    if (key !== '') steps.push({ kind: 'key', key });
    for (let i = 0; i < rest.length / 2; i++) steps.push({ kind: 'each' });
  }
  return steps;
}

export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const step of path) {
    if (step.kind === 'each') out += '[]';
    else out += out === '' ? step.key : `.${step.key}`;
  }
  return out;
}

export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Calls `visit` with every object that holds the path's last key (its parent), fanning out over `[]` steps.
 * Missing intermediate fields visit nothing (an absent optional object is not an error); `create` makes missing
 * intermediate objects instead, for operations that write.
 */
export function forEachParent(
  root: JsonValue | undefined,
  path: FieldPath,
  create: boolean,
  visit: (parent: JsonObject, key: string) => void,
): void {
  const last = path[path.length - 1];
  if (last === undefined || last.kind !== 'key') return;
  walk(root, path, 0, create, (parent) => visit(parent, last.key));
}

function walk(
  node: JsonValue | undefined,
  path: FieldPath,
  index: number,
  create: boolean,
  visit: (parent: JsonObject) => void,
): void {
  if (index === path.length - 1) {
    if (isObject(node)) visit(node);
    return;
  }
  const step = path[index] as PathStep;
  if (step.kind === 'each') {
    if (Array.isArray(node)) for (const element of node) walk(element, path, index + 1, create, visit);
    return;
  }
  if (!isObject(node)) return;
  let child = node[step.key];
  if (child === undefined && create && path[index + 1]?.kind === 'key') {
    child = {};
    node[step.key] = child;
  }
  walk(child, path, index + 1, create, visit);
}

/**
 * Splits `from` and `to` at their common prefix up to the last `[]` of `from`, so `data[].a.b → data[].c` moves
 * within each element. Returns null when `to` leaves the array `from` is inside (a move cannot merge elements).
 */
export function splitAtEach(
  from: FieldPath,
  to: FieldPath,
): { scope: FieldPath; from: FieldPath; to: FieldPath } | null {
  let lastEach = -1;
  for (let i = 0; i < from.length; i++) if (from[i]?.kind === 'each') lastEach = i;
  const scope = from.slice(0, lastEach + 1);
  for (let i = 0; i < scope.length; i++) {
    const a = scope[i];
    const b = to[i];
    if (a === undefined || b === undefined || a.kind !== b.kind) return null;
    if (a.kind === 'key' && b.kind === 'key' && a.key !== b.key) return null;
  }
  const rest = to.slice(scope.length);
  if (rest.some((s) => s.kind === 'each')) return null;
  return { scope, from: from.slice(scope.length), to: rest };
}

/** Every value the scope path reaches (each element for `[]` steps); the root itself for an empty scope. */
export function scopeTargets(root: JsonValue | undefined, scope: FieldPath): JsonValue[] {
  let nodes: (JsonValue | undefined)[] = [root];
  for (const step of scope) {
    const next: (JsonValue | undefined)[] = [];
    for (const node of nodes) {
      if (step.kind === 'each') {
        if (Array.isArray(node)) next.push(...node);
      } else if (isObject(node)) next.push(node[step.key]);
    }
    nodes = next;
  }
  return nodes.filter((n): n is JsonValue => n !== undefined);
}

/** The value at a path without `[]` steps; undefined when absent. */
export function getAt(root: JsonValue | undefined, path: FieldPath): JsonValue | undefined {
  let node = root;
  for (const step of path) {
    if (step.kind === 'each' || !isObject(node)) return undefined;
    node = node[step.key];
  }
  return node;
}
