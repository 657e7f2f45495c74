#!/usr/bin/env node
// npm's `prepare` step of a source checkout (it runs on `npm install` there, not in a user's
// install of the package, which does not ship this file): finds (or fetches) ONNX Runtime's C
// headers, builds the native addon when its sources changed, and compiles the TypeScript. Each
// step is skipped when its output is up to date. Without native/ sources it does nothing.
//
//   node scripts/setup.mjs [--force] [--native-only]
//
// Environment: CASCADESERVE_ORT_INCLUDE  directory holding onnxruntime_c_api.h
//              CASCADESERVE_SKIP_BUILD=1  skip the native build (use a prebuilt binary)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const force = args.has('--force');
const nativeOnly = args.has('--native-only');
const kHeaderPackage = 'libonnxruntime-dev';
const kHeaderSuite = 'trixie'; // the first Debian release that ships the ONNX Runtime headers
const kAddonPath = join(root, 'build', 'Release', 'cascadeserve.node');

function log(msg) {
  process.stdout.write(`[cascadeserve setup] ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`\n[cascadeserve setup] ERROR: ${msg}\n\n`);
  process.exit(1);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) return { ok: false, message: `${cmd}: ${r.error.message}` };
  return { ok: r.status === 0, message: `${cmd} ${argv.join(' ')} exited with ${r.status}` };
}

function hasHeader(dir) {
  return Boolean(dir) && existsSync(join(dir, 'onnxruntime_c_api.h'));
}

// The configured Debian mirror, read from the system's apt sources (never written here).
function debianMirror() {
  const candidates = [];
  const d = '/etc/apt/sources.list.d';
  if (existsSync(d)) {
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.sources') && !f.endsWith('.list')) continue;
      candidates.push(readFileSync(join(d, f), 'utf8'));
    }
  }
  if (existsSync('/etc/apt/sources.list')) candidates.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  for (const text of candidates) {
    for (const line of text.split('\n')) {
      let m = /^\s*URIs:\s*(\S+)/.exec(line) ?? /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/.exec(line);
      if (m && /\/debian\/?$/.test(m[1])) return m[1].replace(/\/$/, '');
    }
  }
  return null;
}

// Downloads Debian's libonnxruntime-dev .deb into .cache/ and unpacks only its files there;
// nothing is installed into the system, so this is safe on Debian 12 as on Debian 13.
function fetchDebianHeaders(cacheDir) {
  const mirror = debianMirror();
  if (!mirror) return `no Debian mirror found in /etc/apt/sources.list{,.d}`;
  const work = join(cacheDir, 'apt');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(work, 'archives', 'partial'), { recursive: true });
  writeFileSync(join(work, 'sources.list'), `deb ${mirror} ${kHeaderSuite} main\n`);
  const aptOpts = [
    `-oDir::Etc::SourceList=${join(work, 'sources.list')}`,
    '-oDir::Etc::SourceParts=/dev/null',
    `-oDir::State::Lists=${join(work, 'lists')}`,
    `-oDir::Cache=${join(work, 'cache')}`,
    '-oAPT::Sandbox::User=root',
    '-q',
  ];
  mkdirSync(join(work, 'cache'), { recursive: true });
  log(`fetching ${kHeaderPackage} (${kHeaderSuite}) from the configured Debian mirror for its headers`);
  let r = run('apt-get', [...aptOpts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!r.ok) return `apt-get update for ${kHeaderSuite} failed (${r.message})`;
  r = run('apt-get', [...aptOpts, 'download', kHeaderPackage], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!r.ok) return `apt-get download ${kHeaderPackage} failed (${r.message})`;
  const deb = readdirSync(work).find((f) => f.startsWith(kHeaderPackage) && f.endsWith('.deb'));
  if (!deb) return `apt-get download left no ${kHeaderPackage} .deb`;
  const unpack = join(cacheDir, 'onnxruntime-dev');
  rmSync(unpack, { recursive: true, force: true });
  r = run('dpkg-deb', ['-x', join(work, deb), unpack]);
  if (!r.ok) return `dpkg-deb -x failed (${r.message})`;
  rmSync(work, { recursive: true, force: true });
  return null;
}

function findOrFetchHeaders() {
  const fromEnv = process.env.CASCADESERVE_ORT_INCLUDE;
  if (fromEnv) {
    if (hasHeader(fromEnv)) return fromEnv;
    fail(`CASCADESERVE_ORT_INCLUDE=${fromEnv} holds no onnxruntime_c_api.h`);
  }
  const cacheDir = join(root, '.cache');
  const cached = join(cacheDir, 'onnxruntime-dev', 'usr', 'include', 'onnxruntime');
  for (const dir of ['/usr/include/onnxruntime', '/usr/local/include/onnxruntime', cached]) {
    if (hasHeader(dir)) return dir;
  }
  const why = fetchDebianHeaders(cacheDir);
  if (!why && hasHeader(cached)) return cached;
  fail(
    `ONNX Runtime's C headers (onnxruntime_c_api.h) were not found and could not be fetched: ${why ?? 'unknown reason'}.\n` +
      `Provide them in one of these ways:\n` +
      `  - Debian 13: apt-get install ${kHeaderPackage}\n` +
      `  - any system: set CASCADESERVE_ORT_INCLUDE to a directory holding onnxruntime_c_api.h (C API 21 or newer)\n` +
      `  - or use a prebuilt binary: CASCADESERVE_SKIP_BUILD=1 npm install`,
  );
}

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const f of readdirSync(p)) visit(join(p, f));
    } else if (/\.(cc|h|hpp|cpp|txt|cmake)$/.test(p)) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  paths.forEach(visit);
  return newest;
}

