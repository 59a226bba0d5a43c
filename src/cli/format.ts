// Plain-text renderings of admin API answers for the terminal.

export interface RouteView {
  id: string;
  path: string;
  methods: string[] | null;
  mode: string;
  service: string;
  flag: string | null;
  steps: number[];
  phase: string;
  weight: number;
  stepIndex: number;
  manualWeight: boolean;
  since: string | null;
  reason: string | null;
  updatedBy: string | null;
}

export interface RoutesView {
  configHash?: string;
  legacy?: string;
  routes: RouteView[];
  [key: string]: unknown;
}

export interface HistoryView {
  route: string;
  events: Array<{
    at: string;
    from: string;
    to: string;
    fromWeight: number;
    toWeight: number;
    actor: string;
    reason: string;
  }>;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatRoutes(view: RoutesView): string {
  const head = view.configHash ? `config ${view.configHash}, unmatched → ${view.legacy}\n` : '';
  const rows = [['ROUTE', 'METHODS', 'PATH', 'MODE', 'PHASE', 'WEIGHT', 'SINCE', 'WHY']];
  for (const r of view.routes) {
    const step = r.stepIndex >= 0 ? ` ${r.stepIndex + 1}/${r.steps.length}` : '';
    rows.push([
      r.id,
      (r.methods ?? ['*']).join(','),
      r.path,
      r.mode,
      `${r.phase}${step}${r.manualWeight ? ' (manual)' : ''}`,
      `${r.weight}%`,
      r.since ?? '-',
      r.reason ?? '',
    ]);
  }
  return head + table(rows);
}

export function formatHistory(view: HistoryView): string {
  if (view.events.length === 0) return `${view.route}: no transitions recorded`;
  const rows = [['AT', 'FROM', 'TO', 'ACTOR', 'WHY']];
  for (const e of view.events) {
    rows.push([e.at, `${e.from} ${e.fromWeight}%`, `${e.to} ${e.toWeight}%`, e.actor, e.reason]);
  }
  return table(rows);
}

/** What `rf-edge diff` reads from GET /api/routes/:id/diff (the fields it prints). */
export interface DiffCliView {
  route: string;
  phase: string;
  gate: boolean;
  since: string;
  compared: number;
  matches: number;
  noise: number;
  mismatches: number;
  errors: number;
  skipped: number;
  mismatchRate: number | null;
  maxMismatchRate: number;
  verdict: { kind: string; outcome: string; reason: string };
  learning: { compared: number; noiseSamples: number; ruled: number };
  fields: Array<{
    status: number;
    field: string;
    raw: number;
    noise: number;
    rawRate: number;
    noiseRate: number;
    verdict: string;
  }>;
  examples: Array<{
    at: string;
    method: string;
    path: string;
    differences: Array<{ path: string; kind: string; legacy: string | null; service: string | null }>;
  }>;
  suggest: string[];
}

function rate(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(2)}%`;
}

export function formatDiff(view: DiffCliView): string {
  const lines = [
    `route ${view.route} (${view.phase}${view.gate ? ', gated' : ''}) since ${view.since}`,
    `compared ${view.compared}: ${view.matches} match, ${view.noise} noise only, ${view.mismatches} mismatch, ` +
      `${view.errors} errors, ${view.skipped} skipped; mismatch rate ${rate(view.mismatchRate)} (max ${rate(view.maxMismatchRate)})`,
    `${view.verdict.kind === 'gate' ? 'gate' : 'diff rule'}: ${view.verdict.outcome}: ${view.verdict.reason}`,
    `learning: ${view.learning.compared} compared, ${view.learning.noiseSamples} second monolith answers, ${view.learning.ruled} differences absorbed by rules`,
  ];
  if (view.fields.length > 0) {
    lines.push('');
    lines.push(
      table([
        ['STATUS', 'FIELD', 'RAW', 'RAW%', 'NOISE', 'NOISE%', 'VERDICT'],
        ...view.fields.map((f) => [
          String(f.status),
          f.field,
          String(f.raw),
          rate(f.rawRate),
          String(f.noise),
          rate(f.noiseRate),
          f.verdict,
        ]),
      ]),
    );
  }
  for (const e of view.examples.slice(0, 3)) {
    lines.push('', `${e.at} ${e.method} ${e.path}`);
    for (const d of e.differences.slice(0, 5)) {
      lines.push(`  ${d.path} ${d.kind}: ${d.legacy ?? '(absent)'} -> ${d.service ?? '(absent)'}`);
    }
  }
  return lines.join('\n');
}

/** `rf-edge diff suggest`: the rules to paste under the route's `shadow:` block. */
export function formatSuggest(view: DiffCliView): string {
  if (view.suggest.length === 0) {
    return `# route ${view.route}: no field is learned noise yet (${view.learning.noiseSamples} second monolith answers so far)`;
  }
  return [
    `# route ${view.route}: noise learned from ${view.learning.noiseSamples} second monolith answers`,
    'rules:',
    ...view.suggest.map((r) => `  ${r}`),
  ].join('\n');
}
