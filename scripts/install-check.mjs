#!/usr/bin/env node
// The package's `install` step. It builds nothing and downloads nothing: it checks that this
// platform has a prebuilt addon and ONNX Runtime library (prebuilds/<platform>-<arch>/) and
// that they load, and otherwise says what to do. npm shows a dependency's install output only
// when the step fails, so a missing or broken prebuild fails the install with that message.
// In a source checkout it does nothing: there npm's `prepare` step builds (scripts/setup.mjs).
//
// Environment: CASCADESERVE_ADDON=/path/cascadeserve.node and
//              CASCADESERVE_ORT_LIBRARY=/path/libonnxruntime.so replace the prebuilt files.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (existsSync(join(root, 'native')) && existsSync(join(root, 'CMakeLists.txt'))) process.exit(0);

const platform = `${process.platform}-${process.arch}`;
const prebuildDir = join(root, 'prebuilds', platform);
const libraryName = process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';
const addonPath = process.env.CASCADESERVE_ADDON || join(prebuildDir, 'cascadeserve.node');
const libraryPath = process.env.CASCADESERVE_ORT_LIBRARY || join(prebuildDir, libraryName);

function problem() {
  // The prebuilt files are linked against glibc; musl systems (Alpine) cannot load them.
  const glibc = process.platform !== 'linux' || Boolean(process.report?.getReport()?.header?.glibcVersionRuntime);
  if (!process.env.CASCADESERVE_ADDON && !glibc) return `the prebuilt binaries need glibc, and this system's C library is not glibc`;
  const missing = [addonPath, libraryPath].filter((p) => !existsSync(p));
  if (missing.length > 0) return `not found: ${missing.join(', ')}`;
  try {
    const addon = createRequire(import.meta.url)(addonPath);
    new addon.RuntimeHandle(libraryPath);
  } catch (err) {
    return `the addon ${addonPath} with ONNX Runtime ${libraryPath} does not load: ${err.message}`;
  }
  return null;
}

const why = problem();
if (why === null) process.exit(0);

const shipped = existsSync(join(root, 'prebuilds')) ? readdirSync(join(root, 'prebuilds')).sort().join(', ') : 'none';
process.stderr.write(
  `\ncascadeserve: no usable prebuilt binary for ${platform} (${why}).\n` +
    `This package ships prebuilt binaries for: ${shipped || 'none'}.\n` +
    `Either build them from a checkout of cascadeserve's source (needs Node.js 20+, cmake, make, g++):\n` +
    `  npm install        # builds the addon; ONNX Runtime's C headers from CASCADESERVE_ORT_INCLUDE or Debian's libonnxruntime-dev\n` +
    `  npm pack           # writes cascadeserve-<version>.tgz with prebuilds/${platform}/\n` +
    `  then, in your project: npm install /path/to/cascadeserve-<version>.tgz\n` +
    `or point the install at files you built or have:\n` +
    `  CASCADESERVE_ADDON=/path/cascadeserve.node CASCADESERVE_ORT_LIBRARY=/path/${libraryName} npm install cascadeserve\n` +
    `  (set both variables again when running cascadeserve)\n\n`,
);
process.exit(1);
