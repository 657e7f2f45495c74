// createServer(): the server for a gear plan (or every plan of a model repository). The
// repository loads the plans and manifests and creates the cascades' engines; the protocol's
// REST routes are registered (each an encapsulated plugin with schemas compiled at boot), and
// listen() starts the gRPC service beside them when asked; returns handles for tests and the
// CLI.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { packageRoot } from '../contracts/package-root.js';
import type { CascadeEngine } from '../engine/engine.js';
import type { ServerContext } from './context.js';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { installBearerAuth } from './auth.js';
import { installBodyDecoding } from './body-encoding.js';
import { installCors, parseCorsOrigins } from './cors.js';
import { ConnectionDrain } from './drain.js';
import { installExpectContinue } from './expect-continue.js';
import { RouteMethods } from './route-methods.js';
import { LoopLagMonitor } from './loop-lag.js';
import { HttpError, toHttpError } from './errors.js';
import type { GearSwitchEvent } from './gear-controller.js';
import { createMetrics } from './metrics.js';
import type { ServingPlan } from './plan-loader.js';
import { ModelRepository, planEntry, scanRepository } from './repository.js';
import { startGrpcServer, type GrpcEndpoint } from './grpc/service.js';
import { healthRoutes } from './routes/health.js';
import { inferRoutes } from './routes/infer.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/models.js';
import { installRequestLogging, kRequestIdLogLabel, requestIdOf } from './request-log.js';
import { repositoryRoutes } from './routes/repository.js';
import { ServedModel, type ServedModelOptions } from './served-model.js';
import { validateServerOptions } from './server-options.js';

