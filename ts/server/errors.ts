// The HTTP error catalogue: every error the server answers with maps to one status and the
// protocol's {"error": "<message>"} body. Messages name what the caller sent (a field path, a
// model name); they never carry stack traces, file paths or internal details.
import { CascadeServeError } from '../errors.js';

export type HttpErrorKind =
  | 'bad_request' // 400: the request does not follow the protocol or the model's contract
  | 'unauthorized' // 401: a bearer token is required and was missing or wrong
  | 'not_found' // 404: unknown model, version or route
  | 'method_not_allowed' // 405: a known route asked with another method (with Allow)
  | 'too_large' // 413: body over bodyLimit, more images than maxImagesPerRequest, or more than the deadline allows
  | 'unsupported_media' // 415: a content type the server cannot parse
  | 'overloaded' // 429 (or 503 when selected): refused by admission control or a full queue
  | 'unavailable' // 503: not ready, shutting down
  | 'deadline' // 504: the request's deadline passed before it was answered
  | 'client_closed' // 499 (nginx's convention): the client went away before its answer
  | 'model_failure' // 500: the model failed at run time
  | 'internal'; // 500: anything else (a bug); the message is generic

const kStatus: Record<HttpErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  too_large: 413,
  unsupported_media: 415,
  overloaded: 429,
  unavailable: 503,
  deadline: 504,
  client_closed: 499,
  model_failure: 500,
  internal: 500,
};

export class HttpError extends Error {
  readonly kind: HttpErrorKind;
  /** Status to answer with; overload's 429 may be replaced by 503 (see overloadStatus). */
  readonly statusCode: number;
  /** Seconds, for 429/503 overload answers. */
  readonly retryAfterS?: number;

  constructor(kind: HttpErrorKind, message: string, options: { retryAfterS?: number; statusCode?: number } = {}) {
    super(message);
    this.name = 'HttpError';
    this.kind = kind;
    this.statusCode = options.statusCode ?? kStatus[kind];
    if (options.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }
}

export const badRequest = (message: string) => new HttpError('bad_request', message);
export const notFound = (message: string) => new HttpError('not_found', message);
export const tooLarge = (message: string) => new HttpError('too_large', message);

/** The 413 message for a body over the limit, naming the limit. */
export function bodyTooLargeMessage(limitBytes: number, decompressed = false): string {
  return `request body${decompressed ? ' (decompressed)' : ''} is larger than the server's limit of ${limitBytes} bytes`;
}

/**
 * Status and body for any error reaching the Fastify error handler; `bodyLimitBytes` (the
 * server's limit) is named in the 413 for a body over it.
 */
export function toHttpError(err: unknown, bodyLimitBytes?: number): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown; validationContext?: string };
  if (err instanceof CascadeServeError) {
    switch (err.code) {
      case 'ERR_CS_INVALID_ARGUMENT':
        return badRequest(err.message);
      case 'ERR_CS_OVERLOADED':
        return new HttpError('overloaded', err.message, { retryAfterS: 1 });
      case 'ERR_CS_TIMEOUT':
        return new HttpError('deadline', err.message);
      case 'ERR_CS_CLOSED':
      case 'ERR_CS_CANCELLED':
      case 'ERR_CS_UNAVAILABLE':
        return new HttpError('unavailable', 'the server is shutting down or not ready');
      case 'ERR_CS_RUNTIME':
        return new HttpError('model_failure', 'the model failed to run');
    }
  }
  if (e && e.validation) {
    // Fastify/Ajv schema failures: "body/inputs/0/shape must be array" -> keep Fastify's
    // message, which names the field path as the client sent it.
    return badRequest(clipMessage(e.message ?? 'invalid request'));
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge(bodyLimitBytes === undefined ? 'request body is larger than the server accepts' : bodyTooLargeMessage(bodyLimitBytes));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('unsupported_media', 'unsupported content type; send application/json or, with Inference-Header-Content-Length, application/octet-stream');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest(clipMessage(e.message ?? 'invalid request body'));
  }
  if (err instanceof SyntaxError) return badRequest(`request body is not valid JSON: ${clipMessage(err.message)}`);
  // Other Fastify 4xx errors carry a client-facing message; anything else is ours: generic.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new HttpError(e.statusCode === 404 ? 'not_found' : 'bad_request', clipMessage(e.message ?? 'bad request'), { statusCode: e.statusCode });
  }
  return new HttpError('internal', 'internal server error');
}

/**
 * A message from a library (Fastify, Ajv, JSON.parse) as a client may see it: one line, at
 * most 200 characters, and nothing that looks like a file path or a stack frame. These
 * messages name the client's fields, but a last guard costs nothing.
 */
function clipMessage(message: string): string {
  let m = message.split('\n', 1)[0].replace(/(^|[\s'"(=])(?:[A-Za-z]:)?(?:[\\/][\w.@-]+){2,}(?::\d+)*/g, '$1<path>');
  if (m.length > 200) m = `${m.slice(0, 197)}...`;
  return m;
}
