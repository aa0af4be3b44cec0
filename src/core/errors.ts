/**
 * One error base for the whole code base. Every failure carries a stable `code`
 * and a class (user / system / unknown); close codes, HTTP statuses, gRPC
 * statuses and CLI exit codes are derived from the code in one place each.
 */
export type ErrorClass = 'user' | 'system' | 'unknown';

export const ErrorCodes = {
  BAD_FRAME: { cls: 'user', http: 400, close: 4400 },
  FRAME_TOO_LARGE: { cls: 'user', http: 413, close: 4400 },
  UNKNOWN_OP: { cls: 'user', http: 400, close: 4400 },
  HELLO_REQUIRED: { cls: 'user', http: 400, close: 4400 },
  TOKEN_INVALID: { cls: 'user', http: 401, close: 4401 },
  TOKEN_EXPIRED: { cls: 'user', http: 401, close: 4401 },
  UNKNOWN_APP: { cls: 'user', http: 401, close: 4401 },
  UNAUTHENTICATED: { cls: 'user', http: 401, close: 4401 },
  SIGN_IN_TIMEOUT: { cls: 'user', http: 408, close: 4408 },
  HEARTBEAT_TIMEOUT: { cls: 'user', http: 408, close: 4408 },
  REPLACED: { cls: 'user', http: 409, close: 4409 },
  RATE_LIMITED: { cls: 'user', http: 429, close: 4429 },
  OVERLOADED: { cls: 'system', http: 503, close: 4503 },
  DRAINING: { cls: 'system', http: 503, close: 4503 },
  INVALID_ARGUMENT: { cls: 'user', http: 400, close: 4400 },
  BODY_TOO_LARGE: { cls: 'user', http: 413, close: 4400 },
  NOT_FOUND: { cls: 'user', http: 404, close: 4400 },
  DEADLINE_EXCEEDED: { cls: 'system', http: 503, close: 1011 },
  QUOTA_EXHAUSTED: { cls: 'system', http: 503, close: 1011 },
  ENGINE_UNAVAILABLE: { cls: 'system', http: 503, close: 1011 },
  PEER_UNAVAILABLE: { cls: 'system', http: 503, close: 1011 },
  CANCELLED: { cls: 'system', http: 503, close: 1011 },
  BAD_INPUT: { cls: 'user', http: 400, close: 4400 },
  INTERNAL: { cls: 'unknown', http: 500, close: 1011 },
} as const satisfies Record<string, { cls: ErrorClass; http: number; close: number }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class TacoError extends Error {
  readonly code: ErrorCode;
  readonly cls: ErrorClass;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TacoError';
    this.code = code;
    this.cls = ErrorCodes[code].cls;
    this.details = details;
  }

  /** Stable machine-readable code, e.g. `TACO_ERR_TOKEN_EXPIRED`. */
  get wireCode(): string {
    return `TACO_ERR_${this.code}`;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code].http;
  }

  get closeCode(): number {
    return ErrorCodes[this.code].close;
  }
}

export function isTacoError(e: unknown): e is TacoError {
  return e instanceof TacoError;
}

/** Wraps anything thrown into a TacoError so callers can rely on `code`. */
export function asTacoError(e: unknown): TacoError {
  if (e instanceof TacoError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new TacoError('INTERNAL', message, undefined, { cause: e });
}
