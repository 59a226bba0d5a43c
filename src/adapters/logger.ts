import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Structured logs: one JSON object per event, with `event` naming what happened. */
export function createLogger(
  level: string = process.env['LOG_LEVEL'] ?? 'info',
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'rf-edge' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
