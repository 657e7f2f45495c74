// The gRPC Open Inference Protocol service (inference.GRPCInferenceService, proto/
// grpc_service.proto) over @grpc/grpc-js, beside the REST server and sharing its context:
// the same models, admission, deadlines (a call's gRPC deadline is its timeout), priorities,
// statistics and metrics (infer-core.ts), and the same errors mapped to gRPC codes
// (status.ts). With an auth token, every call except ServerLive and ServerReady needs the
// metadata `authorization: Bearer <token>`, as every REST route except the health probes.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../contracts/package-root.js';
import { bearerTokenCheck } from '../auth.js';
import { lookupModel, type ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import { runInference, refuseWhileLagging } from '../infer-core.js';
import { modelConfig } from '../model-config.js';
import type { RepositoryControl } from '../repository.js';
import { kExtensions } from '../routes/health.js';
import { decodeGrpcInferRequest, encodeGrpcInferResponse, type ModelInferRequestMessage } from './infer-messages.js';
import { kGrpcCode, toGrpcError } from './status.js';

/** The shipped .proto (package.json "files"). */
export function protoPath(): string {
  return join(packageRoot(), 'proto', 'grpc_service.proto');
}

/** proto-loader's options: the .proto's field names, int64 as numbers, oneof names given. */
export const kLoaderOptions: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true };

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest request message, bytes (RESOURCE_EXHAUSTED beyond), as REST's body limit. */
  maxMessageBytes: number;
  authToken?: string;
  /** Model loading and unloading (the repository calls). */
  repository: RepositoryControl;
  log: { error(obj: object, msg: string): void };
}

export interface GrpcEndpoint {
  /** host:port it listens on. */
  address: string;
  port: number;
  /** Refuses new calls, waits for the calls in flight to be answered, then closes. */
  shutdown(): Promise<void>;
}

/** Calls answered without a token (the health probes, as REST's /v2/health/*). */
const kOpenMethods = new Set(['ServerLive', 'ServerReady']);

type Handler = (request: any, call: grpc.ServerUnaryCall<any, any>) => unknown;

export async function startGrpcServer(ctx: ServerContext, options: GrpcServerOptions): Promise<GrpcEndpoint> {
  const definition = protoLoader.loadSync(protoPath(), kLoaderOptions);
  const service = (grpc.loadPackageDefinition(definition).inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  const authorized = options.authToken !== undefined ? bearerTokenCheck(options.authToken) : null;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    // Larger than any answer (256 images of 10 classes is 10 KiB): no limit needed on sends.
    'grpc.max_send_message_length': -1,
    // Channelz (per-call introspection counters) costs on every call and nothing here reads it.
    'grpc.enable_channelz': 0,
  });

  const unary =
    (method: string, handler: Handler): grpc.handleUnaryCall<any, any> =>
    (call, callback) => {
      if (authorized && !kOpenMethods.has(method)) {
        const values = call.metadata.get('authorization');
        const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
        if (!authorized(header)) {
          callback({ code: kGrpcCode.UNAUTHENTICATED, details: values.length === 0 ? 'this server requires a bearer token (metadata authorization: Bearer <token>)' : 'invalid bearer token' });
          return;
        }
      }
      let result: unknown;
      try {
        result = handler(call.request, call);
      } catch (e) {
        fail(e);
        return;
      }
      Promise.resolve(result).then((r) => callback(null, r), fail);

      function fail(e: unknown): void {
        const g = toGrpcError(e);
        if (g.code === kGrpcCode.INTERNAL && !(e instanceof HttpError)) options.log.error({ err: e, method }, 'internal error');
        const trailers = new grpc.Metadata();
        if (g.retryAfterS !== undefined) trailers.set('retry-after', String(g.retryAfterS));
        callback({ code: g.code, details: g.details, metadata: trailers });
      }
    };

  const model = (name: string | undefined, version: string | undefined) => lookupModel(ctx, { name: name ?? '', ...(version ? { version } : {}) });
  const handlers: Record<string, Handler> = {
    ServerLive: () => ({ live: true }),
    ServerReady: () => ({ ready: !ctx.closing && ctx.cascade.ready }),
    ModelReady: (r) => ({ ready: !ctx.closing && model(r.name, r.version).ready }),
    ServerMetadata: () => ({ name: ctx.serverName, version: ctx.serverVersion, extensions: kExtensions }),
    ModelMetadata: (r) => model(r.name, r.version).metadata(),
    ModelConfig: (r) => ({ config: modelConfig(model(r.name, r.version)) }),
    ModelStatistics: (r) => {
      const models = r.name ? [model(r.name, r.version)] : [...ctx.models.values()];
      return { model_stats: models.map((m) => m.stats.toJSON(m.live())) };
    },
    ModelInfer: (r: ModelInferRequestMessage, call) => infer(ctx, r, call),
    RepositoryIndex: (r) => ({ models: options.repository.index(r.ready === true) }),
    RepositoryModelLoad: async (r) => {
      await options.repository.load(r.model_name ?? '');
      return {};
    },
    RepositoryModelUnload: async (r) => {
      await options.repository.unload(r.model_name ?? '');
      return {};
    },
  };
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service.service)) {
    const handler = handlers[method];
    if (!handler) throw new Error(`the .proto's method ${method} has no handler`);
    implementation[method] = unary(method, handler);
  }
  server.addService(service.service, implementation);

  // The listening socket is ours, handed to grpc-js connection by connection: grpc-js's own
  // listener leaves Nagle's algorithm on, which holds each small answer's last frames until the
  // client's delayed ACK (tens of milliseconds a call).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createNetServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => {
      server.forceShutdown();
      const why = e.code === 'EADDRINUSE' ? 'the port is in use (--grpc-port picks another; 0 turns gRPC off)' : e.message;
      reject(new Error(`gRPC cannot listen on ${options.host}:${options.port}: ${why}`));
    };
    listener.once('error', failed);
    listener.listen(options.port, options.host, () => {
      listener.off('error', failed);
      resolve();
    });
  });
  const port = (listener.address() as AddressInfo).port;
  let stopping: Promise<void> | null = null;
  return {
    address: `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    port,
    shutdown: () =>
      (stopping ??= new Promise<void>((resolve) => {
        listener.close();
        server.tryShutdown(() => resolve());
      })),
  };
}

async function infer(ctx: ServerContext, request: ModelInferRequestMessage, call: grpc.ServerUnaryCall<unknown, unknown>): Promise<unknown> {
  const t0 = performance.now();
  const model = lookupModel(ctx, { name: request.model_name ?? '', ...(request.model_version ? { version: request.model_version } : {}) });
  refuseWhileLagging(ctx, model);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  let deadlineUs: number | undefined;
  if (Number.isFinite(deadlineMs)) {
    deadlineUs = Math.floor((deadlineMs - Date.now()) * 1000);
    if (deadlineUs <= 0) {
      model.stats.recordFailure('timeout', 0);
      throw new HttpError('deadline', 'the call arrived after its deadline');
    }
  }
  let rawOutputs = false;
  return runInference(ctx, model, {
    t0,
    decode: () => {
      const d = decodeGrpcInferRequest(request, model.contract, deadlineUs);
      rawOutputs = d.rawOutputs;
      return d.decoded;
    },
    clientGone: () => call.cancelled,
    encode: (results, decoded, gearId) =>
      encodeGrpcInferResponse(results, decoded, rawOutputs, {
        modelName: model.name,
        id: decoded.id,
        gearId,
        classes: model.classes,
        outputIsLogits: model.outputIsLogits,
      }),
  });
}
