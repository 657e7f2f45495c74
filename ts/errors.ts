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
  const text = withoutSourceLocations(e?.message ?? String(err));
  const message = context ? `${context}: ${text}` : text;
  if (e && typeof e.code === 'string' && kCodes.has(e.code)) {
    return new CascadeServeError(e.code as ErrorCode, message, { cause: err });
  }
  return err instanceof Error ? err : new Error(message);
}

/** An invalid option or argument; the message names the option path. */
export function invalidArgument(path: string, problem: string): CascadeServeError {
  return new CascadeServeError('ERR_CS_INVALID_ARGUMENT', `${path} ${problem}`);
}

/**
 * ONNX Runtime's messages from ORT_THROW / ORT_ENFORCE start with the source location inside
 * its own build and the C++ function, e.g. "/onnxruntime_src/onnxruntime/core/graph/model.cc:187
 * onnxruntime::Model::Model(onnx::ModelProto&&, ...) ModelProto does not have a graph.": paths
 * of someone else's machine that mean nothing to the user. Removes each such location and the
 * function signature after it, keeping the message text.
 */
export function withoutSourceLocations(message: string): string {
  const location = /(?:\/[\w.+-]+)+\.(?:cc|cpp|cxx|c|h|hpp|cu):\d+ ?/g;
  let out = '';
  let from = 0;
  for (let m = location.exec(message); m !== null; m = location.exec(message)) {
    out += message.slice(from, m.index);
    // "failed:/onnxruntime_src/..." becomes "failed: <message>".
    if (out.endsWith(':')) out += ' ';
    from = skipFunctionSignature(message, m.index + m[0].length);
    location.lastIndex = from;
  }
  return out + message.slice(from);
}

/**
 * Where the text after a source location continues once a C++ function signature at `at`
 * ("ns::f(args) const ") is skipped; `at` itself when there is none. The signature is the
 * text up to its first '(' (a qualified name, maybe after a return type), through the
 * matching ')', an optional " const" and template arguments ("[with T = float]").
 */
function skipFunctionSignature(text: string, at: number): number {
  const open = text.indexOf('(', at);
  if (open < 0) return at;
  const head = text.slice(at, open);
  // A signature's head is a qualified name, maybe after a return type: "ns::f" or "void ns::f".
  if (!/^(?:[\w:<>,*& ]+ )?[\w:~<>]+$/.test(head) || !head.includes('::')) return at;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) {
      let end = i + 1;
      if (text.startsWith(' const', end)) end += 6;
      // A template's arguments: " [with T = float; ...]".
      if (text.startsWith(' [with ', end)) {
        const close = text.indexOf(']', end);
        if (close > 0) end = close + 1;
      }
      return text[end] === ' ' ? end + 1 : end;
    }
  }
  return at;
}
