// `rf-edge validate [file]` as a user runs it (`node bin/rf-edge …` in a child process): the repository's table
// passes; a broken one exits 1 listing every problem as `file:line:col message`; a route naming a flag that the
// flags directory does not define is reported at the flag's line.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoFlagsDir } from '../support/edge-app.ts';
import { repoRoot, runRfEdge } from '../support/rf-edge-process.ts';

/** 1-based line and column where `needle` starts in `text` (its first occurrence). */
function position(text: string, needle: string): { line: number; col: number } {
  const lines = text.split('\n');
  const index = lines.findIndex((l) => l.includes(needle));
  assert.ok(index >= 0, `${needle} is in the file`);
  return { line: index + 1, col: (lines[index] as string).indexOf(needle) + 1 };
}

/** The `file:line:col message` lines of the output, parsed; every non-empty line must have that shape. */
function problemLines(output: string, file: string) {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  return lines.map((l) => {
    assert.ok(l.startsWith(`${file}:`), `"${l}" starts with the file name`);
    const m = /^(\d+):(\d+) (.+)$/.exec(l.slice(file.length + 1));
    assert.ok(m, `"${l}" reads file:line:col message`);
    return { line: Number(m[1]), col: Number(m[2]), message: m[3] as string };
  });
}

const BROKEN = `version: 1
upstreams:
  monolith: { url: http://127.0.0.1:3001 }
  agents: { url: http://127.0.0.1:3002 }
legacy: monolith
colour: blue
rollout:
  stepInterval: 5 fortnights
  steps: [10, 5, 50]
routes:
  - id: agents-read
    path: /api/agents/*
    service: nowhere
    flag: raptorflow.agents-read
    mode: canary
  - id: agents-read
    path: /api/agents/:id
    service: agents
    flag: raptorflow.agents-read
    mode: canary
  - id: reports
    path: api/reports
    service: agents
    mode: service
`;

describe('rf-edge validate', { concurrency: true }, () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rf-edge-validate-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the repository's routes.yaml is valid: exit 0 and a summary", async () => {
    const [byDefault, byName] = await Promise.all([runRfEdge(['validate']), runRfEdge(['validate', 'routes.yaml'])]);
    for (const result of [byDefault, byName]) {
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /:\d+:\d+ /, 'no problems or warnings');
      assert.match(result.stdout, /routes\.yaml: ok \(3 routes, 2 upstreams, 2 adapters, config [0-9a-f]{12}\)/);
    }
  });

  test('a broken file: exit 1 and every problem as file:line:col message', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, BROKEN);
    const result = await runRfEdge(['validate', file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const problems = problemLines(result.stderr, file);

    const expect = (needle: string, pattern: RegExp) => {
      const at = position(BROKEN, needle);
      const found = problems.find((p) => p.line === at.line);
      assert.ok(found, `a problem on line ${at.line} (${needle}); got ${JSON.stringify(problems)}`);
      assert.equal(found.col, at.col, `column of ${needle}`);
      assert.match(found.message, pattern);
    };
    expect('colour', /unknown key "colour"/);
    expect('5 fortnights', /invalid duration "5 fortnights"/);
    expect('[10, 5, 50]', /strictly increasing/);
    expect('nowhere', /upstream "nowhere" is not defined/);
    expect('api/reports', /path/);
    const duplicate = problems.find((p) => /duplicate route id "agents-read"/.test(p.message));
    assert.ok(duplicate, 'the duplicate id is reported');
    assert.equal(duplicate.line, BROKEN.split('\n').lastIndexOf('  - id: agents-read') + 1, 'at the second one');
    assert.ok(problems.length >= 6, `every problem at once (${problems.length})`);
  });

  test('a route whose flag is not in the flags directory is reported at the flag', async () => {
    // A flags directory that only defines agents-read: the repository's table also names agents-write.
    const flagsDir = join(dir, 'flags-read-only');
    const all = JSON.parse(await readFile(join(repoFlagsDir, 'raptorflow.json'), 'utf8')) as {
      version: number;
      features: Array<{ name: string }>;
    };
    await mkdir(flagsDir);
    await writeFile(
      join(flagsDir, 'raptorflow.json'),
      JSON.stringify({ ...all, features: all.features.filter((f) => f.name === 'raptorflow.agents-read') }),
    );
    const routesText = await readFile(join(repoRoot, 'routes.yaml'), 'utf8');
    const result = await runRfEdge(['validate', 'routes.yaml'], { FLAGS_DIR: flagsDir });
    assert.equal(result.code, 1);
    const problems = problemLines(result.stderr, 'routes.yaml');
    const at = position(routesText, 'raptorflow.agents-write');
    assert.deepEqual(problems, [
      {
        line: at.line,
        col: at.col,
        message: 'routes[2].flag: unknown flag "raptorflow.agents-write" (known flags: raptorflow.agents-read)',
      },
    ]);
  });

  test('legacy-adapter/ beside the table is checked: its problems at file:line:col, and routes naming unknown adapters', async () => {
    const tableDir = join(dir, 'with-adapters');
    await mkdir(join(tableDir, 'legacy-adapter'), { recursive: true });
    const adapter = [
      'version: 1',
      'operations:',
      '  - name: get',
      '    match: { path: /x, methods: [FETCH] }',
      '',
    ].join('\n');
    const adapterFile = join(tableDir, 'legacy-adapter', 'broken.yaml');
    await writeFile(adapterFile, adapter);
    const table = (await readFile(join(repoRoot, 'routes.yaml'), 'utf8')).replaceAll(
      'adapter: agents-v1',
      'adapter: agents-v9',
    );
    const tableFile = join(tableDir, 'routes.yaml');
    await writeFile(tableFile, table);
    const result = await runRfEdge(['validate', tableFile]);
    assert.equal(result.code, 1);
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    const unknown = lines.filter((l) => l.startsWith(`${tableFile}:`));
    const at = position(table, 'agents-v9');
    assert.equal(unknown.length, 3, result.stderr);
    assert.match(
      unknown[0] ?? '',
      new RegExp(
        `:${at.line}:${at.col} routes\\[0\\]\\.adapter: route "agents-read": unknown adapter "agents-v9" \\(legacy-adapter/ defines: none\\)`,
      ),
    );
    const fetchAt = position(adapter, 'FETCH');
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`${adapterFile}:`)),
      [`${adapterFile}:${fetchAt.line}:${fetchAt.col} operations[0].match.methods[0]: "FETCH" is not an HTTP method`],
    );
  });

  test('a file that cannot be read: exit 1 with the reason', async () => {
    const missing = join(dir, 'missing.yaml');
    const result = await runRfEdge(['validate', missing]);
    assert.equal(result.code, 1);
    const [problem] = problemLines(result.stderr, missing);
    assert.match(problem?.message ?? '', /ENOENT/);
  });
});
