// The native engine core's own C++ tests (native/tests), built and run without Node: plain,
// under AddressSanitizer + UndefinedBehaviorSanitizer, and under ThreadSanitizer.
import t from 'tap';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from '../testkit/paths.js';

interface VariantResult { ok: boolean; summary: string; out: string; sanitizerReport?: boolean }
const { runVariant } = (await import(pathToFileURL(join(root, 'scripts', 'native-tests.mjs')).href)) as { runVariant: (n: string) => VariantResult };

for (const variant of ['plain', 'asan', 'tsan']) {
  t.test(`engine_test (${variant})`, async (t) => {
    const r = runVariant(variant);
    t.ok(r.ok, `${variant}: ${r.summary}${r.ok ? '' : '\n' + r.out.slice(-4000)}`);
    t.notOk(r.sanitizerReport, 'no sanitizer report');
  });
}
