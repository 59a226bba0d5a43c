// The rollout commands of `rf-edge` (child processes, as a person types them) against a running edge's admin API:
// status, set-weight, pause, resume, promote, rollback, history, in text and --json; the admin address from
// ADMIN_HOST/ADMIN_PORT or --admin-url, the token from ADMIN_TOKEN or --token; errors exit 1 with their code,
// usage mistakes exit 2 with the usage.
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../bench/child-processes.ts';
import { type EdgeApp, startEdgeApp } from '../support/edge-app.ts';
import { type CliResult, runRfEdge } from '../support/rf-edge-process.ts';
import { startUpstream, type TestUpstream } from '../support/upstream.ts';

const TOKEN = 'cli-test-token';
const ACTOR = `cli:${userInfo().username}`;

function tableYaml(monolith: TestUpstream, agents: TestUpstream): string {
  return [
    'version: 1',
    'upstreams:',
    `  monolith: { url: ${monolith.url} }`,
    `  agents: { url: ${agents.url} }`,
    'legacy: monolith',
    'routes:',
    '  - id: agents-read',
    '    path: /api/agents/*',
    '    methods: [GET, HEAD]',
    '    service: agents',
    '    flag: raptorflow.agents-read',
    '    mode: canary',
    '  - id: reports',
    '    path: /api/reports/*',
    '    service: agents',
    '    mode: legacy',
    '',
  ].join('\n');
}

/** The row of route `id` in a printed route table, split into its columns (two or more spaces apart). */
function row(output: string, id: string): string[] {
  const line = output.split('\n').find((l) => l.startsWith(`${id} `));
  assert.ok(line, `a row for ${id} in:\n${output}`);
  return line.split(/ {2,}/);
}

function ok(result: CliResult): string {
  assert.equal(result.code, 0, `exit 0 expected; stderr:\n${result.stderr}`);
  return result.stdout;
}

