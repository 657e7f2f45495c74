// Starts `cascadeserve serve` as a child process (the CLI the container runs) and stops it
// with SIGTERM; for the deployment tests, which need the server as a separate process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { root } from '../../testkit/paths.js';

export const cliPath = join(root, 'dist', 'ts', 'cli', 'bin.js');

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

/** Runs `node bin.js ...args` and resolves once it logs its serving line (so not with --quiet). */
export async function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    // The serving line is in the log on stderr (and in the banner when stdout is a terminal).
    const check = () => {
      if (/serving '.*' at /.test(err) || /serving '.*' at /.test(out)) {
        proc.stdout!.off('data', check);
        proc.stderr!.off('data', check);
        resolve();
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    exited.then((code) => reject(new Error(`cascadeserve serve ${args.join(' ')} exited ${code} before serving:\n${err || out}`)));
  });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
