// bench/results/latest.json is not committed, but biome.json covers `bench/**` and biome does not read .gitignore
// here, so the file is written exactly as `biome format` would write it: otherwise `npm run lint` would fail in
// every working copy where someone has run the bench.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export function writeResultsFile(file: string, results: unknown, repoRoot: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  let biome: string;
  try {
    biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  } catch {
    return; // Without biome there is no lint to keep happy; the JSON is valid as written.
  }
  // A file outside the repository is outside biome's includes; biome then changes nothing, which is fine.
  spawnSync(process.execPath, [biome, 'format', '--write', file], { cwd: repoRoot, stdio: 'ignore', timeout: 20_000 });
}