export interface ServerOptions {
  /** plan.json written by `cascadeserve plan`. */
  plan: string;
  /**
   * A model repository directory: every folder in it with cascade.json and plan.json is
   * served (instead of `plan`), and can be reloaded (repository calls, SIGHUP).
   */
  repository?: string;
  /** Port of the gRPC service (0 = any free port); undefined: no gRPC service. */
  grpcPort?: number;
  host?: string; // default 127.0.0.1
  port?: number; // default 8000; 0 = any free port
  /** Largest request body, bytes. Default 16 MiB. */
  bodyLimit?: number;
  /** Most images in one request (413 beyond). Default 256. */
  maxImagesPerRequest?: number;
  /** Hard bound on images accepted and not yet answered, per model. Default: the most its plan's cheapest gear answers within one SLO, 1,024 to 65,536 (served-model.ts inFlightBoundOf). */
  maxInFlightImages?: number;
  /** Status of overload refusals; both carry Retry-After. Default 429. */
  overloadStatus?: 429 | 503;
  /** How long the up-switch condition (drained backlog, the better gear's predicted wait within half its budget) must hold before a more accurate gear. Default: loadWindowMs. */
  upSwitchHoldMs?: number;
  /** How far ahead the gear policy counts arrivals above a gear's capacity, ms. Default: the plan's policy.overloadHorizonMs, else 4 x the SLO. */
  overloadHorizonMs?: number;
  /**
   * Whether the gear policy follows the host's measured speed against the plan's batch times
   * (ts/server/host-speed.ts; plans computed since session 15 carry them). Default true.
   */
  hostSpeed?: boolean;
  /**
   * Whether the gear policy keeps the answers at a plan's load-weighted accuracy target on
   * average, taking gears below it only while more accurate gears have banked the difference
   * (ts/server/accuracy-budget.ts). Default true; plans without that objective are unaffected.
   */
  accuracyBudget?: boolean;
  /**
   * How long the accuracy target holds over, ms: the time constant over which the budget's
   * bank decays (accuracy banked a window ago counts e^-1). Default 60,000.
   */
  accuracyWindowMs?: number;
  /** Arrival-rate window and its resolution. Defaults 200 ms and 5 ms. */
  loadWindowMs?: number;
  loadBucketMs?: number;
  /** Recent window that catches a ramp early (gear policy). Default 10 ms (at least two buckets). */
  loadRecentMs?: number;
  /** Serve each manifest model alone as `<cascade>.<model>`. Default true. */
  serveMembers?: boolean;
  /**
   * Run every model of every gear on every lane hosting it, at the gears' batch sizes, before
   * reporting ready (ts/engine/warm-up.ts), so that the first requests do not meet cold
   * sessions. Default true; false only to measure what it saves (`npm run bench -- startup`).
   */
  warmUp?: boolean;
  /**
   * Fastify's logger option (pino). Default false. With a logger, each finished request writes
   * a line (status >= 400 at debug, others at trace) with its request id.
   */
  logger?: FastifyServerOptions['logger'];
  /** Share of requests (0 to 1) written to the log at info as access lines. Default 0. */
  accessLogSample?: number;
  /** Called after every gear switch (tests, the evaluation): time, from, to, load, backlog, reason. */
  onGearSwitch?: (model: string, e: GearSwitchEvent) => void;
  /** Replaces the cascade's gear policy (the evaluation's oracle switcher); default: the backlog policy. */
  gearPolicy?: ServedModelOptions['gearPolicy'];
  /**
   * Time a client has to send a request's headers (node's headersTimeout; 408 after it).
   * Default 10 000 ms.
   */
  headersTimeoutMs?: number;
  /**
   * Time a client has to send a whole request, headers and body (node's requestTimeout; 408
   * after it). At least headersTimeoutMs. Default 30 000 ms.
   */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open. Default 72 000 ms (Fastify's). */
  keepAliveTimeoutMs?: number;
  /**
   * Inactivity timeout of a socket (Fastify's connectionTimeout): a socket without traffic this
   * long is closed, even with a request in progress. 0 = none (the default: requests are bounded
   * by their deadlines, slow senders by requestTimeoutMs).
   */
  connectionTimeoutMs?: number;
  /**
   * Event-loop lag above which infer requests are refused (overloadStatus, Retry-After) before
   * their bodies are read. Default 0 (off): a shared or throttled CPU has pauses of tens of
   * milliseconds that are not overload; 50 to 100 suits a dedicated machine.
   */
  maxEventLoopLagMs?: number;
  /**
   * Bearer token required on every route except /v2/health/* and /metrics (401 otherwise).
   * Default: none (no authentication).
   */
  authToken?: string;
  /**
   * Serve model files whose sha256 differs from the one the plan records (with a warning in
   * the log). Default false: createServer throws ModelMismatchError naming each model and file.
   */
  allowModelMismatch?: boolean;
  /**
   * Origins allowed to call the server from a browser (CORS): scheme://host[:port] each, or
   * '*' for any; an array or one comma-separated string. Default: none (no CORS headers).
   */
  cors?: string | readonly string[];
  /**
   * On close, how long a keep-alive connection must have been idle before it is closed
   * (connections that carry a request are closed after its Connection: close answer).
   * Default 1000 ms.
   */
  drainIdleGraceMs?: number;
}

export interface CascadeServer {
  app: FastifyInstance;
  /** The first cascade's plan, as loaded now (a reload replaces it). */
  readonly plan: ServingPlan;
  /** The first cascade's engine (at start-up). */
  engine: CascadeEngine;
  /** Protocol name -> served model (the cascades and, unless disabled, their members). */
  models: Map<string, ServedModel>;
  /** The first cascade, as served now. */
  readonly cascade: ServedModel;
  /** Loads, reloads and unloads model sets (repository calls, SIGHUP). */
  repository: ModelRepository;
  /** Starts listening (and the gRPC service when grpcPort is set); resolves with the base URL (http://host:port). */
  listen(): Promise<string>;
  /** host:port of the gRPC service once listening; null without one. */
  readonly grpcAddress: string | null;
  /** Graceful: stops accepting, answers requests in flight, closes the engines. */
  close(): Promise<void>;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export async function createServer(options: ServerOptions): Promise<CascadeServer> {
  const overloadStatus = options.overloadStatus ?? 429;
  if (overloadStatus !== 429 && overloadStatus !== 503) throw new RangeError(`overloadStatus must be 429 or 503, got ${String(options.overloadStatus)}`);
  const timeouts = fillTimeouts(options);
  validateServerOptions(options);
  const corsOrigins = options.cors === undefined ? null : parseCorsOrigins(options.cors, 'cors');
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  // The server's logger once it exists, for errors before a request reaches Fastify.
  const logRef: { log: FastifyBaseLogger | null } = { log: null };
  // Read before anything starts: an unreadable repository fails at once.
  const entries = options.repository !== undefined ? scanRepository(options.repository) : [planEntry(options.plan)];
  const app = Fastify({
    // Slow clients: headers and whole requests are timed out (408), checked every
    // connectionsCheckingIntervalMs (node's default of 30 s would let them linger).
    http: {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
    },
    requestTimeout: timeouts.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    connectionTimeout: timeouts.connectionTimeoutMs,
    // Protocol errors before a request reaches Fastify (timeouts, oversized or malformed
    // headers) answer with the protocol's {"error"} body too.
    clientErrorHandler: (err, socket) => clientErrorHandler(err, socket, logRef.log),
    logger: options.logger ?? false,
    // The client's X-Request-Id (when plain) or a new UUID, echoed and on every log line.
    genReqId: requestIdOf,
    // Fastify's own request lines (two per request, at info) are off: request-log.ts writes one
    // per finished request, at debug or trace, so that the default level costs none.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: kRequestIdLogLabel }),
    // Parameter values are string, number or boolean: a union type, which Ajv's strict mode
    // wants allowed explicitly.
    // No type coercion: a shape of strings or a numeric id is a client error, not a guess.
    ajv: { customOptions: { allowUnionTypes: true, coerceTypes: false } },
    // Router errors (a malformed URL, a path parameter over maxParamLength) answer with the
    // protocol's error body too.
    frameworkErrors: (err, _req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      (reply as unknown as FastifyReply).code(status).type('application/json').send({ error: err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is longer than the server accepts' : 'malformed request URL' });
    },
    bodyLimit,
    // On close, after the drain (see close() below): connections still idle are closed.
    forceCloseConnections: 'idle',
    // Requests arriving while closing reach the routes, which refuse them (503) with the
    // protocol's error body and count them; Fastify's own 503 would do neither.
    return503OnClosing: false,
  });
  const log = app.log;
  logRef.log = options.logger ? log : null;
  // Created before the models (gear switches are timed into it); its sources are the
  // repository's models, read at scrape time.
  let repository: ModelRepository | null = null;
  const metrics = createMetrics(() => repository?.metricsSources() ?? []);
  const modelOptions: ServedModelOptions = {
    maxImagesPerRequest: options.maxImagesPerRequest ?? 256,
    ...(options.maxInFlightImages !== undefined ? { maxInFlightItems: options.maxInFlightImages } : {}),
    upSwitchHoldMs: options.upSwitchHoldMs ?? options.loadWindowMs ?? 200,
    ...(options.overloadHorizonMs !== undefined ? { overloadHorizonMs: options.overloadHorizonMs } : {}),
    hostSpeed: options.hostSpeed ?? true,
    accuracyBudget: options.accuracyBudget ?? true,
    ...(options.accuracyWindowMs !== undefined ? { accuracyWindowMs: options.accuracyWindowMs } : {}),
    loadMonitor: { windowMs: options.loadWindowMs ?? 200, bucketMs: options.loadBucketMs ?? 5, ...(options.loadRecentMs !== undefined ? { recentMs: options.loadRecentMs } : {}) },
    tickMs: Math.max(5, options.loadBucketMs ?? 5),
    ...(options.gearPolicy ? { gearPolicy: options.gearPolicy } : {}),
    warmUp: options.warmUp ?? true,
    log: { info: (obj, msg) => log.info(obj, msg), error: (obj, msg) => log.error(obj, msg) },
    onSwitch: (model, e) => {
      metrics.observeSwitch(model, e.switchUs / 1e6);
      options.onGearSwitch?.(model, e);
    },
  };
  const lagBound = options.maxEventLoopLagMs ?? 0;
  if (typeof lagBound !== 'number' || !(lagBound >= 0)) throw new RangeError(`maxEventLoopLagMs must be a number >= 0, got ${String(lagBound)}`);
  const models = new Map<string, ServedModel>();
  const ctx: ServerContext = {
    loopLag: null,
    models,
    // Set by the repository's first load, below.
    cascade: undefined as unknown as ServedModel,
    metrics,
    overloadStatus,
    serverName: 'cascadeserve',
    serverVersion: packageVersion(),
    closing: false,
  };
  repository = new ModelRepository(ctx, {
    modelOptions,
    serveMembers: options.serveMembers ?? true,
    registry: metrics.registry,
    log: { info: (obj, msg) => log.info(obj, msg), warn: (obj, msg) => log.warn(obj, msg), error: (obj, msg) => log.error(obj, msg) },
    allowModelMismatch: options.allowModelMismatch === true,
    directory: options.repository ?? null,
    describeFailure: describeModelFailure,
  });
  try {
    await repository.start(entries);
  } catch (e) {
    await repository.close();
    await app.close().catch(() => {});
    throw e;
  }
  const repo = repository;
  const loopLag = lagBound > 0 ? new LoopLagMonitor(lagBound) : null;
  ctx.loopLag = loopLag;

  app.setErrorHandler((err, req, reply) => {
    const h = toHttpError(err, bodyLimit);
    if (h.kind === 'internal') req.log.error({ err }, 'internal error');
    req.failureMessage = h.message;
    if (h.retryAfterS !== undefined) reply.header('Retry-After', String(h.retryAfterS));
    reply.code(h.statusCode).type('application/json').send({ error: h.message });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0];
    // The path is echoed only when it holds nothing but plain route characters.
    const shown = /^[\w/.%-]{1,100}$/.test(path) && !/\.\.|%2e|%2f|%00/i.test(path) ? ` ${req.method} ${path}` : '';
    req.failureMessage = 'no such route';
    reply.code(404).type('application/json').send({ error: `no such route${shown}` });
  });
  installRequestLogging(app, options.logger ? { accessLogSample: options.accessLogSample ?? 0 } : null);
  const drain = new ConnectionDrain(app.server, timeouts.drainIdleGraceMs);
  app.server.on('request', (req, res) => drain.track(req.socket, res));
  const routeMethods = new RouteMethods();
  routeMethods.collect(app);
  // Before authentication: browsers send preflights without credentials.
  if (corsOrigins) installCors(app, corsOrigins, (url) => routeMethods.allowed(url));
  if (options.authToken !== undefined) installBearerAuth(app, options.authToken);
  // Before the body is read: an unknown Content-Encoding is a 415, then 100 Continue is sent.
  installBodyDecoding(app, bodyLimit);
  installExpectContinue(app, bodyLimit);
  await app.register(healthRoutes, { ctx });
  await app.register(modelRoutes, { ctx });
  await app.register(inferRoutes, { ctx });
  await app.register(metricsRoutes, { ctx });
  await app.register(dashboardRoutes, { ctx });
  await app.register(repositoryRoutes, { repository: repo });
  routeMethods.answerOtherMethods(app);
  app.addHook('preClose', async () => {
    ctx.closing = true;
  });
  // While closing, answers to requests in flight close their keep-alive connection: close()
  // then ends as soon as the last one is answered, not when the clients' sockets time out.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (ctx.closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', async () => {
    loopLag?.close();
    await repo.close();
  });
  await app.ready();

