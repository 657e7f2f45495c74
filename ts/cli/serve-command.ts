// `cascadeserve serve`: serves a gear plan over the Open Inference Protocol until SIGTERM or
// SIGINT, then shuts down gracefully (stops accepting, answers requests in flight, closes the
// engines) and exits 0.
import { runCommand, UsageError, type CliIo, type CommandSpec } from './args.js';

const kHourMs = 3_600_000;

export const kServeCommand: CommandSpec = {
  name: 'serve',
  description: `Serves the plan's cascade as model '<manifest name>' and each of its models alone as
'<manifest name>.<model>', until SIGTERM or SIGINT. Default plan: the embedded Fashion-MNIST
cascade (models/fmnist/plan.json). --port 0 picks a free port.

--auth-token (or the environment variable CASCADESERVE_AUTH_TOKEN, which keeps it out of
the process list) requires 'Authorization: Bearer <token>' on every route except
/v2/health/* and /metrics.`,
  flags: [
    { name: 'plan', kind: 'input-file', help: 'plan.json from `cascadeserve plan` (default: models/fmnist/plan.json)' },
    { name: 'host', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
    { name: 'port', kind: 'integer', min: 0, max: 65535, default: 8000, help: 'TCP port (0: a free one)' },
    { name: 'overload-status', kind: 'choice', choices: ['429', '503'], default: '429', help: 'HTTP status of a request refused for overload' },
    { name: 'up-switch-hold-ms', kind: 'number', value: 'MS', min: 0, max: kHourMs, help: 'how long a higher load must last before a cheaper gear is switched in' },
    { name: 'quiet', kind: 'boolean', help: 'no log lines (gear switches, errors) on stderr' },
    { name: 'auth-token', kind: 'string', value: 'TOKEN', help: 'bearer token required on the API routes (16 to 4096 printable ASCII characters)' },
    { name: 'body-limit', kind: 'integer', value: 'BYTES', min: 1, max: 2 ** 30, default: 16_777_216, help: 'largest request body (413 beyond)' },
    { name: 'max-images', kind: 'integer', min: 1, max: 65_536, default: 256, help: 'most images per request (413 beyond)' },
    { name: 'max-in-flight', kind: 'integer', min: 1, max: 1_048_576, default: 1024, help: 'images in flight per model (429/503 beyond)' },
    { name: 'headers-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 10_000, help: 'time to receive the request headers (408 after)' },
    { name: 'request-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 30_000, help: 'time to receive the whole request (408 after)' },
    { name: 'keep-alive-timeout-ms', kind: 'integer', value: 'MS', min: 1, max: kHourMs, default: 72_000, help: 'idle time before a kept-alive connection is closed' },
    { name: 'connection-timeout-ms', kind: 'integer', value: 'MS', min: 0, max: kHourMs, default: 0, help: 'socket inactivity timeout (0: none)' },
    { name: 'max-event-loop-lag-ms', kind: 'integer', value: 'MS', min: 0, max: 60_000, default: 0, help: 'refuse infer requests before reading their bodies while the event loop is more than this behind (0: off)' },
  ],
  exitCodes: '0 shut down cleanly; 1 start-up or shutdown failure; 2 usage error.',
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
} as const;

export async function runServeCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kServeCommand, argv, io, async ({ values }) => {
    const port = (values.port as number | undefined) ?? 8000;
    const overloadStatus = Number(values['overload-status'] ?? '429') as 429 | 503;
    const hold = values['up-switch-hold-ms'] as number | undefined;
    const limits: Record<string, number> = {};
    for (const [flag, key] of Object.entries(kServerOptionOf)) if (values[flag] !== undefined) limits[key] = values[flag] as number;
    const authToken = (values['auth-token'] as string | undefined) ?? (process.env.CASCADESERVE_AUTH_TOKEN || undefined);
    if (authToken !== undefined && !/^[\x21-\x7e]{16,4096}$/.test(authToken)) {
      throw new UsageError('the auth token (--auth-token or CASCADESERVE_AUTH_TOKEN) must be 16 to 4096 printable ASCII characters without spaces');
    }
    return serve(values.plan as string | undefined, (values.host as string | undefined) ?? '127.0.0.1', port, overloadStatus, hold, limits, authToken, values.quiet === true, io);
  });
}

async function serve(plan: string | undefined, host: string, port: number, overloadStatus: 429 | 503, hold: number | undefined, limits: Record<string, number>, authToken: string | undefined, quiet: boolean, io: CliIo): Promise<number> {
  // Loaded here, not at the top: `cascadeserve --help` must not load Fastify and the addon.
  const { createServer } = await import('../server/server.js');
  const { defaultPlanPath } = await import('../server/plan-loader.js');
  const server = await createServer({
    plan: plan ?? defaultPlanPath(),
    host,
    port,
    overloadStatus,
    upSwitchHoldMs: hold,
    ...limits,
    authToken,
    // pino: gear switches and errors as JSON lines on stderr; no per-request lines.
    logger: quiet ? false : { level: 'info', stream: io.stderr as NodeJS.WritableStream },
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
