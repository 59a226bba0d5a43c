import { fstatSync, writeSync } from 'node:fs';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Write stdout in 64 KiB chunks flushed at least every `flushEveryMs`, instead of one write per line: the edge logs
   * every request, and a write(2) per request is a measurable share of its CPU. Lines reach stdout up to
   * `flushEveryMs` late (and at once at exit).
   */
  readonly buffered?: boolean;
  readonly flushEveryMs?: number;
}

/** Where a logger made by createLogger writes, and the bindings it puts on every line. */
export interface RawLineSink {
  /** Pino's destination (the line batch, for the buffered logger): whole JSON lines per write. */
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
 * Every line of the buffered logger (pino's and the hand-formatted request lines alike, so their order is kept),
 * encoded straight into chunks of `chunkBytes` handed to the destination (sonic-boom in buffer mode) one chunk per
 * write. sonic-boom's text mode measures the UTF-8 length of the data and of its pending string on every write,
 * flattening the string it keeps appending to: at one write per line or per event-loop turn that was a tenth of the
 * edge's CPU under load, and still a few percent per 32 KiB string. A chunk is written when full, on the flush
 * timer, and synchronously at exit.
 */
export class LineBatch {
  readonly #stream: BatchTarget;
  readonly #chunkBytes: number;
  #chunk: Buffer | null = null;
  #used = 0;

  constructor(stream: BatchTarget, chunkBytes: number) {
    this.#stream = stream;
    this.#chunkBytes = chunkBytes;
  }

  write(line: string): boolean {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: a line that might not fit closes the chunk first.
    const worst = line.length * 3;
    if (worst > this.#chunkBytes) {
      this.#handOver();
      this.#stream.write(Buffer.from(line));
      return true;
    }
    if (this.#chunk === null || this.#used + worst > this.#chunkBytes) {
      this.#handOver();
      this.#chunk = Buffer.allocUnsafe(this.#chunkBytes);
    }
    this.#used += this.#chunk.write(line, this.#used, 'utf8');
    return true;
  }

  /** The partial chunk, taken out of the batch instead of handed over (for a synchronous write at exit). */
  take(): Buffer | null {
    const chunk = this.#chunk;
    if (chunk === null || this.#used === 0) return null;
    const taken = chunk.subarray(0, this.#used);
    this.#chunk = null;
    this.#used = 0;
    return taken;
  }

  /** Hands the partial chunk over; `done` (pino's `logger.flush(cb)`) once the destination has written it. */
  flush(done?: (err?: Error) => void): void {
    this.#handOver();
    if (done === undefined) return;
    if (this.#stream.flush) this.#stream.flush(done);
    else done();
  }

  #handOver(): void {
    // The destination keeps the chunk until written: a new one is taken for the next lines, never reused.
    const chunk = this.take();
    if (chunk !== null) this.#stream.write(chunk);
  }
}

interface BatchTarget {
  write(chunk: Buffer): unknown;
  flush?(done: (err?: Error) => void): void;
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

/** The buffered logger's chunk: ~150 request lines, a write(2) per 64 KiB. */
const CHUNK_BYTES = 64 * 1024;

/** True when writes to `fd` complete without a reader: a regular file or a character device (/dev/null, a tty). */
export function neverBlocks(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() || stat.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Writes all of `data` before returning; a non-blocking pipe that is full (EAGAIN) is waited on, up to ~1 s. */
function writeAllSync(fd: number, data: Buffer): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let at = 0;
  for (let waits = 0; at < data.length; ) {
    try {
      at += writeSync(fd, data, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 100) throw err;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
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
  // Chunks go to sonic-boom as they fill, and it writes each at once: synchronously when stdout is a file or a
  // character device (a write(2) into the page cache never waits for a reader, and handing it to a libuv pool thread
  // instead cost 3-4x the write itself on a proxy pinned to one core: ~3 % of the edge's CPU under load), else
  // asynchronously, queueing while one is in flight, so a stalled log collector on a pipe or socket does not stall
  // the proxy.
  const stream = pino.destination({
    dest: 1,
    minLength: 0,
    maxWrite: 2 * CHUNK_BYTES,
    sync: neverBlocks(1),
    contentMode: 'buffer',
  });
  // In buffer mode sonic-boom's write takes Buffers; its typings know only the text mode.
  const batch = new LineBatch(stream as unknown as BatchTarget, CHUNK_BYTES);
  // A quiet edge must not sit on a half-full chunk: flush on a timer. When the process is about to end on its own
  // (`rf-edge start` after `edge.stopped`), the last chunk goes while the event loop can still wait for it: an
  // asynchronous write keeps the process alive, and 'beforeExit' comes again once it is done, with nothing left.
  setInterval(() => batch.flush(), options.flushEveryMs ?? 200).unref();
  process.on('beforeExit', () => batch.flush());
  // process.exit() gives no such chance: what sonic-boom queued and the partial chunk are written synchronously (a
  // write sonic-boom has in flight then may still be lost).
  process.once('exit', () => {
    try {
      stream.flushSync();
      const rest = batch.take();
      if (rest !== null) writeAllSync(1, rest);
    } catch {
      // stdout already closed: nothing left to save.
    }
  });
  return remember(pino(loggerOptions, batch));
}
