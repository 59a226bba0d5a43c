import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Write stdout through a 4 KiB buffer flushed at least every `flushEveryMs`, instead of one synchronous write per
   * line: the edge logs every request, and a write(2) per request is a measurable share of its CPU.
   */
  readonly buffered?: boolean;
  readonly flushEveryMs?: number;
}

/** Structured logs: one JSON object per event, with `event` naming what happened. */
export function createLogger(
  level: string = process.env['LOG_LEVEL'] ?? 'info',
  destination?: pino.DestinationStream,
  options: LoggerOptions = {},
): Logger {
  const loggerOptions: pino.LoggerOptions = {
    level,
    base: { service: 'rf-edge' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (destination) return pino(loggerOptions, destination);
  if (!options.buffered) return pino(loggerOptions);
  const stream = pino.destination({ dest: 1, minLength: 4096, sync: false });
  // A quiet edge must not sit on a half-full buffer: flush on a timer, and synchronously when the process exits.
  setInterval(() => stream.flush(), options.flushEveryMs ?? 200).unref();
  process.once('exit', () => {
    try {
      stream.flushSync();
    } catch {
      // stdout already closed: nothing left to save.
    }
  });
  return pino(loggerOptions, stream);
}
