// The agents domain shared by the monolith and the extracted agents service: one store, one validation, one CSV
// export, so the two servers cannot drift apart on the contract the edge moves traffic between.
// Everything is deterministic (fixed seed data, an injectable clock, a seeded generator for run history) so the
// same requests give the same bytes on either server.

export const AGENT_STATUSES = ['active', 'paused', 'archived'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export interface Agent {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly model: string;
  readonly status: AgentStatus;
  readonly tools: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The fields a client may write. */
export type AgentFields = Pick<Agent, 'name' | 'description' | 'model' | 'status' | 'tools'>;

export const SEED_AGENTS: readonly Agent[] = Object.freeze([
  {
    id: 'agt_0001',
    name: 'Support triage',
    description: 'Sorts incoming tickets and drafts first replies',
    model: 'raptor-large',
    status: 'active',
    tools: ['search', 'tickets'],
    createdAt: '2024-01-15T09:30:00.000Z',
    updatedAt: '2024-03-02T14:05:00.000Z',
  },
  {
    id: 'agt_0002',
    name: 'Invoice reconciler',
    description: 'Matches invoices against bank statements',
    model: 'raptor-base',
    status: 'paused',
    tools: ['ledger', 'email'],
    createdAt: '2024-02-01T08:00:00.000Z',
    updatedAt: '2024-02-01T08:00:00.000Z',
  },
  {
    id: 'agt_0003',
    name: 'Release notes writer',
    description: 'Summarises merged pull requests every Friday — «weekly»',
    model: 'raptor-large',
    status: 'active',
    tools: ['git'],
    createdAt: '2024-02-20T16:45:00.000Z',
    updatedAt: '2024-04-11T10:12:00.000Z',
  },
]);

const FIELD_NAMES = new Set(['name', 'description', 'model', 'status', 'tools']);
const DEFAULTS: Omit<AgentFields, 'name'> = { description: '', model: 'raptor-base', status: 'active', tools: [] };

export type Validation<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Checks a client body. `full` (POST, PUT) needs `name` and fills defaults; a partial body (PATCH) may hold any
 * subset. Unknown keys are refused, so a typo never silently drops data.
 */
export function validateAgentFields(input: unknown, mode: 'full'): Validation<AgentFields>;
export function validateAgentFields(input: unknown, mode: 'partial'): Validation<Partial<AgentFields>>;
export function validateAgentFields(
  input: unknown,
  mode: 'full' | 'partial',
): Validation<AgentFields> | Validation<Partial<AgentFields>> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, message: 'body must be a JSON object' };
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELD_NAMES.has(key)) return { ok: false, message: `unknown field "${key}"` };
  }
  const out: { -readonly [K in keyof AgentFields]?: AgentFields[K] } = {};
  if ('name' in record) {
    if (typeof record['name'] !== 'string' || record['name'].trim() === '' || record['name'].length > 200) {
      return { ok: false, message: 'name must be a non-empty string of at most 200 characters' };
    }
    out.name = record['name'];
  } else if (mode === 'full') {
    return { ok: false, message: 'name is required' };
  }
  for (const key of ['description', 'model'] as const) {
    if (!(key in record)) continue;
    const value = record[key];
    if (typeof value !== 'string' || value.length > 2000) {
      return { ok: false, message: `${key} must be a string of at most 2000 characters` };
    }
    out[key] = value;
  }
  if ('status' in record) {
    const status = record['status'];
    if (typeof status !== 'string' || !(AGENT_STATUSES as readonly string[]).includes(status)) {
      return { ok: false, message: `status must be one of ${AGENT_STATUSES.join(', ')}` };
    }
    out.status = status as AgentStatus;
  }
  if ('tools' in record) {
    const tools = record['tools'];
    if (!Array.isArray(tools) || !tools.every((tool): tool is string => typeof tool === 'string')) {
      return { ok: false, message: 'tools must be an array of strings' };
    }
    out.tools = [...tools];
  }
  if (mode === 'partial') return { ok: true, value: out };
  // Built key by key so the JSON field order is the same whatever order the client sent.
  const full = { ...DEFAULTS, ...out };
  return {
    ok: true,
    value: {
      name: out.name as string,
      description: full.description,
      model: full.model,
      status: full.status,
      tools: full.tools,
    },
  };
}

