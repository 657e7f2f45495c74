// `cascadeserve serve`: serves a gear plan over the Open Inference Protocol until SIGTERM or
// SIGINT, then shuts down gracefully (stops accepting, answers requests in flight, closes the
// engines) and exits 0.
import { parseArgs } from 'node:util';
import type { CliIo } from './main.js';

const kUsage = `Usage: cascadeserve serve [--plan plan.json | --repository DIR] [--host 127.0.0.1] [--port 8000]
                         [--grpc-port 8001] [--overload-status 429|503] [--up-switch-hold-ms 500]
                         [--log-level LEVEL] [--quiet] [--access-log-sample RATE]
                         [--auth-token TOKEN] [--body-limit BYTES] [--max-images N]
                         [--max-in-flight N] [--headers-timeout-ms MS] [--request-timeout-ms MS]
                         [--keep-alive-timeout-ms MS] [--connection-timeout-ms MS]
                         [--max-event-loop-lag-ms MS] [--allow-model-mismatch] [--cors ORIGINS]

Serves the plan's cascade as model '<manifest name>' and each of its models alone as
'<manifest name>.<model>'. Default plan: the embedded Fashion-MNIST cascade
(models/fmnist/plan.json). --port 0 picks a free port.

The Open Inference Protocol over REST on --port and over gRPC (inference.GRPCInferenceService,
proto/grpc_service.proto) on --grpc-port (default 8001, or a free port when --port is 0; 0 turns gRPC off).

--repository DIR serves every folder of DIR that holds cascade.json and plan.json. The
repository calls (POST /v2/repository/models/<name>/load, gRPC RepositoryModelLoad) and
SIGHUP reload plans without dropping a request; a plan that fails to load leaves the previous
one serving.

Limits (defaults): --body-limit 16777216 bytes (413 beyond), --max-images 256 per request
(413 beyond), --max-in-flight 1024 images per model (429/503 beyond), --headers-timeout-ms
10000 and --request-timeout-ms 30000 to receive a request (408 after),
--keep-alive-timeout-ms 72000 for idle connections, --connection-timeout-ms 0 (no socket
inactivity timeout), --max-event-loop-lag-ms 0 (off; with N > 0, infer requests are refused
before their bodies are read while the event loop is more than N ms behind).

--auth-token (or the environment variable CASCADESERVE_AUTH_TOKEN, which keeps it out of
the process list) requires 'Authorization: Bearer <token>' on every route except
/v2/health/*, /metrics and the page /dashboard, whose data (/v2/cascadeserve/status) needs
the token: open it as /dashboard#token=TOKEN (the fragment is never sent to the server).
The token must be 16 to 4096 printable ASCII characters without spaces (e.g.
\`openssl rand -hex 32\`).

Logs: one stream of JSON lines (pino) on stderr, each with a level. --log-level (default
info): fatal, error, warn, info (start, gear switches, shutdown), debug (also one line per
failed request), trace (also one per successful request), or silent. --quiet is
--log-level warn without the banner. Every line of a request carries its request_id: the
client's X-Request-Id header when given (1 to 128 printable characters), else a new UUID;
responses echo it in X-Request-Id. --access-log-sample RATE (0 to 1, default 0) writes that
share of requests at info as 'access' lines (status, model, gear, exit stages, latency).
When stdout is a terminal, a readable banner with the URL and a curl example is printed there.

The plan records each model file's sha256; serve refuses to start (exit 2) when a file differs
from the one the plan was made for. --allow-model-mismatch serves it anyway, with a warning.

--cors https://app.example.com,http://localhost:3000 (or *) lets browser pages from those
origins call the server (CORS headers, preflights answered); without it, no CORS headers.
`;

const kLogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Integer options: flag -> [ServerOptions key, minimum]. */
const kIntegerFlags = {
  'body-limit': ['bodyLimit', 1],
  'max-images': ['maxImagesPerRequest', 1],
  'max-in-flight': ['maxInFlightImages', 1],
  'headers-timeout-ms': ['headersTimeoutMs', 1],
  'request-timeout-ms': ['requestTimeoutMs', 1],
  'keep-alive-timeout-ms': ['keepAliveTimeoutMs', 1],
  'connection-timeout-ms': ['connectionTimeoutMs', 0],
  'max-event-loop-lag-ms': ['maxEventLoopLagMs', 0],
} as const;

