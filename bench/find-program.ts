// Where an optional program the bench uses lives (nginx, taskset): on PATH, else at the path Debian installs it
// (sbin is often missing from a user's PATH).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable `name` on `path`, else `fallback` when executable, else null. */
export function findProgram(name: string, fallback: string, path: string = process.env['PATH'] ?? ''): string | null {
  const candidates = [
    ...path
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, name)),
    fallback,
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next one.
    }
  }
  return null;
}
