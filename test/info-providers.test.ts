// `cascadeserve info` lists the execution providers usable here and says why each other one
// the ONNX Runtime library reports is not (#18 item 10): onnxruntime-node's library reports
// TensorRT, CUDA and WebGPU but ships none of their provider libraries.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runtimeInfo } from '../ts/index.js';
import { providerStatus } from '../ts/runtime/providers.js';
import { root } from '../testkit/paths.js';

t.test('info: usable providers, and a reason for each other one', async (t) => {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'ts', 'cli', 'bin.js'), 'info'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const info = runtimeInfo();
  const dir = dirname(info.libraryPath);
  const usableLine = /^execution providers usable here: (.*)$/m.exec(r.stdout)?.[1] ?? '';
  t.match(usableLine, /^CPUExecutionProvider\b/, 'the CPU provider is usable');
  const cudaLibs = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].filter((f) => !existsSync(join(dir, f)));
  for (const name of info.providers.filter((p) => p !== 'CPUExecutionProvider')) {
    const line = new RegExp(`^  not usable: ${name}: (.+)$`, 'm').exec(r.stdout)?.[1];
    if (name === 'CUDAExecutionProvider' && process.platform === 'linux' && cudaLibs.length > 0) {
      t.ok(line, 'CUDA is listed as not usable');
      t.notMatch(usableLine, /CUDA/);
      for (const f of cudaLibs) t.match(line, f, `names the missing ${f}`);
      t.match(line, dir, 'and where it looked');
    } else if (name !== 'CUDAExecutionProvider') {
      t.match(line, /runs models on the CPU or CUDA provider only/, `${name}: not selectable by cascadeserve`);
    }
  }
});

t.test('providerStatus: provider libraries next to the runtime library decide CUDA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-providers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lib = join(dir, 'libonnxruntime.so.1');
  writeFileSync(lib, '');
  const reported = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'];
  const status = (names = reported) => Object.fromEntries(providerStatus(names, lib, 'linux').map((p) => [p.name, p]));

  let s = status();
  t.equal(s.CPUExecutionProvider.usable, true);
  t.equal(s.CUDAExecutionProvider.usable, false);
  t.equal(s.CUDAExecutionProvider.note?.startsWith(`libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so are not in ${dir}`), true, String(s.CUDAExecutionProvider.note));

  writeFileSync(join(dir, 'libonnxruntime_providers_shared.so'), '');
  s = status();
  t.equal(s.CUDAExecutionProvider.usable, false);
  t.match(s.CUDAExecutionProvider.note, /^libonnxruntime_providers_cuda\.so is not in /, 'only the missing one named');

  writeFileSync(join(dir, 'libonnxruntime_providers_cuda.so'), '');
  writeFileSync(join(dir, 'libonnxruntime_providers_tensorrt.so'), '');
  s = status();
  t.equal(s.CUDAExecutionProvider.usable, true, 'both libraries present: usable');
  t.equal(s.TensorrtExecutionProvider.usable, false, 'TensorRT: present but not a provider cascadeserve selects');
  t.equal(s.TensorrtExecutionProvider.note, 'cascadeserve runs models on the CPU or CUDA provider only');
  t.same(providerStatus(reported, lib, 'linux').map((p) => p.name), reported, "in the library's order");
});
