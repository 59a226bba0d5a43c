// A real pino logger whose JSON lines are kept in memory, so tests can assert the events a component logged.

import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/adapters/logger.ts';

export interface CapturedLog {
  readonly log: Logger;
  /** Every line logged so far, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** Lines whose `event` field equals `event`. */
  events(event: string): Array<Record<string, unknown>>;
}

export function captureLogger(level = 'debug'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return {
    log: createLogger(level, sink),
    lines: () => lines,
    events: (event) => lines.filter((l) => l['event'] === event),
  };
}
