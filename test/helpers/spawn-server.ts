// Starts `cascadeserve serve` as a child process (the CLI the container runs) and stops it
// with SIGTERM; for the deployment tests, which need the server as a separate process.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { kCliPath, startServeProcess } from '../../testkit/serve-process.js';

export const cliPath = kCliPath;

/** A TCP port that was free a moment ago (bound to port 0 on 127.0.0.1, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServeProcess {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then resolves with the exit code once the process has ended. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs `node bin.js ...args` (args[0] is 'serve') and resolves once it logs its serving line (so not with --quiet). */
export async function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  if (args[0] !== 'serve') throw new Error(`spawnServe runs the serve command, got '${args[0]}'`);
  const serve = await startServeProcess(args.slice(1), { ...process.env, ...env });
  return { proc: serve.child, stdout: serve.stdout, stderr: serve.log, exited: serve.exited, stop: () => serve.stop() };
}
