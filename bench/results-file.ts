// bench/results/ is neither committed (.gitignore) nor linted (biome.json), so running the bench never breaks
// `npm run lint`; the JSON is written as JSON.stringify makes it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeResultsFile(file: string, results: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
