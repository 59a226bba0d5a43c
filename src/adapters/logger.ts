import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Write stdout through a 32 KiB buffer flushed at least every `flushEveryMs`, instead of one synchronous write per
   * line: the edge logs every request, and a write(2) per request is a measurable share of its CPU. Each async write
   * also wakes a libuv pool thread, which on a proxy pinned to one core preempts the event loop: at 4 KiB (~15
   * lines) that hand-off cost ~10 % of the edge's CPU under load, at 32 KiB ~2 %.
   */
  readonly buffered?: boolean;
  readonly flushEveryMs?: number;
}

/** Where a logger made by createLogger writes, and the bindings it puts on every line. */
export interface RawLineSink {
  /** Pino's destination (through a per-turn batch for the buffered logger): whole JSON lines per write. */
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

/**
 * Lines gathered during one event-loop turn and handed to the destination as one write on the next turn. sonic-boom
 * measures the byte length of its pending buffer (up to 16 KiB) on every write; at one request line per write that
 * was a tenth of the edge's CPU under load. A line written here may follow a line pino wrote later in the same turn:
 * order is kept among request lines, and every line carries its time.
 */
class TurnBatch {
  readonly #stream: RawLineSink['stream'];
  #pending = '';
  #scheduled = false;
  readonly #flush = () => this.flush();

  constructor(stream: RawLineSink['stream']) {
    this.#stream = stream;
  }

  write(line: string): void {
    this.#pending += line;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#stream.write(text);
  }
}

function remember(logger: Logger, batch: TurnBatch | null = null): Logger {
  const slots = logger as unknown as Record<symbol, unknown>;
  const stream = slots[pino.symbols.streamSym] as RawLineSink['stream'] | undefined;
  const bindings = slots[pino.symbols.chindingsSym];
  if (stream !== undefined && typeof stream.write === 'function' && typeof bindings === 'string') {
    RAW_SINKS.set(logger, { stream: batch ?? stream, bindings });
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
  // sonic-boom wants minLength below maxWrite (16 KiB by default).
  const stream = pino.destination({ dest: 1, minLength: 32 * 1024, maxWrite: 64 * 1024, sync: false });
  const batch = new TurnBatch(stream);
  // A quiet edge must not sit on a half-full buffer: flush on a timer, and synchronously when the process exits.
  setInterval(() => stream.flush(), options.flushEveryMs ?? 200).unref();
  process.once('exit', () => {
    try {
      batch.flush();
      stream.flushSync();
    } catch {
      // stdout already closed: nothing left to save.
    }
  });
  return remember(pino(loggerOptions, stream), batch);
}
