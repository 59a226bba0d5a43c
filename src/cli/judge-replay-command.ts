// `rf-edge judge replay <route> [--from T] [--to T] [--routes other.yaml]`: re-runs the judge over the seconds the
// edge recorded (DATA_DIR/judge-slots or PostgreSQL) and prints, second by second, what it would have decided and
// why, under the route's policy in ROUTES_FILE or in a candidate file, before anyone changes routes.yaml.

import { createJudgeSlotStore } from '../adapters/judge-slots/index.ts';
import { createLogger } from '../adapters/logger.ts';
import type { EdgeEnv } from '../config/env.ts';
import { formatProblems, loadRouteTableFile } from '../config/load-route-table.ts';
import { replayJudge } from '../core/judge-replay.ts';

export interface JudgeReplayOptions {
  readonly env: EdgeEnv;
  readonly sub: string | undefined;
  readonly routeId: string | undefined;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly routes: string | undefined;
  readonly json: boolean;
  readonly io: { out: (s: string) => void; err: (s: string) => void };
}

/** An ISO time, or a number of epoch seconds; undefined stays open. */
function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`--${name} must be an ISO time or epoch seconds, got "${value}"`);
  return Math.floor(ms / 1000);
}

export async function runJudgeReplay(o: JudgeReplayOptions): Promise<number> {
  if (o.sub !== 'replay' || !o.routeId) {
    o.io.err('usage: rf-edge judge replay <route> [--from T] [--to T] [--routes file.yaml] [--json]');
    return 2;
  }
  let from: number | undefined;
  let to: number | undefined;
  try {
    from = parseTime(o.from, 'from');
    to = parseTime(o.to, 'to');
  } catch (err) {
    o.io.err(`rf-edge: ${(err as Error).message}`);
    return 2;
  }
  const file = o.routes ?? o.env.ROUTES_FILE;
  const loaded = await loadRouteTableFile(file);
  if (!loaded.ok) {
    o.io.err(formatProblems(loaded.problems));
    return 1;
  }
  const route = loaded.table.routes.find((r) => r.id === o.routeId);
  if (!route) {
    o.io.err(`rf-edge: no route "${o.routeId}" in ${file}`);
    return 1;
  }
  const store = createJudgeSlotStore(o.env, createLogger('warn', process.stderr));
  try {
    const records = await store.read(route.id, from ?? 0, to ?? Number.MAX_SAFE_INTEGER);
    const { lines, rolledBackAt } = replayJudge(route.id, records, route.rollout);
    if (o.json) {
      o.io.out(JSON.stringify({ route: route.id, policyFile: file, seconds: records.length, rolledBackAt, lines }));
      return 0;
    }
    const p = route.rollout;
    o.io.out(
      `judge replay of ${route.id} under ${file} (error margin +${(p.maxErrorRateIncrease * 100).toFixed(2)} points, latency margin +${Math.round(p.maxLatencyIncrease * 100)}%, p99 ≤ ${p.maxP99Ms} ms and ≤ ${p.maxP99Ratio}× the monolith): ${records.length} recorded seconds`,
    );
    for (const line of lines) {
      o.io.out(
        `${new Date(line.second * 1000).toISOString()}  ${line.outcome.padEnd(17)} ${line.rule.padEnd(20)} ${line.reason}`,
      );
    }
    const held = lines.filter((l) => l.outcome === 'insufficient_data').length;
    const healthy = lines.filter((l) => l.outcome === 'healthy').length;
    o.io.out(
      rolledBackAt === null
        ? `no rollback: ${healthy} healthy and ${held} holding verdicts`
        : `would have rolled back at ${new Date(rolledBackAt * 1000).toISOString()} (${lines.at(-1)?.rule ?? '?'}), after ${healthy} healthy and ${held} holding verdicts`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
