// `cascadeserve serve`: serves a gear plan (or a model repository) over the Open Inference
// Protocol, REST and gRPC, until SIGTERM or SIGINT, then shuts down gracefully (stops
// accepting, answers requests in flight, closes the engines) and exits 0. SIGHUP reloads.
import { runCommand, UsageError, type CliIo, type CommandSpec } from './args.js';
import type { TensorContract } from '../server/tensor-decoder.js';

const kHourMs = 3_600_000;
const kLogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const kServeCommand: CommandSpec = {
  name: 'serve',
  description: `Serves the plan's cascade as model '<manifest name>' and each of its models alone as
'<manifest name>.<model>', until SIGTERM or SIGINT. Default plan: the embedded Fashion-MNIST
cascade (models/fmnist/plan.json). --port 0 picks a free port.

The Open Inference Protocol over REST on --port and over gRPC (inference.GRPCInferenceService,
proto/grpc_service.proto) on --grpc-port (default 8001, or a free port when --port is 0; 0
turns gRPC off).

--repository DIR serves every folder of DIR that holds cascade.json and plan.json. The
repository calls (POST /v2/repository/models/<name>/load, gRPC RepositoryModelLoad) and
SIGHUP reload plans without dropping a request; a plan that fails to load leaves the previous
one serving.

The gear policy reads the arrival rate over --load-window-ms 200 and a recent window of
--load-recent-ms 10 (at most the window); longer windows smooth a jittery load.

--auth-token (or the environment variable CASCADESERVE_AUTH_TOKEN, which keeps it out of
the process list) requires 'Authorization: Bearer <token>' on every route except
/v2/health/*, /metrics and the page /dashboard, whose data (/v2/cascadeserve/status) needs
the token: open it as /dashboard#token=TOKEN (the fragment is never sent to the server).
The token must be 16 to 4096 printable ASCII characters without spaces (e.g.
\`openssl rand -hex 32\`).

Logs: one stream of JSON lines (pino) on stderr, each with a level. --log-level: fatal,
error, warn, info (start, gear switches, reloads, shutdown), debug (also one line per failed
request), trace (also one per successful request), or silent. --quiet is --log-level warn
without the banner. Every line of a request carries its request_id: the client's
X-Request-Id header when given (1 to 128 printable characters), else a new UUID; responses
echo it in X-Request-Id. --access-log-sample RATE writes that share of requests at info as
'access' lines (status, model, gear, exit stages, latency). When stdout is a terminal, a
readable banner with the URL and a curl example is printed there.

The plan records each model file's sha256; serve refuses to start (exit 2) when a file differs
from the one the plan was made for. --allow-model-mismatch serves it anyway, with a warning.

--cors https://app.example.com,http://localhost:3000 (or *) lets browser pages from those
origins call the server (CORS headers, preflights answered); without it, no CORS headers.`,
  flags: [
    { name: 'plan', kind: 'input-file', help: 'plan.json from `cascadeserve plan` (default: models/fmnist/plan.json)' },
    { name: 'repository', kind: 'string', value: 'DIR', help: 'serve every cascade folder (cascade.json + plan.json) of DIR instead of one plan' },
    { name: 'host', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
    { name: 'port', kind: 'integer', min: 0, max: 65535, default: 8000, help: 'REST port (0: a free one)' },
    { name: 'grpc-port', kind: 'integer', min: 0, max: 65535, default: 8001, help: 'gRPC port (0: gRPC off; a free one when --port is 0 and this flag is not given)' },
    { name: 'overload-status', kind: 'choice', choices: ['429', '503'], default: '429', help: 'HTTP status of a request refused for overload' },
    { name: 'up-switch-hold-ms', kind: 'number', value: 'MS', min: 0, max: kHourMs, help: 'how long the backlog must stay drained and the more accurate gear\'s predicted wait within half its budget before that gear (default: --load-window-ms)' },
    { name: 'overload-horizon-ms', kind: 'number', value: 'MS', min: 0, max: kHourMs, help: 'how far ahead arrivals above a gear\'s capacity count towards a down-switch (default: the plan\'s policy.overloadHorizonMs, else 4 x the SLO)' },
    { name: 'no-host-speed', kind: 'boolean', help: 'gear capacities as the plan says, not scaled by the host\'s measured speed against the plan\'s batch times' },
    { name: 'no-accuracy-budget', kind: 'boolean', help: 'take gears below the plan\'s load-weighted accuracy target on latency alone, not only while more accurate gears have banked the difference' },
    { name: 'accuracy-window-ms', kind: 'number', value: 'MS', min: 1, max: 7 * 24 * kHourMs, help: 'how long the load-weighted accuracy target holds over: accuracy banked this long ago counts e^-1 (default 60000)' },
    { name: 'log-level', kind: 'choice', choices: kLogLevels, default: 'info', help: 'the log stream\'s level (stderr, JSON lines)' },
    { name: 'quiet', kind: 'boolean', help: '--log-level warn and no banner' },
    { name: 'access-log-sample', kind: 'number', value: 'RATE', min: 0, max: 1, default: 0, help: 'share of requests written as access lines at info' },
    { name: 'auth-token', kind: 'string', value: 'TOKEN', help: 'bearer token required on the API routes (16 to 4096 printable ASCII characters)' },
    { name: 'allow-model-mismatch', kind: 'boolean', help: 'serve model files whose sha256 differs from the plan\'s (with a warning)' },
    { name: 'cors', kind: 'string', value: 'ORIGINS', help: 'comma-separated origins (or *) allowed to call the server from a browser' },
    { name: 'body-limit', kind: 'integer', value: 'BYTES', min: 1, max: 2 ** 30, default: 16_777_216, help: 'largest request body, after decompression (413 beyond)' },
    { name: 'max-images', kind: 'integer', min: 1, max: 65_536, default: 256, help: 'most images per request (413 beyond)' },
    { name: 'max-in-flight', kind: 'integer', min: 1, max: 1_048_576, help: 'images in flight per model (429/503 beyond; default: the most the plan\'s cheapest gear answers within one SLO, 1024 to 65536)' },
    { name: 'headers-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 10_000, help: 'time to receive the request headers (408 after)' },
    { name: 'request-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 30_000, help: 'time to receive the whole request (408 after)' },
    { name: 'keep-alive-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 72_000, help: 'idle time before a kept-alive connection is closed' },
    { name: 'connection-timeout-ms', kind: 'integer', value: 'MS', min: 0, max: kHourMs, default: 0, help: 'socket inactivity timeout (0: none)' },
    { name: 'load-window-ms', kind: 'integer', value: 'MS', min: 1, max: 60_000, default: 200, help: 'the load monitor\'s window for the arrival rate' },
    { name: 'load-recent-ms', kind: 'integer', value: 'MS', min: 1, max: 60_000, default: 10, help: 'the load monitor\'s recent window (at most --load-window-ms)' },
    { name: 'max-event-loop-lag-ms', kind: 'integer', value: 'MS', min: 0, max: 60_000, default: 0, help: 'refuse infer requests before reading their bodies while the event loop is more than this behind (0: off)' },
  ],
  exitCodes: '0 shut down cleanly; 1 start-up or shutdown failure; 2 usage error (also a model file the plan was not made for).',
};

/** Flags passed to createServer as they are: flag -> ServerOptions key. */
const kServerOptionOf = {
  'body-limit': 'bodyLimit',
  'max-images': 'maxImagesPerRequest',
  'max-in-flight': 'maxInFlightImages',
  'headers-timeout-ms': 'headersTimeoutMs',
  'request-timeout-ms': 'requestTimeoutMs',
  'keep-alive-timeout-ms': 'keepAliveTimeoutMs',
  'connection-timeout-ms': 'connectionTimeoutMs',
  'max-event-loop-lag-ms': 'maxEventLoopLagMs',
  'load-window-ms': 'loadWindowMs',
  'load-recent-ms': 'loadRecentMs',
} as const;

export async function runServeCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kServeCommand, argv, io, async ({ values }) => {
    if (values.plan !== undefined && values.repository !== undefined) throw new UsageError('give --plan or --repository, not both');
    const port = (values.port as number | undefined) ?? 8000;
    const grpcFlag = values['grpc-port'] as number | undefined;
    const limits: Record<string, number> = {};
    for (const [flag, key] of Object.entries(kServerOptionOf)) if (values[flag] !== undefined) limits[key] = values[flag] as number;
    const tokenFromFlag = values['auth-token'] !== undefined;
    const authToken = (values['auth-token'] as string | undefined) ?? (process.env.CASCADESERVE_AUTH_TOKEN || undefined);
    if (authToken !== undefined && !/^[\x21-\x7e]{16,4096}$/.test(authToken)) {
      throw new UsageError(`the auth token (--auth-token or CASCADESERVE_AUTH_TOKEN) must be 16 to 4096 printable ASCII characters without spaces, got ${authToken.length} characters`);
    }
    const quiet = values.quiet === true;
    return serve({
      plan: values.plan as string | undefined,
      repository: values.repository as string | undefined,
      host: (values.host as string | undefined) ?? '127.0.0.1',
      port,
      // Default 8001, or a free port beside --port 0 (so that servers started on free ports for
      // tests never contend for 8001); an explicit 0 turns gRPC off.
      grpcPort: grpcFlag === undefined ? (port === 0 ? 'any' : 8001) : grpcFlag,
      overloadStatus: Number(values['overload-status'] ?? '429') as 429 | 503,
      hold: values['up-switch-hold-ms'] as number | undefined,
      overloadHorizonMs: values['overload-horizon-ms'] as number | undefined,
      hostSpeed: values['no-host-speed'] !== true,
      accuracyBudget: values['no-accuracy-budget'] !== true,
      accuracyWindowMs: values['accuracy-window-ms'] as number | undefined,
      limits,
      authToken,
      tokenFromFlag,
      quiet,
      logLevel: (values['log-level'] as string | undefined) ?? (quiet ? 'warn' : 'info'),
      accessLogSample: (values['access-log-sample'] as number | undefined) ?? 0,
      allowModelMismatch: values['allow-model-mismatch'] === true,
      cors: values.cors as string | undefined,
    }, io);
  });
}

interface ServeSettings {
  plan: string | undefined;
  repository: string | undefined;
  host: string;
  port: number;
  grpcPort: number | 'any';
  overloadStatus: 429 | 503;
  hold: number | undefined;
  overloadHorizonMs: number | undefined;
  hostSpeed: boolean;
  accuracyBudget: boolean;
  accuracyWindowMs: number | undefined;
  limits: Record<string, number>;
  authToken: string | undefined;
  tokenFromFlag: boolean;
  quiet: boolean;
  logLevel: string;
  accessLogSample: number;
  allowModelMismatch: boolean;
  cors: string | undefined;
}

async function serve(s: ServeSettings, io: CliIo): Promise<number> {
  // Loaded here, not at the top: `cascadeserve --help` must not load Fastify and the addon.
  const { createServer } = await import('../server/server.js');
  const { defaultPlanPath } = await import('../server/plan-loader.js');
  const { ModelMismatchError } = await import('../server/model-files.js');
  let server;
  try {
    server = await createServer({
      plan: s.plan ?? defaultPlanPath(),
      ...(s.repository !== undefined ? { repository: s.repository } : {}),
      host: s.host,
      port: s.port,
      // --grpc-port 0 means off here (the server option's 0 picks any free port).
      ...(s.grpcPort === 'any' ? { grpcPort: 0 } : s.grpcPort > 0 ? { grpcPort: s.grpcPort } : {}),
      overloadStatus: s.overloadStatus,
      upSwitchHoldMs: s.hold,
      ...(s.overloadHorizonMs !== undefined ? { overloadHorizonMs: s.overloadHorizonMs } : {}),
      hostSpeed: s.hostSpeed,
      accuracyBudget: s.accuracyBudget,
      ...(s.accuracyWindowMs !== undefined ? { accuracyWindowMs: s.accuracyWindowMs } : {}),
      ...s.limits,
      authToken: s.authToken,
      allowModelMismatch: s.allowModelMismatch,
      ...(s.cors !== undefined ? { cors: s.cors } : {}),
      // The one log stream: pino JSON lines on stderr.
      logger: { level: s.logLevel, stream: io.stderr as NodeJS.WritableStream },
      accessLogSample: s.accessLogSample,
    });
  } catch (e) {
    // A model file other than the plan's is a configuration error, like a bad flag.
    if (e instanceof ModelMismatchError) throw new UsageError(e.message);
    throw e;
  }
  const log = server.app.log;
  let url: string;
  try {
    url = await server.listen();
  } catch (e) {
    // A port in use (REST or gRPC): close what did start, so that the process exits.
    await server.close().catch(() => {});
    throw e;
  }
  const name = server.cascade.name;
  const models = [...server.models.keys()];
  // The URL is followed by a space in the message, so that a pattern like /at (http\S+)/ finds it.
  const grpcAt = server.grpcAddress ? ` and gRPC ${server.grpcAddress}` : '';
  log.info({ url, grpc: server.grpcAddress, models, plan: server.plan.planPath }, `serving '${name}' at ${url}${grpcAt} (models: ${models.join(', ')})`);
  if (io.stdout.isTTY && !s.quiet) {
    // A token given on the command line is shown (the user typed it here); one from the
    // environment is referred to by its variable.
    const auth = s.authToken === undefined ? undefined : s.tokenFromFlag ? { token: s.authToken } : { variable: 'CASCADESERVE_AUTH_TOKEN' };
    io.stdout.write(`cascadeserve serving '${name}' at ${url}${grpcAt}\n`);
    io.stdout.write(`models: ${models.join(', ')}\n`);
    const c = server.cascade.contract;
    io.stdout.write(`try:\n${exampleRequest(url, name, c.inputName, c.itemShape, auth, c.tensors)}\n`);
  }

  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      log.info({ signal }, `${signal}: shutting down (answering requests in flight)`);
      server.close().then(
        () => {
          // One line of accounting: every request the server took is in it exactly once.
          let success = 0;
          let failure = 0;
          for (const m of server.models.values()) {
            success += m.stats.successCount;
            failure += m.stats.failureCount;
          }
          log.info({ answered: success + failure, succeeded: success, failed: failure }, `shut down: answered ${success + failure} inference requests (${success} succeeded, ${failure} failed)`);
          resolve(0);
        },
        (err: Error) => {
          log.error({ err }, `shutdown failed: ${err.message}`);
          resolve(1);
        },
      );
    };
    const onTerm = () => shutdown('SIGTERM');
    const onInt = () => shutdown('SIGINT');
    // SIGHUP: reload every plan (the log says how each went; a failed one keeps serving the old).
    const onHup = () => {
      // The repository logs each plan's outcome (reloaded, or failed with the reason).
      log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading');
      server.repository.reloadAll().catch((err: Error) => log.error({ err }, `SIGHUP reload failed: ${err.message}`));
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
  });
}

