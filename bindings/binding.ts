// The raw surface of the native addon, declared as a typed interface and loaded once. Nothing
// here validates: callers in ts/ validate first (messages name the field) and the addon keeps
// only cheap guards. Loader order: CASCADESERVE_ADDON (an explicit path), then
// prebuilds/<platform>-<arch>/cascadeserve.node, then build/Release/cascadeserve.node; a local
// build at least as new as the prebuilt binary goes first, so a source checkout runs its own
// build (scripts/prebuild.mjs copies with the build's mtime) and never a stale one.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kNativeEnumTables } from '../ts/contracts/enums.js';

export interface RawTensorInfo {
  name: string;
  type: number; // ElementType value (ts/runtime/element-type.ts)
  shape: number[]; // -1 for a dynamic dimension
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

/**
 * Run arguments as columns (no property names read per call): inputIndices[i] is the model
 * input fed by datas[i], with element type types[i] and dims
 * dims[sum(ranks[0..i)) .. + ranks[i]); outputIndices lists the outputs wanted (empty: all).
 */
export type RawRunColumns = [inputIndices: Int32Array, types: Int32Array, ranks: Int32Array, dims: Float64Array, datas: ArrayBufferView[], outputIndices: Int32Array];

/** Caller-allocated outputs for the outputIndices of RawRunColumns: types, ranks, dims, buffers. */
export type RawOutputColumns = [types: Int32Array, ranks: Int32Array, dims: Float64Array, datas: ArrayBufferView[]];

/** Outputs flat: [type0, dims0, buffer0, type1, dims1, buffer1, ...] in the order asked for. */
export type RawOutputs = (number | number[] | ArrayBuffer)[];

export interface RawSession {
  readonly inputs: RawTensorInfo[];
  readonly outputs: RawTensorInfo[];
  /** Runs off the calling thread (the session's own thread, else libuv's pool); computeUs is the time spent inside ONNX Runtime. */
  run(...columns: RawRunColumns): Promise<{ outputs: RawOutputs; computeUs: number }>;
  /** Runs on the calling thread (for models cheaper than a thread hop). */
  runSync(...columns: RawRunColumns): RawOutputs;
  /** Like run, into caller-allocated outputs (shapes known in advance); resolves to computeUs. */
  runInto(...columns: [...RawRunColumns, ...RawOutputColumns]): Promise<number>;
  runSyncInto(...columns: [...RawRunColumns, ...RawOutputColumns]): void;
  /** Microseconds per call of the bare C API Run in a native loop (benchmarks). */
  timeRawRuns(...args: [...RawRunColumns, number]): number;
  /** Whether later off-thread runs may run on the calling thread's CPU, where the platform allows it (native/common/cpu_share.h). */
  shareCallerCpu(on: boolean): void;
  /** Whether the latest run settled from the session's own thread ran on the caller's CPU. */
  lastRunOnCallerCpu(): boolean;
  release(): void;
}

/**
 * Completed items (bindings/engine_binding.cc Deliver): `rows` holds kResultRowFields.width
 * numbers per item (ts/contracts/enums.ts kResultRowFields: ticket, native StatusCode, ...);
 * outputOffset (count + 1 offsets into outputs) and outputs are present when an item of the
 * group has an output row, certainties (3 per item, index = measure code, NaN for items that
 * did not ask) when one asked for them, errors (runtime error message by item index) when one
 * failed.
 */
export type RawResultsCallback = (
  count: number,
  rows: Float64Array,
  outputOffset: Int32Array | undefined,
  outputs: Float32Array | undefined,
  certainties: Float64Array | undefined,
  errors: Record<number, string> | undefined,
) => void;

export interface RawEngineStats {
  gearId: number;
  gearSwitches: number;
  queues: { model: number; currentStage: number; queueLength: number; batches: number; items: number; exits: number; timeouts: number; refusals: number; failures: number; cancellations: number; itemPositions: number; paddedPositions: number }[];
  lanes: { busyUs: number; batches: number; items: number }[];
}

export interface RawEngine {
  readonly itemElems: number;
  /**
   * Queues items; sets accepted[i] = 1, or 0 when refused (queue full). budgetsUs: time
   * left, Infinity = none. detail[i]: kResultDetail flags (output row, certainties).
   */
  submit(tickets: Float64Array, inputs: Float32Array, budgetsUs: Float64Array, priorities: Int32Array, detail: Uint8Array, accepted: Uint8Array): void;
  /**
   * Queues items of typed inputs: tensors[k] feeds the engine's input k (config order), every
   * item padded to `length` on the dynamic axis (0 when there is none); lengths[i] is item i's
   * own length (empty when there is no dynamic axis). Other arguments as submit.
   */
  submitTensors(tickets: Float64Array, tensors: ArrayBufferView[], length: number, lengths: Int32Array, budgetsUs: Float64Array, priorities: Int32Array, detail: Uint8Array, accepted: Uint8Array): void;
  setGear(gear: unknown): void;
  stats(): RawEngineStats;
  pause(): void;
  resume(): void;
  /** Stops the lanes; pending items complete as cancelled through onResults. */
  close(): void;
  /** Whether pending deliveries keep the process alive. */
  setRef(ref: boolean): void;
}

export interface RawBinding {
  RuntimeHandle: new (libraryPath: string) => RawRuntime;
  createSession(runtime: RawRuntime, path: string, options: RawSessionOptions): Promise<RawSession>;
  compiledApiVersion: number;
  createEngine(runtime: RawRuntime, config: unknown, gear: unknown, onResults: RawResultsCallback): Promise<RawEngine>;
  /** Its static maxBudgetUs: the native guard's budget bound (native/engine/deadline.h). */
  EngineHandle: { readonly maxBudgetUs: number };
  engineNowUs(): number;
  /** Lets another runnable thread have this thread's CPU (sched_yield). */
  yieldThread(): void;
  /** The native enums by name (bindings/enum_table.cc), compared with ts/contracts/enums.ts at load. */
  enums: Record<string, Record<string, number>>;
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
  if (mtime(local) >= 0 && mtime(local) >= mtime(prebuilt)) list.push(local, prebuilt);
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
    let binding: RawBinding;
    try {
      binding = require(candidate) as RawBinding;
    } catch (err) {
      tried.push(`  ${candidate}: ${(err as Error).message}`);
      continue;
    }
    // An addon that loads but numbers its enums differently was built from other sources:
    // refuse it rather than fall back to another file, so the stale build is named.
    const mismatches = enumMismatches((binding as { enums?: unknown }).enums);
    if (mismatches.length > 0) {
      throw new Error(
        `cascadeserve: the native addon ${candidate} does not match ts/contracts/enums.ts:\n` +
          mismatches.map((m) => `  ${m}`).join('\n') +
          '\nRebuild it from these sources with `npm run build:native`.',
      );
    }
    cached = { binding, path: candidate };
    return cached;
  }
  throw new Error(
    'cascadeserve: no loadable native addon. Tried:\n' +
      tried.join('\n') +
      `\nThis package ships prebuilt binaries in prebuilds/<platform>-<arch>/; none loads on ${process.platform}-${process.arch}. ` +
      'In a source checkout, build with `npm run build:native` (needs cmake and g++); elsewhere set CASCADESERVE_ADDON ' +
      'to a cascadeserve.node built for this platform (README: "Use it in your project").',
  );
}

/** Differences between the addon's exported enum tables and ts/contracts/enums.ts, one line each. */
export function enumMismatches(exported: unknown): string[] {
  if (typeof exported !== 'object' || exported === null) return ['it exports no enum tables (`enums`); it predates them'];
  const got = exported as Record<string, unknown>;
  const out: string[] = [];
  for (const [table, want] of Object.entries(kNativeEnumTables)) {
    const have = got[table];
    if (typeof have !== 'object' || have === null) {
      out.push(`enums.${table}: missing`);
      continue;
    }
    const h = have as Record<string, unknown>;
    for (const [name, value] of Object.entries(want)) {
      if (h[name] !== value) out.push(`enums.${table}.${name}: the addon has ${h[name] === undefined ? 'no such entry' : String(h[name])}, the contracts say ${value}`);
    }
    for (const name of Object.keys(h)) if (!(name in want)) out.push(`enums.${table}.${name}: the addon has ${String(h[name])}, the contracts have no such entry`);
  }
  return out;
}
