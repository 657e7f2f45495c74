// `cascadeserve serve` as a child process, for the tests and benchmarks that need the CLI (its
// signals, flags and exit codes): started, and resolved once its log (JSON lines on stderr)
// says where it serves. A serve started with --quiet (or --log-level warn) logs no such line.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { root } from './paths.js';

export const kCliPath = join(root, 'dist', 'ts', 'cli', 'bin.js');

export interface ServeProcess {
  child: ChildProcess;
  /** The REST base URL from the serving line. */
  url: string;
  /** Everything written to stderr so far (the log). */
  log(): string;
  /** Everything written to stdout so far (the banner, on a terminal only). */
  stdout(): string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) unless it has exited; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node bin.js serve ...args`; rejects with its log when it exits before serving. */
export async function startServeProcess(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const child = spawn(process.execPath, [kCliPath, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /serving '[^']*' at (http:\/\/\S+)/.exec(log);
      if (m) {
        child.stderr!.off('data', check);
        resolve(m[1]);
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`cascadeserve serve ${args.join(' ')} exited ${code} before serving:\n${log || out}`)));
  });
  return {
    child,
    url,
    log: () => log,
    stdout: () => out,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs `node bin.js ...args` to its end; resolves with its exit code and its stdout and stderr together. */
export function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kCliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/**
 * `init DIR`, a quick `profile` (batches up to 8, 3 repetitions) and `plan` (p95 50 ms, one
 * lane), as a user runs them on a cascade folder: null when each exits 0, else the failing
 * step's exit code and output.
 */
export async function initProfilePlan(dir: string): Promise<string | null> {
  const steps: [string, string[]][] = [
    ['init', ['init', dir]],
    ['profile', ['profile', join(dir, 'cascade.json'), '--out', join(dir, 'profile.json'), '--max-batch', '8', '--reps', '3', '--warmup', '1']],
    ['plan', ['plan', '--profile', join(dir, 'profile.json'), '--slo-p95-ms', '50', '--lanes', '1', '--out', join(dir, 'plan.json')]],
  ];
  for (const [name, args] of steps) {
    const r = await runCli(args);
    if (r.code !== 0) return `cascadeserve ${name} exited ${r.code}:\n${r.out}`;
  }
  return null;
}
