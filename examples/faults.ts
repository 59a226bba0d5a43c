// Test-only fault injection for the example servers: the rollout tests make the service fail or slow down on
// demand and watch the edge react. Failures are spread deterministically (an error-rate accumulator, not a random
// draw), so "errorRate 0.5" fails exactly every second request and a test never flakes on an unlucky draw.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyError, readJsonBody, sendError, sendJson, sendMethodNotAllowed } from './respond.ts';

export interface FaultSettings {
  /** Share of requests that fail, 0..1; failures are evenly spread (0.5 ⇒ every 2nd, 0.25 ⇒ every 4th). */
  readonly errorRate: number;
  /** Delay added before every request in scope is answered, failing or not. */
  readonly latencyMs: number;
  /** Status of a failed request (400..599). */
  readonly status: number;
  /** A failed request gets its connection cut with no response (a transport error) instead of `status`. */
  readonly closeConnection: boolean;
}

export const NO_FAULTS: FaultSettings = Object.freeze({
  errorRate: 0,
  latencyMs: 0,
  status: 503,
  closeConnection: false,
});

export type FaultFate =
  | { readonly delayMs: number; readonly fail: false }
  | { readonly delayMs: number; readonly fail: true; readonly status: number; readonly closeConnection: boolean };

export interface FaultStats {
  readonly settings: FaultSettings;
  /** Requests in scope since the settings were last set. */
  readonly requests: number;
  /** Of those, how many were failed on purpose. */
  readonly injected: number;
}

const KEYS = new Set(['errorRate', 'latencyMs', 'status', 'closeConnection']);

/** Validates `POST /__faults` input; omitted fields take the no-fault default. */
export function parseFaultSettings(
  input: unknown,
): { ok: true; value: FaultSettings } | { ok: false; message: string } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, message: 'faults must be a JSON object' };
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!KEYS.has(key)) return { ok: false, message: `unknown fault setting "${key}"` };
  }
  const { errorRate = 0, latencyMs = 0, status = 503, closeConnection = false } = record;
  if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) {
    return { ok: false, message: 'errorRate must be a number from 0 to 1' };
  }
  if (typeof latencyMs !== 'number' || !Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > 600_000) {
    return { ok: false, message: 'latencyMs must be an integer from 0 to 600000' };
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
    return { ok: false, message: 'status must be an integer from 400 to 599' };
  }
  if (typeof closeConnection !== 'boolean') return { ok: false, message: 'closeConnection must be a boolean' };
  return { ok: true, value: Object.freeze({ errorRate, latencyMs, status, closeConnection }) };
}

export class FaultInjector {
  #settings: FaultSettings = NO_FAULTS;
  #credit = 0;
  #requests = 0;
  #injected = 0;

  constructor(initial: Partial<FaultSettings> = {}) {
    this.set(initial);
  }

  /** Replaces every setting (omitted ones fall back to no fault) and restarts the counters and the spread. */
  set(settings: Partial<FaultSettings>): FaultSettings {
    const parsed = parseFaultSettings(settings);
    if (!parsed.ok) throw new TypeError(parsed.message);
    this.#settings = parsed.value;
    this.#credit = 0;
    this.#requests = 0;
    this.#injected = 0;
    return parsed.value;
  }

  clear(): void {
    this.set({});
  }

  stats(): FaultStats {
    return { settings: this.#settings, requests: this.#requests, injected: this.#injected };
  }

  /** Counts one request and says what happens to it. */
  next(): FaultFate {
    const { errorRate, latencyMs, status, closeConnection } = this.#settings;
    this.#requests += 1;
    this.#credit += errorRate;
    // The small epsilon keeps rates like 0.1 (not exact in binary) from drifting one request late.
    if (this.#credit >= 1 - 1e-9) {
      this.#credit -= 1;
      this.#injected += 1;
      return { delayMs: latencyMs, fail: true, status, closeConnection };
    }
    return { delayMs: latencyMs, fail: false };
  }
}

/** Accepts either a live injector (a test keeps the handle) or plain settings. */
export function toFaultInjector(faults: FaultInjector | Partial<FaultSettings> | undefined): FaultInjector {
  return faults instanceof FaultInjector ? faults : new FaultInjector(faults ?? {});
}

/** Applies the configured fault to one request. Resolves true when the fault answered (or cut) the request, so the
 * caller must not answer it again. */
export async function applyFault(injector: FaultInjector, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const fate = injector.next();
  if (fate.delayMs > 0) await new Promise((resolveDelay) => setTimeout(resolveDelay, fate.delayMs));
  if (!fate.fail) return false;
  if (fate.closeConnection) {
    req.socket.destroy();
    return true;
  }
  // A request body is left unread; closing spares the connection a drain of what may be a large upload.
  const close = hasBody(req) ? { connection: 'close' } : {};
  sendError(req, res, fate.status, 'injected_fault', 'failure injected through /__faults', close);
  return true;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
}

/** `GET /__faults` shows the settings and counters, `POST` replaces the settings, `DELETE` clears them. */
export async function handleFaultsAdmin(
  injector: FaultInjector,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      sendJson(req, res, 200, injector.stats());
      return;
    case 'POST': {
      let parsed: ReturnType<typeof parseFaultSettings>;
      try {
        parsed = parseFaultSettings(await readJsonBody(req));
      } catch (err) {
        if (!(err instanceof BodyError)) throw err;
        sendError(req, res, err.status, err.code, err.message);
        return;
      }
      if (!parsed.ok) {
        sendError(req, res, 400, 'invalid_faults', parsed.message);
        return;
      }
      injector.set(parsed.value);
      sendJson(req, res, 200, injector.stats());
      return;
    }
    case 'DELETE':
      injector.clear();
      sendJson(req, res, 200, injector.stats());
      return;
    default:
      sendMethodNotAllowed(req, res, ['GET', 'HEAD', 'POST', 'DELETE']);
  }
}
