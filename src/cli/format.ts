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
