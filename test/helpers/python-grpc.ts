// The independent gRPC client of the tests (test/fixtures/grpc_client.py: Debian's grpcio with
// stubs generated at test time from the shipped .proto), driven one JSON command at a time.
// scripts/install-test-deps.sh installs python3-grpcio and python3-grpc-tools.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fixture } from '../../testkit/paths.js';

export const kPython = '/usr/bin/python3';

/** Why the Python gRPC client cannot run here, or null when it can. */
export function pythonGrpcMissing(): string | null {
  const r = spawnSync(kPython, ['-c', 'import grpc, grpc_tools.protoc'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${kPython} cannot import grpc and grpc_tools (run scripts/install-test-deps.sh as root): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
}

export type GrpcAnswer = { ok: true; response: any } | { ok: false; code: string; details: string; trailers: Record<string, string> };

export interface GrpcCommand {
  call?: string;
  raw_call?: string;
  request?: unknown;
  metadata?: [string, string][];
  timeout_s?: number;
}

export class PythonGrpcClient {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #waiting: ((line: string) => void)[] = [];
  #stderr = '';

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#lines = createInterface({ input: child.stdout });
    this.#lines.on('line', (line) => this.#waiting.shift()?.(line));
    child.on('exit', () => {
      for (const w of this.#waiting.splice(0)) w(JSON.stringify({ exited: true, stderr: this.#stderr }));
    });
  }

  static async start(protoFile: string, address: string): Promise<PythonGrpcClient> {
    const child = spawn(kPython, [fixture('grpc_client.py'), protoFile, address], { stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new PythonGrpcClient(child);
    const first = await client.#next();
    if (!first.ready) throw new Error(`the Python gRPC client did not start: ${JSON.stringify(first)}`);
    return client;
  }

  #next(): Promise<any> {
    return new Promise((resolve) => this.#waiting.push((line) => resolve(JSON.parse(line))));
  }

  async call(cmd: GrpcCommand): Promise<GrpcAnswer> {
    this.#child.stdin.write(JSON.stringify(cmd) + '\n');
    const answer = await this.#next();
    if (answer.exited) throw new Error(`the Python gRPC client exited: ${answer.stderr}`);
    return answer as GrpcAnswer;
  }

  /** The same call `n` times at once (n threads). */
  async concurrent(cmd: GrpcCommand, n: number): Promise<GrpcAnswer[]> {
    this.#child.stdin.write(JSON.stringify({ ...cmd, repeat: n }) + '\n');
    const answer = await this.#next();
    if (answer.exited) throw new Error(`the Python gRPC client exited: ${answer.stderr}`);
    return answer.results as GrpcAnswer[];
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    if (this.#child.exitCode === null) await new Promise((r) => this.#child.once('exit', r));
  }
}

/** Base64 of a typed array's bytes (protobuf's JSON form of a bytes field). */
export const b64 = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
export const fromB64 = (s: string): Buffer => Buffer.from(s, 'base64');
