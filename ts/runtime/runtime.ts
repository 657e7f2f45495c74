// Resolves and opens the ONNX Runtime shared library. Default: the library beside the loaded
// addon (prebuilds/<platform>-<arch>/ of the installed package ships both; a checkout's build
// links onnxruntime-node's copy beside build/Release/, scripts/setup.mjs);
// CASCADESERVE_ORT_LIBRARY overrides it (another build, a GPU one say).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadBinding, type RawRuntime } from '../../bindings/binding.js';
import { fromNative } from '../errors.js';

const kLibraryName = process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';

export function defaultOrtLibraryPath(): string {
  const env = process.env.CASCADESERVE_ORT_LIBRARY;
  if (env) return env;
  const beside = join(dirname(loadBinding().path), kLibraryName);
  if (existsSync(beside)) return beside;
  throw new Error(
    `cascadeserve: no ONNX Runtime library found: none beside the addon (${beside}); ` +
      'set CASCADESERVE_ORT_LIBRARY to a libonnxruntime shared library (C API 21 or newer)',
  );
}

export interface RuntimeInfo {
  libraryPath: string;
  version: string;
  apiVersion: number;
  providers: string[];
  addonPath: string;
}

const opened = new Map<string, RawRuntime>();

/** Opens (once per thread and path) the runtime library. */
export function openRuntime(libraryPath = defaultOrtLibraryPath()): RawRuntime {
  let rt = opened.get(libraryPath);
  if (!rt) {
    const { binding } = loadBinding();
    try {
      rt = new binding.RuntimeHandle(libraryPath);
    } catch (err) {
      throw fromNative(err);
    }
    opened.set(libraryPath, rt);
  }
  return rt;
}

export function runtimeInfo(libraryPath?: string): RuntimeInfo {
  const rt = openRuntime(libraryPath);
  return {
    libraryPath: rt.libraryPath,
    version: rt.version.runtime,
    apiVersion: rt.version.apiVersion,
    providers: rt.providers,
    addonPath: loadBinding().path,
  };
}
