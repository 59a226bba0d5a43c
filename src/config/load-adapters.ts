// The legacy-adapter/ folder → the adapters the edge runs, by name, or every problem found in it. `<name>.yaml`
// (or `.yml`) is declarative (adapter-file.ts); `<name>.ts` is a typed adapter, a module whose default export is a
// TypedAdapter (`export default defineAdapter({ … })`), imported through tsx like the rest of the edge and checked
// by `npm test`'s tsc. A name defined twice, a file that does not parse, or a module without a valid adapter is a
// problem with its file:line:col; the other adapters still load (the caller decides whether problems refuse a
// reload or a start).

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AdapterPlan, compileDeclaredAdapter, compileTypedAdapter, planAdapter } from '../core/adapter/compile.ts';
import { parseMatchTemplate } from '../core/adapter/path-template.ts';
import { AdapterFailure, type TypedAdapter } from '../core/adapter/types.ts';
import { parseAdapterFile } from './adapter-file.ts';
import type { ConfigProblem } from './types.ts';

export const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface AdapterSet {
  readonly adapters: ReadonlyMap<string, AdapterPlan>;
  readonly problems: readonly ConfigProblem[];
  /** sha256 prefix over every file's name and content: what the watcher compares. */
  readonly hash: string;
}

/** `legacy-adapter/` beside the route table unless ADAPTERS_DIR says otherwise. */
export function adapterDir(env: { readonly ROUTES_FILE: string; readonly ADAPTERS_DIR?: string | undefined }): string {
  return env.ADAPTERS_DIR ?? join(dirname(env.ROUTES_FILE), 'legacy-adapter');
}

export interface AdapterFile {
  readonly name: string;
  readonly file: string;
  readonly kind: 'yaml' | 'ts';
  readonly text: string;
}

/** The adapter files of `dir` with their text; a missing folder is no adapters. */
export async function readAdapterFiles(dir: string): Promise<{ files: AdapterFile[]; problems: ConfigProblem[] }> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], problems: [] };
    const message = err instanceof Error ? err.message : String(err);
    return {
      files: [],
      problems: [{ file: dir, line: 1, col: 1, message: `cannot read the adapter folder: ${message}` }],
    };
  }
  const files: AdapterFile[] = [];
  const problems: ConfigProblem[] = [];
  for (const entry of entries) {
    const ext = extname(entry);
    if (entry.startsWith('.') || entry.endsWith('.d.ts')) continue;
    const kind = ext === '.yaml' || ext === '.yml' ? 'yaml' : ext === '.ts' ? 'ts' : null;
    if (kind === null) continue;
    const file = join(dir, entry);
    const name = entry.slice(0, -ext.length);
    if (!ADAPTER_NAME.test(name)) {
      problems.push({ file, line: 1, col: 1, message: `"${name}" is not an adapter name (letters, digits, _ . -)` });
      continue;
    }
    try {
      files.push({ name, file, kind, text: await readFile(file, 'utf8') });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      problems.push({ file, line: 1, col: 1, message: `cannot read the adapter: ${message}` });
    }
  }
  return { files, problems };
}

/** Loads every adapter of `dir`. */
export async function loadAdapters(dir: string): Promise<AdapterSet> {
  const read = await readAdapterFiles(dir);
  const problems = [...read.problems];
  const adapters = new Map<string, AdapterPlan>();
  const seen = new Map<string, string>();
  for (const f of read.files) {
    const first = seen.get(f.name);
    if (first !== undefined) {
      problems.push({ file: f.file, line: 1, col: 1, message: `adapter "${f.name}" is also defined by ${first}` });
      continue;
    }
    seen.set(f.name, f.file);
    const version = createHash('sha256').update(f.text).digest('hex').slice(0, 8);
    if (f.kind === 'yaml') {
      const parsed = parseAdapterFile(f.text, f.file, f.name);
      if (!parsed.ok) problems.push(...parsed.problems);
      else adapters.set(f.name, planAdapter(compileDeclaredAdapter({ ...parsed.adapter, version })));
      continue;
    }
    const typed = await importTyped(f, version);
    if ('problem' in typed) problems.push(typed.problem);
    else adapters.set(f.name, typed.plan);
  }
  return { adapters, problems, hash: hashAdapterFiles(read.files) };
}

/** The content hash of a folder's adapter files (names and texts): equal hashes, same adapters. */
export function hashAdapterFiles(files: readonly AdapterFile[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.file}\u0000${f.text}\u0000`);
  return hash.digest('hex').slice(0, 12);
}

async function importTyped(
  f: AdapterFile,
  version: string,
): Promise<{ plan: AdapterPlan } | { problem: ConfigProblem }> {
  const at = (message: string): { problem: ConfigProblem } => ({ problem: { file: f.file, line: 1, col: 1, message } });
  let mod: { default?: unknown };
  try {
    // The version in the URL makes an edited file a new module (ESM caches by URL): hot reload for typed adapters.
    mod = (await import(`${pathToFileURL(resolve(f.file)).href}?v=${version}`)) as { default?: unknown };
  } catch (err) {
    return at(`cannot load the typed adapter: ${err instanceof Error ? err.message : String(err)}`);
  }
  const problem = checkTyped(mod.default);
  if (problem !== null) return at(problem);
  try {
    return { plan: planAdapter(compileTypedAdapter(f.name, version, mod.default as TypedAdapter)) };
  } catch (err) {
    return at(err instanceof AdapterFailure ? `${err.rule}: ${err.message}` : String(err));
  }
}

/** What tsc checks in the repository, checked again at load (a file added at run time was never type-checked). */
function checkTyped(value: unknown): string | null {
  if (typeof value !== 'object' || value === null)
    return 'the default export must be an adapter: export default defineAdapter({ operations: [...] })';
  const adapter = value as Partial<TypedAdapter>;
  if (!Array.isArray(adapter.operations) || adapter.operations.length === 0)
    return 'operations must be a non-empty list';
  if (adapter.maxBodyBytes !== undefined && (!Number.isInteger(adapter.maxBodyBytes) || adapter.maxBodyBytes < 0)) {
    return 'maxBodyBytes must be a whole number of bytes';
  }
  if (adapter.oversize !== undefined && adapter.oversize !== 'reject' && adapter.oversize !== 'pass')
    return 'oversize must be "reject" or "pass"';
  for (const [i, op] of adapter.operations.entries()) {
    if (typeof op?.name !== 'string' || op.name === '') return `operations[${i}]: name must be a non-empty string`;
    if (typeof op.path !== 'string') return `operations[${i}] (${op.name}): path must be a string`;
    const matcher = parseMatchTemplate(op.path);
    if (typeof matcher === 'string') return `operations[${i}] (${op.name}): ${matcher}`;
    for (const fn of ['request', 'response'] as const) {
      if (op[fn] !== undefined && typeof op[fn] !== 'function')
        return `operations[${i}] (${op.name}): ${fn} must be a function`;
    }
  }
  return null;
}