/**
 * A curl command for one all-zero image as UINT8 pixels (works in any POSIX shell), or with
 * `tensors` (a cascade of typed inputs) one item of length 4 in every input. With
 * `auth` (the token itself, or the environment variable that holds it), it sends the
 * Authorization header the server requires.
 */
export function exampleRequest(url: string, model: string, input: string, itemShape: number[], auth?: { token: string } | { variable: string }, tensors?: TensorContract): string {
  let body: string;
  if (tensors) {
    body = exampleTensorBody(tensors);
  } else {
    const elems = itemShape.reduce((a, b) => a * b, 1);
    const zeros = `$(printf '0,%.0s' $(seq ${elems - 1}))0`;
    body = `{"id":"example","inputs":[{"name":"${input}","shape":[1,${itemShape.join(',')}],"datatype":"UINT8","data":[${zeros}]}]}`;
  }
  // Double quotes: the variable expands; a token is printable ASCII, so only the characters
  // special inside double quotes need a backslash.
  const bearer = auth === undefined ? '' : 'token' in auth ? auth.token.replace(/["\\$`]/g, '\\$&') : `$${auth.variable}`;
  const header = auth === undefined ? '' : ` -H "Authorization: Bearer ${bearer}"`;
  return `  curl -s ${url}/v2/models/${model}/infer -H 'Content-Type: application/json'${header} -d "${body.replace(/"/g, '\\"')}"`;
}

/** One item of length 4 on the dynamic axis: ones in integer and mask inputs (all positions count; an input's range's min when 1 is outside it), true in BOOL, zeros in floats. */
export function exampleTensorBody(c: TensorContract): string {
  const inputs = c.inputs.map((i) => {
    const shape = [1, ...i.itemShape.map((d) => (d < 0 ? 4 : d))];
    const elems = shape.reduce((a, b) => a * b, 1);
    const one = i.range && (i.range.min > 1 || i.range.max < 1) ? String(i.range.min) : '1';
    const value = i.datatype === 'BOOL' ? 'true' : i.datatype === 'FP32' || i.datatype === 'FP16' ? '0' : one;
    return `{"name":"${i.name}","shape":[${shape.join(',')}],"datatype":"${i.datatype}","data":[${Array(elems).fill(value).join(',')}]}`;
  });
  return `{"id":"example","inputs":[${inputs.join(',')}]}`;
}
