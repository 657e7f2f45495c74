// `cascadeserve serve`: serves a gear plan over the Open Inference Protocol until SIGTERM or
// SIGINT, then shuts down gracefully (stops accepting, answers requests in flight, closes the
// engines) and exits 0.
import { parseArgs } from 'node:util';
import type { CliIo } from './main.js';

const kUsage = `Usage: cascadeserve serve [--plan plan.json] [--host 127.0.0.1] [--port 8000]
                         [--overload-status 429|503] [--up-switch-hold-ms 500] [--quiet]
                         [--auth-token TOKEN] [--body-limit BYTES] [--max-images N]
                         [--max-in-flight N] [--headers-timeout-ms MS] [--request-timeout-ms MS]
                         [--keep-alive-timeout-ms MS] [--connection-timeout-ms MS]
                         [--max-event-loop-lag-ms MS] [--load-window-ms MS] [--load-recent-ms MS]

Serves the plan's cascade as model '<manifest name>' and each of its models alone as
'<manifest name>.<model>'. Default plan: the embedded Fashion-MNIST cascade
(models/fmnist/plan.json). --port 0 picks a free port.

Limits (defaults): --body-limit 16777216 bytes (413 beyond), --max-images 256 per request
(413 beyond), --max-in-flight 1024 images per model (429/503 beyond), --headers-timeout-ms
10000 and --request-timeout-ms 30000 to receive a request (408 after),
--keep-alive-timeout-ms 72000 for idle connections, --connection-timeout-ms 0 (no socket
inactivity timeout), --max-event-loop-lag-ms 0 (off; with N > 0, infer requests are refused
before their bodies are read while the event loop is more than N ms behind).
The gear policy reads the arrival rate over --load-window-ms 200 and a recent window of
--load-recent-ms 50 (at most the window); longer windows smooth a jittery load.

--auth-token (or the environment variable CASCADESERVE_AUTH_TOKEN, which keeps it out of
the process list) requires 'Authorization: Bearer <token>' on every route except
/v2/health/*, /metrics and the page /dashboard, whose data (/v2/cascadeserve/status) needs
the token: open it as /dashboard#token=TOKEN (the fragment is never sent to the server).
`;

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
  'load-window-ms': ['loadWindowMs', 1],
  'load-recent-ms': ['loadRecentMs', 1],
} as const;

export async function runServeCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        plan: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8000' },
        'overload-status': { type: 'string', default: '429' },
        'up-switch-hold-ms': { type: 'string' },
        quiet: { type: 'boolean', default: false },
        'auth-token': { type: 'string' },
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
  const authToken = values['auth-token'] ?? (process.env.CASCADESERVE_AUTH_TOKEN || undefined);
  if (authToken !== undefined && !/^[\x21-\x7e]{16,4096}$/.test(authToken)) {
    io.stderr.write(`cascadeserve serve: the auth token (--auth-token or CASCADESERVE_AUTH_TOKEN) must be 16 to 4096 printable ASCII characters without spaces\n`);
    return 2;
  }

  // Loaded here, not at the top: `cascadeserve --help` must not load Fastify and the addon.
  const { createServer } = await import('../server/server.js');
  const { defaultPlanPath } = await import('../server/plan-loader.js');
  const server = await createServer({
    plan: values.plan ?? defaultPlanPath(),
    host: values.host,
    port,
    overloadStatus,
    upSwitchHoldMs: hold,
    ...limits,
    authToken,
    // pino: gear switches and errors as JSON lines on stderr; no per-request lines.
    logger: values.quiet ? false : { level: 'info', stream: io.stderr },
  });
  const url = await server.listen();
  const name = server.cascade.name;
  io.stdout.write(`cascadeserve serving '${name}' at ${url}\n`);
  io.stdout.write(`models: ${[...server.models.keys()].join(', ')}\n`);
  io.stdout.write(`try:\n${exampleRequest(url, name, server.cascade.contract.inputName, server.cascade.contract.itemShape)}\n`);

  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      io.stdout.write(`${signal}: shutting down (answering requests in flight)\n`);
      server.close().then(
        () => {
          // One line of accounting: every request the server took is in it exactly once.
          let success = 0;
          let failure = 0;
          for (const m of server.models.values()) {
            success += m.stats.successCount;
            failure += m.stats.failureCount;
          }
          io.stdout.write(`shut down: answered ${success + failure} inference requests (${success} succeeded, ${failure} failed)\n`);
          resolve(0);
        },
        (err: Error) => {
          io.stderr.write(`cascadeserve serve: shutdown failed: ${err.message}\n`);
          resolve(1);
        },
      );
    };
    const onTerm = () => shutdown('SIGTERM');
    const onInt = () => shutdown('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

/** A curl command for one all-zero image as UINT8 pixels (works in any POSIX shell). */
export function exampleRequest(url: string, model: string, input: string, itemShape: number[]): string {
  const elems = itemShape.reduce((a, b) => a * b, 1);
  const zeros = `$(printf '0,%.0s' $(seq ${elems - 1}))0`;
  const body = `{"id":"example","inputs":[{"name":"${input}","shape":[1,${itemShape.join(',')}],"datatype":"UINT8","data":[${zeros}]}]}`;
  return `  curl -s ${url}/v2/models/${model}/infer -H 'Content-Type: application/json' -d "${body.replace(/"/g, '\\"')}"`;
}