  let closing: Promise<void> | null = null;
  let grpc: GrpcEndpoint | null = null;
  return {
    app,
    get plan() {
      return ctx.cascade.plan;
    },
    engine: (await ctx.cascade.engine()) as CascadeEngine,
    models,
    get cascade() {
      return ctx.cascade;
    },
    repository: repo,
    get grpcAddress() {
      return grpc?.address ?? null;
    },
    listen: async () => {
      await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8000 });
      if (options.grpcPort !== undefined && grpc === null) {
        grpc = await startGrpcServer(ctx, {
          host: options.host ?? '127.0.0.1',
          port: options.grpcPort,
          maxMessageBytes: options.bodyLimit ?? 16 * 1024 * 1024,
          ...(options.authToken !== undefined ? { authToken: options.authToken } : {}),
          repository: repo,
          log: { error: (obj, msg) => log.error(obj, msg) },
        });
      }
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new HttpError('internal', 'server has no TCP address');
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `http://${host}:${addr.port}`;
    },
    // The drain first: refusals and answers from now on carry Connection: close, and the
    // server keeps listening until every request received is answered and every keep-alive
    // connection has closed after its last answer (or sat idle for drainIdleGraceMs). gRPC
    // calls in flight are answered meanwhile, before Fastify's close ends with the engines.
    close: () =>
      (closing ??= (async () => {
        ctx.closing = true;
        await Promise.all([drain.drain(), grpc?.shutdown()]);
        await app.close();
      })()),
  };
}