export interface AgentStoreOptions {
  /** Clock for createdAt/updatedAt; tests that compare two servers byte for byte pass a fixed one. */
  readonly now?: () => number;
  readonly seed?: readonly Agent[];
}

/** In-memory agents, one store per server instance so tests never see each other's writes. */
export class AgentStore {
  readonly #agents = new Map<string, Agent>();
  readonly #now: () => number;
  #nextNumber: number;

  constructor(options: AgentStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    const seed = options.seed ?? SEED_AGENTS;
    for (const agent of seed) this.#agents.set(agent.id, agent);
    this.#nextNumber = seed.length + 1;
  }

  list(filter: { status?: AgentStatus } = {}): Agent[] {
    const all = [...this.#agents.values()];
    return filter.status === undefined ? all : all.filter((agent) => agent.status === filter.status);
  }

  get(id: string): Agent | undefined {
    return this.#agents.get(id);
  }

  /**
   * `dryRun` answers what the write would make and keeps nothing (the edge's shadow copies of writes, marked
   * `x-edge-shadow: 1`, run this way).
   */
  create(fields: AgentFields, dryRun = false): Agent {
    // Ids are sequential per store, so two servers given the same writes hand out the same ids.
    let number = this.#nextNumber;
    let id: string;
    do {
      id = `agt_${String(number).padStart(4, '0')}`;
      number += 1;
    } while (this.#agents.has(id));
    const at = new Date(this.#now()).toISOString();
    const agent: Agent = { id, ...fields, createdAt: at, updatedAt: at };
    if (dryRun) return agent;
    this.#nextNumber = number;
    this.#agents.set(id, agent);
    return agent;
  }

  /** Replaces (PUT) or merges (PATCH) an agent's fields; undefined when there is no such agent. */
  update(id: string, fields: Partial<AgentFields>, dryRun = false): Agent | undefined {
    const current = this.#agents.get(id);
    if (current === undefined) return undefined;
    const agent: Agent = { ...current, ...fields, id, updatedAt: new Date(this.#now()).toISOString() };
    if (!dryRun) this.#agents.set(id, agent);
    return agent;
  }

  delete(id: string, dryRun = false): boolean {
    return dryRun ? this.#agents.has(id) : this.#agents.delete(id);
  }
}

export const RUNS_CSV_HEADER = 'run_id,agent_id,started_at,duration_ms,status,tokens\n';
const RUN_STATUSES = ['succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled'] as const;

/** mulberry32: a tiny seeded generator, so an agent's run history is the same on every server and every call. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/** The agent's run history as CSV, `rowsPerChunk` rows at a time: the header first, then the rows in order. */
export function* runsCsvChunks(agent: Agent, rows: number, rowsPerChunk: number): Generator<string> {
  yield RUNS_CSV_HEADER;
  const random = seededRandom(seedOf(agent.id));
  const start = Date.parse(agent.createdAt);
  let chunk = '';
  for (let i = 1; i <= rows; i += 1) {
    const startedAt = new Date(start + i * 3_600_000).toISOString();
    const duration = 200 + Math.floor(random() * 30_000);
    const status = RUN_STATUSES[Math.floor(random() * RUN_STATUSES.length)] ?? 'succeeded';
    const tokens = Math.floor(random() * 50_000);
    chunk += `run_${agent.id.slice(4)}_${String(i).padStart(6, '0')},${agent.id},${startedAt},${duration},${status},${tokens}\n`;
    if (i % rowsPerChunk === 0 || i === rows) {
      yield chunk;
      chunk = '';
    }
  }
}