function buildNative() {
  if (process.env.CASCADESERVE_SKIP_BUILD === '1') {
    log('CASCADESERVE_SKIP_BUILD=1: native build skipped');
    return;
  }
  const sources = newestMtime([join(root, 'native'), join(root, 'bindings'), join(root, 'CMakeLists.txt')]);
  if (!force && existsSync(kAddonPath) && statSync(kAddonPath).mtimeMs >= sources) {
    log('native addon is up to date');
    return;
  }
  const include = findOrFetchHeaders();
  log(`building the native addon (ONNX Runtime headers: ${include})`);
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  if (!existsSync(cmakeJs)) fail('cmake-js is missing: run `npm install` (it is a devDependency)');
  const jobs = String(Math.max(1, Math.min(os.cpus().length, 4)));
  const r = run(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn', '--parallel', jobs, `--CDORT_INCLUDE_DIR=${include}`]);
  if (!r.ok) {
    fail(`the native build failed (${r.message}). It needs cmake (3.20+), make and a C++17 compiler: ` +
      `apt-get install cmake make g++`);
  }
  // Marks the addon as built from the current sources even when nothing needed relinking.
  const now = new Date();
  if (existsSync(kAddonPath)) utimesSync(kAddonPath, now, now);
}

function buildTypeScript() {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) fail('typescript is missing: run `npm install`');
  log('compiling TypeScript (incremental)');
  const r = run(process.execPath, [tsc, '-b']);
  if (!r.ok) fail(`TypeScript compilation failed (${r.message})`);
}

const isSourceCheckout = existsSync(join(root, 'native')) && existsSync(join(root, 'CMakeLists.txt'));
if (!isSourceCheckout) {
  // Not a source checkout: nothing to build.
  process.exit(0);
}
// The addon opens the ONNX Runtime library that sits beside it (ts/runtime/runtime.ts), as in the
// packed prebuilds/; a checkout links onnxruntime-node's copy (a devDependency) beside its build.
function linkRuntimeLibrary() {
  if (!existsSync(kAddonPath)) return;
  const name = process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';
  const target = join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch, name);
  const link = join(dirname(kAddonPath), name);
  if (!existsSync(target)) fail(`onnxruntime-node ships no ${name} for ${process.platform}-${process.arch} (looked for ${target}): run \`npm install\`, or set CASCADESERVE_ORT_LIBRARY`);
  rmSync(link, { force: true });
  symlinkSync(target, link);
}

buildNative();
linkRuntimeLibrary();
if (!nativeOnly) buildTypeScript();
