// Which of the execution providers an ONNX Runtime library reports can cascadeserve use here?
// The library lists every provider it was compiled with (onnxruntime-node's build lists
// TensorRT, CUDA and WebGPU), but most of them live in separate provider libraries that must
// sit next to it (libonnxruntime_providers_shared and libonnxruntime_providers_<name>), and
// cascadeserve itself only selects the CPU and CUDA providers.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ProviderStatus {
  /** As ONNX Runtime reports it, e.g. "CUDAExecutionProvider". */
  name: string;
  usable: boolean;
  /** Why not (when not usable), or what else it needs at run time. */
  note?: string;
}

/** Providers built as separate libraries: provider name -> the library's <name> part. */
const kSharedLibraryProviders: Record<string, string> = {
  CUDAExecutionProvider: 'cuda',
  TensorrtExecutionProvider: 'tensorrt',
  OpenVINOExecutionProvider: 'openvino',
  DnnlExecutionProvider: 'dnnl',
  ROCMExecutionProvider: 'rocm',
  MIGraphXExecutionProvider: 'migraphx',
  CANNExecutionProvider: 'cann',
  VitisAIExecutionProvider: 'vitisai',
  QNNExecutionProvider: 'qnn',
};

/** Providers cascadeserve can select (SessionOptions.executionProvider, engine lanes). */
const kSelectable = new Set(['CPUExecutionProvider', 'CUDAExecutionProvider']);

/** A provider library's file name on this platform. */
export function providerLibraryName(part: string, platform: NodeJS.Platform = process.platform): string {
  const base = `onnxruntime_providers_${part}`;
  return platform === 'win32' ? `${base}.dll` : platform === 'darwin' ? `lib${base}.dylib` : `lib${base}.so`;
}

/**
 * The status of each provider `reported` by the library at `libraryPath`, in the library's
 * order. Provider libraries are looked for in the library's directory, where ONNX Runtime
 * loads them from.
 */
export function providerStatus(reported: readonly string[], libraryPath: string, platform: NodeJS.Platform = process.platform): ProviderStatus[] {
  const dir = dirname(libraryPath);
  return reported.map((name): ProviderStatus => {
    const part = kSharedLibraryProviders[name];
    const missing = part === undefined ? [] : [providerLibraryName('shared', platform), providerLibraryName(part, platform)].filter((f) => !existsSync(join(dir, f)));
    const missingText = missing.length > 0 ? `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not in ${dir}` : '';
    if (!kSelectable.has(name)) {
      return { name, usable: false, note: `cascadeserve runs models on the CPU or CUDA provider only${missingText ? `; also, ${missingText}` : ''}` };
    }
    if (missingText) {
      return { name, usable: false, note: `${missingText} (onnxruntime-node installs them with \`npm install --onnxruntime-node-install=cuda12\`; or point CASCADESERVE_ORT_LIBRARY at a CUDA build of ONNX Runtime)` };
    }
    return name === 'CUDAExecutionProvider' ? { name, usable: true, note: 'needs CUDA, cuDNN and a GPU when a cuda lane starts' } : { name, usable: true };
  });
}
