// The error catalogue: every error the library raises carries a stable code; the HTTP layer maps
// codes to statuses. Native errors arrive with codes ERR_CS_* set by bindings/errors.h.
export type ErrorCode =
  | 'ERR_CS_INVALID_ARGUMENT'
  | 'ERR_CS_RUNTIME'
  | 'ERR_CS_OVERLOADED'
  | 'ERR_CS_TIMEOUT'
  | 'ERR_CS_CANCELLED'
  | 'ERR_CS_UNAVAILABLE'
  | 'ERR_CS_CLOSED';

export class CascadeServeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CascadeServeError';
    this.code = code;
  }
}

const kCodes = new Set<string>([
  'ERR_CS_INVALID_ARGUMENT',
  'ERR_CS_RUNTIME',
  'ERR_CS_OVERLOADED',
  'ERR_CS_TIMEOUT',
  'ERR_CS_CANCELLED',
  'ERR_CS_UNAVAILABLE',
  'ERR_CS_CLOSED',
]);

/** Wraps an error thrown by the addon into a CascadeServeError, keeping its message. */
export function fromNative(err: unknown, context?: string): Error {
  if (err instanceof CascadeServeError) return err;
  const e = err as { code?: string; message?: string };
  const message = context ? `${context}: ${e?.message ?? String(err)}` : e?.message ?? String(err);
  if (e && typeof e.code === 'string' && kCodes.has(e.code)) {
    return new CascadeServeError(e.code as ErrorCode, message, { cause: err });
  }
  return err instanceof Error ? err : new Error(message);
}

/** An invalid option or argument; the message names the option path. */
export function invalidArgument(path: string, problem: string): CascadeServeError {
  return new CascadeServeError('ERR_CS_INVALID_ARGUMENT', `${path} ${problem}`);
}
