// HTTP status -> gRPC status code: one table for every status the server answers with, so an
// error means the same thing over both protocols (docs/grpc.md shows it). The codes are
// gRPC's numbers (grpc-js's `status` enum has the same values).
import { HttpError, toHttpError } from '../errors.js';

export const kGrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeName = keyof typeof kGrpcCode;

/**
 * Every HTTP status the server uses, with its gRPC status. Statuses of HTTP framing (405,
 * 408, 415, 431) have gRPC counterparts raised by the gRPC layer itself (an unknown method is
 * UNIMPLEMENTED; a deadline is DEADLINE_EXCEEDED); the table keeps them so that a status
 * means one thing wherever it is produced.
 */
export const kHttpToGrpc: Readonly<Record<number, GrpcCodeName>> = {
  400: 'INVALID_ARGUMENT', // the request breaks the protocol or the model's contract; a plan that fails to load
  401: 'UNAUTHENTICATED', // bearer token missing or wrong
  404: 'NOT_FOUND', // unknown model or version
  405: 'UNIMPLEMENTED', // no such method on this route (gRPC: no such RPC)
  408: 'DEADLINE_EXCEEDED', // the request was not received in time
  413: 'RESOURCE_EXHAUSTED', // message larger than the server accepts, or too many images
  415: 'INVALID_ARGUMENT', // an encoding the server cannot read
  429: 'RESOURCE_EXHAUSTED', // overload: admission control or a full queue (Retry-After)
  431: 'RESOURCE_EXHAUSTED', // headers (metadata) larger than the server accepts
  499: 'CANCELLED', // the client went away before its answer
  500: 'INTERNAL', // the model failed at run time, or a bug
  503: 'UNAVAILABLE', // not ready, shutting down, or overload with --overload-status 503
  504: 'DEADLINE_EXCEEDED', // the request's deadline passed before it was answered
};

export interface GrpcError {
  code: number;
  details: string;
  /** Seconds; sent as the `retry-after` trailer, as REST sends the Retry-After header. */
  retryAfterS?: number;
}

export function grpcCodeOfHttpStatus(status: number): number {
  const name = kHttpToGrpc[status];
  if (name !== undefined) return kGrpcCode[name];
  return status >= 500 ? kGrpcCode.INTERNAL : kGrpcCode.INVALID_ARGUMENT;
}

/** The gRPC error for anything a handler throws (HttpError or not, as REST's handler). */
export function toGrpcError(err: unknown): GrpcError {
  const h: HttpError = toHttpError(err);
  const e: GrpcError = { code: grpcCodeOfHttpStatus(h.statusCode), details: h.message };
  if (h.retryAfterS !== undefined) e.retryAfterS = h.retryAfterS;
  return e;
}
