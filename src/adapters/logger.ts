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

/** Where a logger made by createLogger writes, and the bindings it puts on every line. */
export interface RawLineSink {
  /** Pino's destination: one JSON line per write, as pino itself writes them. */
  readonly stream: { write(line: string): unknown };
  /** The logger's bindings as pino pre-serialises them (`,"service":"rf-edge"`). */
  readonly bindings: string;
}

const RAW_SINKS = new WeakMap<Logger, RawLineSink>();

/**
 * For a logger made by createLogger (whose line shape is known: `level` as a label, ISO `time`, its bindings, the
 * fields, `msg`): its destination, so a hot path may write a hand-formatted line of the same shape. Null for any
 * other logger (the caller then logs through pino).
 */
export function rawLineSink(log: Logger): RawLineSink | null {
  return RAW_SINKS.get(log) ?? null;
}

function remember(logger: Logger): Logger {
  const slots = logger as unknown as Record<symbol, unknown>;
  const stream = slots[pino.symbols.streamSym] as RawLineSink['stream'] | undefined;
  const bindings = slots[pino.symbols.chindingsSym];
  if (stream !== undefined && typeof stream.write === 'function' && typeof bindings === 'string') {
    RAW_SINKS.set(logger, { stream, bindings });
  }
  return logger;
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
  if (destination) return remember(pino(loggerOptions, destination));
  if (!options.buffered) return remember(pino(loggerOptions));
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
  return remember(pino(loggerOptions, stream));
}