export async function runServeCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        plan: { type: 'string' },
        repository: { type: 'string' },
        'grpc-port': { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8000' },
        'overload-status': { type: 'string', default: '429' },
        'up-switch-hold-ms': { type: 'string' },
        quiet: { type: 'boolean', default: false },
        'log-level': { type: 'string' },
        'access-log-sample': { type: 'string' },
        'allow-model-mismatch': { type: 'boolean', default: false },
        'auth-token': { type: 'string' },
        cors: { type: 'string' },
        ...Object.fromEntries(Object.keys(kIntegerFlags).map((k) => [k, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    io.stderr.write(`cascadeserve serve: ${(e as Error).message}\n\n${kUsage}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(kUsage);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr.write(`cascadeserve serve: --port must be an integer from 0 to 65535, got '${values.port}'\n`);
    return 2;
  }
  const grpcPortText = values['grpc-port'];
  // Default 8001, or a free port beside --port 0 (so that servers started on free ports for
  // tests never contend for 8001); an explicit 0 turns gRPC off.
  const grpcPort = grpcPortText === undefined ? (port === 0 ? 'any' : 8001) : /^\d{1,5}$/.test(grpcPortText) ? Number(grpcPortText) : NaN;
  if (grpcPort !== 'any' && !(grpcPort >= 0 && grpcPort <= 65535)) {
    io.stderr.write(`cascadeserve serve: --grpc-port must be an integer from 0 to 65535 (0 turns gRPC off), got '${grpcPortText}'\n`);
    return 2;
  }
  if (values.plan !== undefined && values.repository !== undefined) {
    io.stderr.write(`cascadeserve serve: give --plan or --repository, not both\n`);
    return 2;
  }
  const overloadStatus = Number(values['overload-status']);
  if (overloadStatus !== 429 && overloadStatus !== 503) {
    io.stderr.write(`cascadeserve serve: --overload-status must be 429 or 503, got '${values['overload-status']}'\n`);
    return 2;
  }
  const hold = values['up-switch-hold-ms'] === undefined ? undefined : Number(values['up-switch-hold-ms']);
  if (hold !== undefined && !(hold >= 0)) {
    io.stderr.write(`cascadeserve serve: --up-switch-hold-ms must be a non-negative number, got '${values['up-switch-hold-ms']}'\n`);
    return 2;
  }
  const limits: Record<string, number> = {};
  for (const [flag, [key, min]] of Object.entries(kIntegerFlags)) {
    const text = (values as Record<string, string | boolean | undefined>)[flag];
    if (text === undefined) continue;
    const n = Number(text);
    if (typeof text !== 'string' || !/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      io.stderr.write(`cascadeserve serve: --${flag} must be an integer >= ${min}, got '${String(text)}'\n`);
      return 2;
    }
    limits[key] = n;
  }
  const tokenFromFlag = values['auth-token'] !== undefined;
  const authToken = values['auth-token'] ?? (process.env.CASCADESERVE_AUTH_TOKEN || undefined);
  if (authToken !== undefined && !/^[\x21-\x7e]{16,4096}$/.test(authToken)) {
    io.stderr.write(`cascadeserve serve: the auth token (--auth-token or CASCADESERVE_AUTH_TOKEN) must be 16 to 4096 printable ASCII characters without spaces, got ${authToken.length} characters\n`);
    return 2;
  }
  const logLevel = values['log-level'] ?? (values.quiet ? 'warn' : 'info');
  if (!(kLogLevels as readonly string[]).includes(logLevel)) {
    io.stderr.write(`cascadeserve serve: --log-level must be one of ${kLogLevels.join(', ')}, got '${logLevel}'\n`);
    return 2;
  }
  const sampleText = values['access-log-sample'];
  const accessLogSample = sampleText === undefined ? 0 : Number(sampleText);
  if (sampleText !== undefined && (!/^\s*[\d.eE+-]+\s*$/.test(sampleText) || !(accessLogSample >= 0 && accessLogSample <= 1))) {
    io.stderr.write(`cascadeserve serve: --access-log-sample must be a number from 0 to 1 (the share of requests logged), got '${sampleText}'\n`);
    return 2;
  }

  // Loaded here, not at the top: `cascadeserve --help` must not load Fastify and the addon.
  const { createServer } = await import('../server/server.js');
  const { defaultPlanPath } = await import('../server/plan-loader.js');
  const { ModelMismatchError } = await import('../server/model-files.js');
  let server;
  try {
    server = await createServer({
      plan: values.plan ?? defaultPlanPath(),
      ...(values.repository !== undefined ? { repository: values.repository } : {}),
      host: values.host,
      port,
      // --grpc-port 0 means off here (the server option's 0 picks any free port).
      ...(grpcPort === 'any' ? { grpcPort: 0 } : grpcPort > 0 ? { grpcPort } : {}),
      overloadStatus,
      upSwitchHoldMs: hold,
      ...limits,
      authToken,
      allowModelMismatch: values['allow-model-mismatch'],
      ...(values.cors !== undefined ? { cors: values.cors } : {}),
      // The one log stream: pino JSON lines on stderr.
      logger: { level: logLevel, stream: io.stderr },
      accessLogSample,
    });
  } catch (e) {
    // A model file other than the plan's is a configuration error, like a bad flag.
    if (e instanceof ModelMismatchError) {
      io.stderr.write(`cascadeserve serve: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = server.app.log;
  const url = await server.listen();
  const name = server.cascade.name;
  const models = [...server.models.keys()];
  // The URL is followed by a space in the message, so that a pattern like /at (http\S+)/ finds it.
  const grpcAt = server.grpcAddress ? ` and gRPC ${server.grpcAddress}` : '';
  log.info({ url, grpc: server.grpcAddress, models, plan: server.plan.planPath }, `serving '${name}' at ${url}${grpcAt} (models: ${models.join(', ')})`);
  if (io.stdout.isTTY && !values.quiet) {
    // A token given on the command line is shown (the user typed it here); one from the
    // environment is referred to by its variable.
    const auth = authToken === undefined ? undefined : tokenFromFlag ? { token: authToken } : { variable: 'CASCADESERVE_AUTH_TOKEN' };
    io.stdout.write(`cascadeserve serving '${name}' at ${url}${grpcAt}\n`);
    io.stdout.write(`models: ${models.join(', ')}\n`);
    io.stdout.write(`try:\n${exampleRequest(url, name, server.cascade.contract.inputName, server.cascade.contract.itemShape, auth)}\n`);
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
      log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading');
      void server.repository.reloadAll().then((results) => {
        for (const r of results) {
          if (r.error) log.error({ model: r.name, error: r.error }, `reload of '${r.name}' failed: ${r.error}`);
          else log.info({ model: r.name }, `reloaded '${r.name}'`);
        }
      });
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
  });
}

/**
 * A curl command for one all-zero image as UINT8 pixels (works in any POSIX shell). With
 * `auth` (the token itself, or the environment variable that holds it), it sends the
 * Authorization header the server requires.
 */
export function exampleRequest(url: string, model: string, input: string, itemShape: number[], auth?: { token: string } | { variable: string }): string {
  const elems = itemShape.reduce((a, b) => a * b, 1);
  const zeros = `$(printf '0,%.0s' $(seq ${elems - 1}))0`;
  const body = `{"id":"example","inputs":[{"name":"${input}","shape":[1,${itemShape.join(',')}],"datatype":"UINT8","data":[${zeros}]}]}`;
  // Double quotes: the variable expands; a token is printable ASCII, so only the characters
  // special inside double quotes need a backslash.
  const bearer = auth === undefined ? '' : 'token' in auth ? auth.token.replace(/["\\$`]/g, '\\$&') : `$${auth.variable}`;
  const header = auth === undefined ? '' : ` -H "Authorization: Bearer ${bearer}"`;
  return `  curl -s ${url}/v2/models/${model}/infer -H 'Content-Type: application/json'${header} -d "${body.replace(/"/g, '\\"')}"`;
}
