// The raw surface of the native addon, declared as a typed interface and loaded once. Nothing
// here validates: callers in ts/ validate first (messages name the field) and the addon keeps
// only cheap guards. Loader order: CASCADESERVE_ADDON (an explicit path), then
// prebuilds/<platform>-<arch>/cascadeserve.node, then build/Release/cascadeserve.node; a local
// build newer than the prebuilt binary goes first, so a source checkout never runs a stale one.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RawTensorInfo {
  name: string;
  type: number; // ElementType value (ts/runtime/element-type.ts)
  shape: number[]; // -1 for a dynamic dimension
}

export interface RawTensorIn {
  name: string;
  type: number;
  dims: number[];
  data: ArrayBufferView;
}

export interface RawTensorOut {
  name: string;
  type: number;
  dims: number[];
  buffer: ArrayBuffer;
}

export interface RawRuntime {
  readonly version: { runtime: string; apiVersion: number };
  readonly libraryPath: string;
  readonly providers: string[];
}

export interface RawSessionOptions {
  intraOpThreads: number;
  graphOptimizationLevel: number;
  executionProvider: 'cpu' | 'cuda';
  deviceId: number;
}

export interface RawSession {
  readonly inputs: RawTensorInfo[];
  readonly outputs: RawTensorInfo[];
  /** Runs on libuv's thread pool; computeUs is the time spent inside ONNX Runtime. */
  run(inputs: RawTensorIn[], outputNames: string[]): Promise<{ outputs: RawTensorOut[]; computeUs: number }>;
  /** Runs on the calling thread (for models cheaper than a thread hop). */
  runSync(inputs: RawTensorIn[], outputNames: string[]): RawTensorOut[];
  /** Microseconds per call of the bare C API Run in a native loop (benchmarks). */
  timeRawRuns(inputs: RawTensorIn[], outputNames: string[], iterations: number): number;
  release(): void;
}

export interface RawBinding {
  RuntimeHandle: new (libraryPath: string) => RawRuntime;
  createSession(runtime: RawRuntime, path: string, options: RawSessionOptions): Promise<RawSession>;
  compiledApiVersion: number;
  // The engine's raw surface is declared in bindings/engine-binding.ts.
  [key: string]: unknown;
}

/** The package root: the directory holding package.json, found upward from this file. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bindings'))) return dir;
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dist'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cascadeserve: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function addonCandidates(root = packageRoot()): string[] {
  const list: string[] = [];
  if (process.env.CASCADESERVE_ADDON) list.push(process.env.CASCADESERVE_ADDON);
  const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'cascadeserve.node');
  const local = join(root, 'build', 'Release', 'cascadeserve.node');
  const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : -1);
  if (mtime(local) > mtime(prebuilt)) list.push(local, prebuilt);
  else list.push(prebuilt, local);
  return list;
}

let cached: { binding: RawBinding; path: string } | undefined;

/** Loads the addon once per thread; the error lists every file tried and why it failed. */
export function loadBinding(): { binding: RawBinding; path: string } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const candidate of addonCandidates()) {
    if (!existsSync(candidate)) {
      tried.push(`  ${candidate}: not found`);
      continue;
    }
    try {
      cached = { binding: require(candidate) as RawBinding, path: candidate };
      return cached;
    } catch (err) {
      tried.push(`  ${candidate}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    'cascadeserve: no loadable native addon. Tried:\n' +
      tried.join('\n') +
      '\nBuild it with `npm run build:native` (needs cmake and g++), or install a package that ships prebuilds/.',
  );
}