interface FilledTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connectionTimeoutMs: number;
  checkIntervalMs: number;
  drainIdleGraceMs: number;
}

export const kDefaultHeadersTimeoutMs = 10_000;
export const kDefaultRequestTimeoutMs = 30_000;
export const kDefaultKeepAliveTimeoutMs = 72_000;
export const kDefaultDrainIdleGraceMs = 1000;

function fillTimeouts(o: ServerOptions): FilledTimeouts {
  const ms = (name: keyof ServerOptions, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min} (milliseconds), got ${String(value)}`);
    return value;
  };
  const headersTimeoutMs = ms('headersTimeoutMs', o.headersTimeoutMs, kDefaultHeadersTimeoutMs, 1);
  const requestTimeoutMs = ms('requestTimeoutMs', o.requestTimeoutMs, Math.max(kDefaultRequestTimeoutMs, headersTimeoutMs), 1);
  if (requestTimeoutMs < headersTimeoutMs) throw new RangeError(`requestTimeoutMs (${requestTimeoutMs}) must be at least headersTimeoutMs (${headersTimeoutMs})`);
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: ms('keepAliveTimeoutMs', o.keepAliveTimeoutMs, kDefaultKeepAliveTimeoutMs, 1),
    connectionTimeoutMs: ms('connectionTimeoutMs', o.connectionTimeoutMs, 0, 0),
    drainIdleGraceMs: ms('drainIdleGraceMs', o.drainIdleGraceMs, kDefaultDrainIdleGraceMs, 0),
    // A quarter of the shortest timeout, within [50 ms, 1 s]: the timeouts hold to about 25%.
    checkIntervalMs: Math.min(1000, Math.max(50, Math.floor(headersTimeoutMs / 4))),
  };
}

/**
 * Node's 'clientError' (via Fastify): a request that never reached a route. Timeouts answer
 * 408, oversized headers 431, anything else 400, each with the protocol's error body, and the
 * connection is closed.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Socket, log: FastifyBaseLogger | null): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let message = 'malformed HTTP request';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'the request was not received in time';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'request headers are larger than the server accepts';
  }
  // No request id: the request was never parsed.
  log?.debug({ status, error: message, code: err.code, remote: socket.remoteAddress }, 'request failed');
  // A request half answered (headers already written) cannot take another status line.
  const httpSocket = socket as Socket & { _httpMessage?: { headersSent?: boolean } };
  if (socket.writable && !httpSocket._httpMessage?.headersSent) {
    const body = JSON.stringify({ error: message });
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/**
 * Why the cascade's engine could not be created, naming the model file: ONNX Runtime's own
 * message usually names it already; a missing file is named before the engine is tried.
 */
function describeModelFailure(plan: ServingPlan, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  for (const m of plan.manifest.models) {
    if (!existsSync(m.file)) return `model '${m.name}': file ${m.file} does not exist (${message})`;
    if (statSync(m.file).size === 0) return `model '${m.name}': file ${m.file} is empty (0 bytes): ${message}`;
  }
  if (plan.manifest.models.some((m) => message.includes(m.file))) return message;
  return `${message} (models: ${plan.manifest.models.map((m) => `${m.name} = ${m.file}`).join(', ')})`;
}
