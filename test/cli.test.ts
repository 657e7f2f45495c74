// The command line as a user runs it: a child process per case, so that environment variables
// (CASCADESERVE_ORT_LIBRARY) take effect as they would for a user.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { root } from '../testkit/paths.js';

const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--version prints the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const r = cli(['--version']);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), pkg.version);
});

t.test('--help lists the commands; an unknown command exits 2 with usage', async (t) => {
  const r = cli(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /Usage: cascadeserve <command>/);
  t.match(r.stdout, /info/);
  const bad = cli(['frobnicate']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /unknown command 'frobnicate'/);
});

t.test('info names the runtime loaded by default: the library beside the addon, in a checkout onnxruntime-node\'s', async (t) => {
  const r = cli(['info']);
  t.equal(r.code, 0, r.stderr);
  const m = /ONNX Runtime 1\.\d+\.\d+ \(C API \d+\) from (\S+)/.exec(r.stdout);
  t.ok(m, r.stdout);
  const addon = /native addon: (\S+)/.exec(r.stdout);
  t.ok(addon, r.stdout);
  if (!m || !addon) return;
  t.equal(dirname(m[1]), dirname(addon[1]), 'the library sits beside the addon');
  const ortNode = join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime.so.1');
  // Linked by scripts/setup.mjs beside build/Release/, or copied into prebuilds/ by npm pack.
  t.ok(readFileSync(m[1]).equals(readFileSync(ortNode)), "it is onnxruntime-node's library");
  t.match(r.stdout, /CPUExecutionProvider/);
});

t.test('CASCADESERVE_ORT_LIBRARY overrides the runtime and bad values fail clearly', async (t) => {
  const old = join(root, 'build', 'Release', 'libfake_onnxruntime_old.so');
  let r = cli(['info'], { CASCADESERVE_ORT_LIBRARY: old });
  t.equal(r.code, 1);
  t.match(r.stderr, /ONNX Runtime 1\.10\.0 at '.*libfake_onnxruntime_old\.so' does not offer C API version 21, the version this addon was compiled for/);

  r = cli(['info'], { CASCADESERVE_ORT_LIBRARY: join(root, 'package.json') });
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot load ONNX Runtime library '.*package\.json'/);

  r = cli(['info'], { CASCADESERVE_ORT_LIBRARY: 'libm.so.6' });
  t.equal(r.code, 1);
  t.match(r.stderr, /'libm\.so\.6' is not an ONNX Runtime library: it has no OrtGetApiBase/);
});