describe('rf-edge rollout commands against a running edge', () => {
  let monolith: TestUpstream;
  let agents: TestUpstream;
  let app: EdgeApp;
  /** Reaches the edge through --admin-url, authenticated through ADMIN_TOKEN. */
  let viaUrl: (args: string[], env?: Record<string, string>) => Promise<CliResult>;

  before(async () => {
    monolith = await startUpstream('monolith');
    agents = await startUpstream('agents');
    app = await startEdgeApp(tableYaml(monolith, agents), { env: { ADMIN_TOKEN: TOKEN } });
    viaUrl = (args, env = { ADMIN_TOKEN: TOKEN }) => runRfEdge([...args, '--admin-url', app.adminUrl], env);
  });

  after(async () => {
    await app?.close();
    await monolith?.close();
    await agents?.close();
  });

  test('status prints every route with phase and weight (admin address from ADMIN_PORT); --json the API answer', async () => {
    const [text, json] = await Promise.all([
      runRfEdge(['status'], { ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(app.edge.adminPort) }),
      viaUrl(['status', '--json']),
    ]);
    const out = ok(text);
    assert.match(out, new RegExp(`^config ${app.edge.table().hash}, unmatched → monolith$`, 'm'));
    assert.deepEqual(row(out, 'agents-read').slice(0, 6), [
      'agents-read',
      'GET,HEAD',
      '/api/agents/*',
      'canary',
      'canary 1/5',
      '10%',
    ]);
    assert.deepEqual(row(out, 'reports').slice(0, 6), ['reports', '*', '/api/reports/*', 'legacy', 'off', '0%']);

    const view = JSON.parse(ok(json)) as { configHash: string; routes: Array<{ id: string; phase: string }> };
    assert.equal(view.configHash, app.edge.table().hash);
    assert.deepEqual(
      view.routes.map((r) => [r.id, r.phase]),
      [
        ['agents-read', 'canary'],
        ['reports', 'off'],
      ],
    );
  });

  test('set-weight, pause, resume, promote, rollback change the route and print it; history lists them', async () => {
    const stateNow = async () => {
      const res = await fetch(`${app.adminUrl}/api/routes/agents-read`);
      return (await res.json()) as { phase: string; weight: number; updatedBy: string };
    };

    // The token from --token, no ADMIN_TOKEN in the environment.
    const weighted = row(ok(await viaUrl(['set-weight', 'agents-read', '35', '--token', TOKEN], {})), 'agents-read');
    assert.deepEqual(
      [weighted[4], weighted[5], weighted[7]],
      ['canary 3/5 (manual)', '35%', 'weight set to 35% from the command line'],
    );
    const afterWeight = await stateNow();
    assert.deepEqual([afterWeight.phase, afterWeight.weight, afterWeight.updatedBy], ['canary', 35, ACTOR]);

    const paused = ok(await viaUrl(['pause', 'agents-read', '--reason', 'looking at p99']));
    assert.deepEqual(
      [row(paused, 'agents-read')[4], row(paused, 'agents-read')[5], row(paused, 'agents-read')[7]],
      ['paused 3/5 (manual)', '35%', 'looking at p99'],
    );
    assert.equal((await stateNow()).phase, 'paused');

    const resumed = row(ok(await viaUrl(['resume', 'agents-read'])), 'agents-read');
    // Resuming hands the route back to the controller: the pin goes, the weight is its step's again.
    assert.deepEqual([resumed[4], resumed[5], resumed[7]], ['canary 3/5', '30%', 'resume from the command line']);

    const promoted = JSON.parse(ok(await viaUrl(['promote', 'agents-read', '--json']))) as Record<string, unknown>;
    assert.equal(promoted['phase'], 'promoted');
    assert.equal(promoted['weight'], 100);
    assert.equal(promoted['updatedBy'], ACTOR);

    const rolledBack = row(
      ok(await viaUrl(['rollback', 'agents-read', '--reason', 'errors in checkout'])),
      'agents-read',
    );
    assert.deepEqual([rolledBack[4], rolledBack[5], rolledBack[7]], ['rolled_back', '0%', 'errors in checkout']);
    const afterRollback = await stateNow();
    assert.deepEqual([afterRollback.phase, afterRollback.weight], ['rolled_back', 0]);

    const [historyText, historyJson] = await Promise.all([
      viaUrl(['history', 'agents-read']),
      viaUrl(['history', 'agents-read', '--json', '--limit', '2']),
    ]);
    const lines = ok(historyText).trimEnd().split('\n');
    assert.deepEqual(lines[0]?.split(/ {2,}/), ['AT', 'FROM', 'TO', 'ACTOR', 'WHY']);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/ {2,}/).slice(1)),
      [
        ['promoted 100%', 'rolled_back 0%', ACTOR, 'errors in checkout'],
        ['canary 30%', 'promoted 100%', ACTOR, 'promote from the command line'],
        ['paused 35%', 'canary 30%', ACTOR, 'resume from the command line'],
        ['canary 35%', 'paused 35%', ACTOR, 'looking at p99'],
        ['canary 10%', 'canary 35%', ACTOR, 'weight set to 35% from the command line'],
        ['off 0%', 'canary 10%', 'config', 'mode: canary, starting at step 1/5 (10%)'],
      ],
      'newest first',
    );
    const json = JSON.parse(ok(historyJson)) as { route: string; events: Array<{ to: string; actor: string }> };
    assert.equal(json.route, 'agents-read');
    assert.deepEqual(
      json.events.map((e) => [e.to, e.actor]),
      [
        ['rolled_back', ACTOR],
        ['promoted', ACTOR],
      ],
    );
  });

  test('errors from the edge exit 1 with their code; usage mistakes exit 2 with the usage', async () => {
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const [wrongToken, unknownRoute, refused, down] = await Promise.all([
      viaUrl(['promote', 'agents-read', '--token', 'not-the-token'], {}),
      viaUrl(['pause', 'no-such-route']),
      viaUrl(['pause', 'reports']),
      runRfEdge(['status', '--admin-url', unreachable]),
    ]);
    for (const [result, code] of [
      [wrongToken, 'RF_UNAUTHORIZED'],
      [unknownRoute, 'RF_ROUTE_NOT_FOUND'],
      [refused, 'RF_TRANSITION_REFUSED'],
      [down, 'RF_ADMIN_UNREACHABLE'],
    ] as const) {
      assert.equal(result.code, 1, `${code}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, new RegExp(`^rf-edge: ${code}: \\S`), result.stderr);
    }
    assert.match(refused.stderr, /nothing is rolling out/);

    const usage = await Promise.all([
      runRfEdge(['frobnicate']),
      runRfEdge(['pause']),
      runRfEdge(['set-weight', 'agents-read', '101']),
    ]);
    for (const result of usage) {
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^rf-edge: /);
      assert.match(result.stderr, /Usage: rf-edge <command> \[options\]/);
    }
    assert.match(usage[0]?.stderr ?? '', /unknown command "frobnicate"/);
    const state = (await (await fetch(`${app.adminUrl}/api/routes/agents-read`)).json()) as { phase: string };
    assert.equal(state.phase, 'rolled_back', 'none of the failed commands changed the route');
  });
});
