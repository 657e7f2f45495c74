// Resolves and opens the ONNX Runtime shared library. Default: the libonnxruntime shipped inside
// onnxruntime-node; CASCADESERVE_ORT_LIBRARY overrides it (another build, a GPU one say).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadBinding, type RawRuntime } from '../../bindings/binding.js';
import { fromNative } from '../errors.js';

export function defaultOrtLibraryPath(): string {
  const env = process.env.CASCADESERVE_ORT_LIBRARY;
  if (env) return env;
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    throw new Error(
      'cascadeserve: onnxruntime-node is not installed, and CASCADESERVE_ORT_LIBRARY is not set; ' +
        'install onnxruntime-node or point CASCADESERVE_ORT_LIBRARY at a libonnxruntime shared library',
    );
  }
  const name = process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';
  const path = join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch, name);
  if (!existsSync(path)) {
    throw new Error(`cascadeserve: onnxruntime-node ships no runtime library for ${process.platform}-${process.arch} (looked for ${path}); set CASCADESERVE_ORT_LIBRARY`);
  }
  return path;
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
