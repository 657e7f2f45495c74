// Request ids and request logging. Every request gets an id: the client's X-Request-Id when it
// is a plain token, else a new UUID; it is echoed in the X-Request-Id response header and is
// the `request_id` of every log line written for the request (Fastify's request logger).
// With a logger, each finished request writes one line: failed ones (status >= 400) at debug,
// the others at trace; and a sampled access log writes a share of all requests at info.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the infer route answered with, for the request's log lines (null elsewhere). */
    answer: InferAnswerLog | null;
    /** The error message a failed request was answered with. */
    failureMessage: string | null;
  }
}

/** Filled in by the infer route as it learns them. */
export interface InferAnswerLog {
  model: string;
  /** The protocol `id` of the request, when it has one. */
  id?: string;
  images?: number;
  gear?: number;
  /** The images' results in request order (their exit stages are logged). */
  results?: readonly { exitStage: number }[];
}

export const kRequestIdHeader = 'x-request-id';
/** Log label of the request id (Fastify's requestIdLogLabel). */
export const kRequestIdLogLabel = 'request_id';

/** A client's request id is kept when it is 1 to 128 printable ASCII characters without spaces. */
const kPlainRequestId = /^[\x21-\x7e]{1,128}$/;

/** Fastify's genReqId: the client's X-Request-Id when plain, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[kRequestIdHeader];
  return typeof given === 'string' && kPlainRequestId.test(given) ? given : randomUUID();
}

export interface RequestLogOptions {
  /** Share of requests written to the access log at info, 0 (off) to 1 (all). */
  accessLogSample: number;
  /** Random number in [0, 1) deciding the sample (tests pass their own). */
  random?: () => number;
}

/** Longest URL written to a log line; longer ones are cut. */
const kMaxLoggedUrl = 200;

/**
 * Echoes the request id on every response; with `logging`, writes the per-request lines.
 * Must be installed before the routes.
 */
export function installRequestLogging(app: FastifyInstance, logging: RequestLogOptions | null): void {
  app.decorateRequest('answer', null);
  app.decorateRequest('failureMessage', null);
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header(kRequestIdHeader, req.id);
    done(null, payload);
  });
  if (logging === null) return;
  const sample = logging.accessLogSample;
  if (!(sample >= 0 && sample <= 1)) throw new RangeError(`accessLogSample must be a number from 0 to 1, got ${String(sample)}`);
  const random = logging.random ?? Math.random;
  app.addHook('onResponse', (req, reply, done) => {
    const status = reply.statusCode;
    const log = req.log;
    const failed = status >= 400;
    const sampled = sample > 0 && random() < sample;
    if (sampled || levelEnabled(log, failed ? 'debug' : 'trace')) {
      const line = requestLine(req, reply);
      if (failed) log.debug(line, 'request failed');
      else log.trace(line, 'request');
      if (sampled) log.info(line, 'access');
    }
    done();
  });
}

/** pino's isLevelEnabled (Fastify's logger type leaves it out); true for a logger without it. */
function levelEnabled(log: FastifyBaseLogger, level: string): boolean {
  const l = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  return l.isLevelEnabled?.(level) ?? true;
}

/** The fields of a request's log line. */
function requestLine(req: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const url = req.url.length > kMaxLoggedUrl ? `${req.url.slice(0, kMaxLoggedUrl)}...` : req.url;
  const line: Record<string, unknown> = { method: req.method, url, status: reply.statusCode, latency_ms: Math.round(reply.elapsedTime * 1000) / 1000 };
  const a = req.answer;
  if (a) {
    line.model = a.model;
    if (a.id !== undefined) line.id = a.id;
    if (a.images !== undefined) line.images = a.images;
    if (a.gear !== undefined) line.gear = a.gear;
    if (a.results !== undefined) line.exit_stages = a.results.map((r) => r.exitStage);
  }
  if (req.failureMessage !== null) line.error = req.failureMessage;
  return line;
}
