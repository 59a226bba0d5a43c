// A real pino logger whose lines a test can read back, to assert the events the code logs.
import { createLogger, type Logger } from '../../src/adapters/logger.ts';

export interface LogLine {
  readonly level: string;
  readonly event?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: LogLine[];
  /** Lines whose `event` is `name`. */
  events(name: string): LogLine[];
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  const log = createLogger(level, {
    write(chunk: string) {
      lines.push(JSON.parse(chunk) as LogLine);
    },
  });
  return { log, lines, events: (name) => lines.filter((line) => line.event === name) };
}
