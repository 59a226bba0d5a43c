// A catalogue of coded errors, in the spirit of fastify's `createError('FST_ERR_…')`: every error the edge raises
// has a stable `code` that logs, metrics and JSON error bodies carry, and keeps the original failure as `cause`.

export const ERROR_CATALOGUE = {
  RF_CONFIG_INVALID: { status: 500, message: 'route table is invalid' },
  RF_CONFIG_READ: { status: 500, message: 'route table could not be read' },
  RF_ENV_INVALID: { status: 500, message: 'environment is invalid' },
  RF_BAD_PATH: { status: 400, message: 'request path is not allowed' },
  RF_BAD_REQUEST: { status: 400, message: 'request is malformed' },
  RF_URI_TOO_LONG: { status: 414, message: 'request URI is too long' },
  RF_HEADERS_TOO_LARGE: { status: 431, message: 'request headers are too large' },
  RF_UPSTREAM_CONNECT: { status: 502, message: 'upstream could not be reached' },
  RF_UPSTREAM_RESET: { status: 502, message: 'upstream closed the connection' },
  RF_UPSTREAM_TIMEOUT: { status: 504, message: 'upstream did not answer in time' },
  RF_UPSTREAM_ERROR: { status: 502, message: 'upstream failed' },
  RF_ADAPTER_FAILED: { status: 502, message: 'the service answer could not be translated for this client' },
  RF_ADAPTER_BODY_TOO_LARGE: { status: 413, message: 'request body is too large to translate' },
  RF_ADAPTER_RESPONSE_TOO_LARGE: { status: 502, message: 'the service answer is too large to translate' },
  RF_UNAUTHORIZED: { status: 401, message: 'a valid admin token is required' },
  RF_NOT_FOUND: { status: 404, message: 'not found' },
  RF_ROUTE_NOT_FOUND: { status: 404, message: 'no such route' },
  RF_TRANSITION_REFUSED: { status: 409, message: 'transition not allowed in the current state' },
  RF_VALIDATION: { status: 400, message: 'request body is invalid' },
  RF_STATE_STORE: { status: 503, message: 'state store unavailable' },
  RF_AUDIT_STORE: { status: 503, message: 'audit store unavailable' },
  RF_FLAGS: { status: 500, message: 'feature flags unavailable' },
  RF_SHUTTING_DOWN: { status: 503, message: 'the edge is shutting down' },
  RF_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class EdgeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message ?? ERROR_CATALOGUE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = options.details;
  }

  /** The JSON body every listener answers errors with: `{ "error": { "code", "message" } }`. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function isEdgeError(value: unknown): value is EdgeError {
  return value instanceof EdgeError;
}
