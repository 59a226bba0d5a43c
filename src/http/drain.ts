// Graceful shutdown: which connections are open, which requests are in flight, which sockets are WebSocket tunnels,
// and the drain itself (stop accepting, let in-flight requests finish within the deadline, close idle keep-alive
// sockets as their last response is flushed, then the tunnels, then the pools).

import type { Duplex } from 'node:stream';
import type { Logger } from '../adapters/logger.ts';
import { BUSY, type TaggedSocket } from './request-state.ts';

export class ConnectionTracker {
  readonly #log: Logger;
  readonly #shutdownTimeoutMs: number;
  readonly #sockets = new Set<TaggedSocket>();
  readonly #tunnels = new Set<Duplex>();
  readonly #idleWaiters: Array<() => void> = [];
  /** Requests being answered, including upgrade handshakes not yet switched. */
  #active = 0;
  draining = false;

  constructor(log: Logger, shutdownTimeoutMs: number) {
    this.#log = log;
    this.#shutdownTimeoutMs = shutdownTimeoutMs;
  }

  /** HTTP requests being answered plus open WebSocket tunnels. */
  inFlight(): number {
    return this.#active + this.#tunnels.size;
  }

  connection(socket: TaggedSocket): void {
    const sockets = this.#sockets;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  /** A plain request started on `socket` (its response is under way until responseEnded). */
  requestStarted(socket: TaggedSocket): void {
    this.#active++;
    socket[BUSY] = (socket[BUSY] ?? 0) + 1;
  }

  /** The response of a plain request closed; while draining its connection goes once idle. */
  responseEnded(socket: TaggedSocket): void {
    socket[BUSY] = (socket[BUSY] ?? 1) - 1;
    if (this.draining) this.#reapIfIdle(socket);
    this.requestEnded();
  }

  /** An upgrade handshake started (it counts as a request until it switches or fails). */
  upgradeStarted(): void {
    this.#active++;
  }

  /** The upgrade switched: from now on a tunnel, not a request the drain waits for. */
  tunnelOpened(socket: Duplex): void {
    const tunnels = this.#tunnels;
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    this.requestEnded();
  }

  requestEnded(): void {
    this.#active--;
    if (this.draining && this.#active === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** A response is being written on this socket (a parse error then cannot get an answer of its own). */
  busy(socket: TaggedSocket): boolean {
    return (socket[BUSY] ?? 0) > 0;
  }

  /**
   * Drains: `stopAccepting` (fastify's close: the listener stops, idle keep-alive sockets close; it resolves when
   * the last connection is gone), then waits for in-flight requests up to the deadline, cuts what is left, closes the
   * tunnels, and runs `closePools`.
   */
  async drain(stopAccepting: () => Promise<void>, closePools: () => Promise<unknown>): Promise<void> {
    this.draining = true;
    const appClosed = stopAccepting();
    for (const socket of this.#sockets) this.#reapIfIdle(socket);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#shutdownTimeoutMs);
    });
    const requestsDone =
      this.#active === 0 ? Promise.resolve(true) : new Promise<true>((r) => this.#idleWaiters.push(() => r(true)));
    const inTime = await Promise.race([requestsDone, deadline]);
    if (!inTime) {
      this.#log.warn(
        { event: 'edge.drain_timeout', cutOff: this.#active, shutdownTimeoutMs: this.#shutdownTimeoutMs },
        'in-flight requests cut off',
      );
      for (const socket of this.#sockets) socket.destroy();
    }
    // WebSocket tunnels have no natural end: they stay while HTTP requests finish, then go (clients reconnect).
    for (const tunnel of this.#tunnels) tunnel.destroy();
    const closedInTime = await Promise.race([appClosed.then(() => true), deadline]);
    clearTimeout(timer);
    if (!closedInTime) {
      for (const socket of this.#sockets) socket.destroy();
      await appClosed;
    }
    await closePools();
    this.#log.info({ event: 'edge.closed', drainedInTime: inTime }, 'edge listener closed');
  }

  /** While draining, a keep-alive connection whose last response is done is closed, once its bytes are flushed. */
  #reapIfIdle(socket: TaggedSocket): void {
    if (socket.destroyed || (socket[BUSY] ?? 0) > 0 || this.#tunnels.has(socket)) return;
    if (socket.writableLength > 0) {
      socket.once('drain', () => this.#reapIfIdle(socket));
      return;
    }
    socket.destroy();
  }
}
