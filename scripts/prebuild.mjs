#!/usr/bin/env node
// `npm run prebuild`, and npm's `prepack` step (so `npm pack` and `npm publish` ship it): builds
// the addon if needed and fills prebuilds/<platform>-<arch>/ with what the installed package
// loads: the addon, ONNX Runtime's shared library (from onnxruntime-node, a devDependency) and
// ONNX Runtime's licence and third-party notices (third_party/onnxruntime/). The addon is
// Node-API (ABI-stable), so one binary serves every Node.js from 20 on.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function fail(msg) {
  process.stderr.write(`prebuild: ${msg}\n`);
  process.exit(1);
}

const r = spawnSync(process.execPath, [join(root, 'scripts', 'setup.mjs'), '--native-only'], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
const builtAddon = join(root, 'build', 'Release', 'cascadeserve.node');
if (!existsSync(builtAddon)) fail(`${builtAddon} is missing after the build`);

const libraryName = process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';
let ortNodeDir;
try {
  ortNodeDir = dirname(require.resolve('onnxruntime-node/package.json'));
} catch {
  fail('onnxruntime-node (a devDependency, the source of the shipped ONNX Runtime library) is not installed: run `npm install`');
}
const library = join(ortNodeDir, 'bin', 'napi-v6', process.platform, process.arch, libraryName);
if (!existsSync(library)) fail(`onnxruntime-node ships no ${libraryName} for ${process.platform}-${process.arch} (looked for ${library})`);

// The notices must be those of the library shipped: compare the version the library reports.
const noticesDir = join(root, 'third_party', 'onnxruntime');
const noticesVersion = readFileSync(join(noticesDir, 'VERSION'), 'utf8').trim();
let libraryVersion;
try {
  libraryVersion = new (require(builtAddon).RuntimeHandle)(library).version.runtime;
} catch (err) {
  fail(`the built addon cannot open ${library}: ${err.message}`);
}
if (libraryVersion !== noticesVersion) {
  fail(`${library} is ONNX Runtime ${libraryVersion}, but third_party/onnxruntime/ holds the licence and notices of ${noticesVersion}; ` +
    `replace them with those of ${libraryVersion} (see third_party/onnxruntime/README.md)`);
}

const dest = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
const copy = (from, name) => {
  const to = join(dest, name);
  copyFileSync(from, to);
  // Keeps the source's mtime: the loader (bindings/binding.ts) prefers a local build that is at
  // least as new as the prebuilt addon, so a checkout keeps loading its own build.
  const st = statSync(from);
  utimesSync(to, st.atime, st.mtime);
};
copy(builtAddon, 'cascadeserve.node');
copy(library, libraryName);
copy(join(noticesDir, 'LICENSE'), 'ONNXRUNTIME-LICENSE');
copy(join(noticesDir, 'ThirdPartyNotices.txt'), 'ONNXRUNTIME-ThirdPartyNotices.txt');
process.stdout.write(`prebuild: ${dest} (addon, ONNX Runtime ${libraryVersion} library, its licence and notices)\n`);
