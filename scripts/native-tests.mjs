#!/usr/bin/env node
// Builds and runs the native engine's own tests (native/tests, no Node involved), plain or
// under sanitizers:
//   node scripts/native-tests.mjs [plain|asan|tsan ...]     (default: all three)
// `npm run test:sanitize` runs asan (AddressSanitizer + UndefinedBehaviorSanitizer, with
// float-cast-overflow) and tsan.
// Exit status is non-zero when a build fails, a test fails, or a sanitizer reports.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const kVariants = {
  plain: { dir: 'build-native-tests', sanitize: '' },
  // GCC's -fsanitize=undefined leaves out float-cast-overflow (an out-of-range double to
  // integer conversion), so it is named.
  asan: { dir: 'build-native-asan', sanitize: 'address,undefined,float-cast-overflow' },
  tsan: { dir: 'build-native-tsan', sanitize: 'thread' },
};

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env, maxBuffer: 64 << 20 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

/** Builds one variant and runs engine_test; returns {ok, summary, out}. */
export function runVariant(name) {
  const v = kVariants[name];
  if (!v) throw new Error(`unknown variant '${name}' (plain, asan, tsan)`);
  const build = join(root, v.dir);
  let r = run('cmake', ['-S', join(root, 'native', 'tests'), '-B', build, '-DCMAKE_BUILD_TYPE=' + (v.sanitize ? 'RelWithDebInfo' : 'Release'), `-DSANITIZE=${v.sanitize}`]);
  if (r.code !== 0) return { ok: false, summary: 'cmake configure failed', out: r.out };
  r = run('cmake', ['--build', build, '--target', 'engine_test', '-j', '2']);
  if (r.code !== 0) return { ok: false, summary: 'build failed', out: r.out };
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1' };
  r = run(join(build, 'engine_test'), [], env);
  const summary = /(\d+) passed, (\d+) failed/.exec(r.out)?.[0] ?? 'no summary line';
  const sanitizerReport = /(ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer)/.test(r.out);
  return { ok: r.code === 0 && !sanitizerReport && / 0 failed/.test(summary), summary, out: r.out, sanitizerReport };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(kVariants);
  let failed = false;
  for (const name of names) {
    const r = runVariant(name);
    process.stdout.write(`${name}: ${r.ok ? 'ok' : 'FAILED'} (${r.summary})\n`);
    if (!r.ok) {
      process.stdout.write(r.out.slice(-6000) + '\n');
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}
