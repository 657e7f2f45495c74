// The enum tables shared with the addon (issue 12 item 1): the addon exports its values at
// load, bindings/binding.ts compares them with ts/contracts/enums.ts and refuses an addon that
// disagrees, with a message naming the entry. The expected numbers below are read from the C++
// headers, not from the TypeScript tables, so this test also fails if both sides drift alike.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enumMismatches, loadBinding } from '../bindings/binding.js';
import { kNativeEnumTables } from '../ts/contracts/enums.js';
import { root } from '../testkit/paths.js';

/** `enum class Name : int { kFooBar = 3, ... }` from a header, as { foo_bar: 3 }. */
function headerEnum(file: string, name: string, dir = 'native'): Record<string, number> {
  const text = readFileSync(join(root, dir, file), 'utf8');
  const body = new RegExp(`enum class ${name} : int \\{([^}]*)\\}`).exec(text)?.[1];
  if (!body) throw new Error(`no enum ${name} in ${dir}/${file}`);
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/\bk([A-Za-z0-9]+)\s*=\s*(\d+)/g)) out[m[1].replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()] = Number(m[2]);
  return out;
}

t.test('the contracts tables equal the C++ enums', async (t) => {
  t.same(kNativeEnumTables.statusCodes, headerEnum('common/status.h', 'StatusCode'));
  t.same(kNativeEnumTables.certaintyMeasures, headerEnum('engine/certainty.h', 'CertaintyMeasure'));
  t.same(kNativeEnumTables.outputKinds, headerEnum('engine/certainty.h', 'OutputKind'));
  // Engine input datatypes: native/engine/input_layout.h TensorElement, whose values are
  // ONNX's element type numbers (native/ort/tensor.h ElementType).
  const engine = headerEnum('engine/input_layout.h', 'TensorElement');
  const onnx = headerEnum('ort/tensor.h', 'ElementType');
  const byDatatype = (e: Record<string, number>) => ({ FP32: e.float32, UINT8: e.uint8, INT32: e.int32, INT64: e.int64, BOOL: e.bool, FP16: e.float16 });
  t.same(kNativeEnumTables.elementTypes, byDatatype(engine));
  t.same(kNativeEnumTables.elementTypes, byDatatype(onnx));
  // The delivered result rows' layout (bindings/engine_binding.h), camelCase in TypeScript.
  const row = headerEnum('engine_binding.h', 'ResultRowField', 'bindings');
  const camel = Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
  t.same(kNativeEnumTables.resultRowFields, camel);
});

t.test('a mismatch is named entry by entry', async (t) => {
  const copy = JSON.parse(JSON.stringify(kNativeEnumTables)) as Record<string, Record<string, number>>;
  t.same(enumMismatches(copy), [], 'equal tables pass');
  copy.statusCodes.timeout = 9;
  delete copy.certaintyMeasures.entropy;
  copy.outputKinds.softmax = 2;
  t.same(enumMismatches(copy), [
    'enums.statusCodes.timeout: the addon has 9, the contracts say 4',
    'enums.certaintyMeasures.entropy: the addon has no such entry, the contracts say 2',
    'enums.outputKinds.softmax: the addon has 2, the contracts have no such entry',
  ]);
  t.same(enumMismatches(undefined), ['it exports no enum tables (`enums`); it predates them']);
  t.same(enumMismatches({ statusCodes: kNativeEnumTables.statusCodes, outputKinds: kNativeEnumTables.outputKinds, elementTypes: kNativeEnumTables.elementTypes, resultRowFields: kNativeEnumTables.resultRowFields }), ['enums.certaintyMeasures: missing']);
});

t.test('an addon whose enums differ is refused at load with the entry named', async (t) => {
  // A stand-in addon (CommonJS) that loads but numbers one status differently. Nothing in this
  // file loads the real addon before, so the loader has no cached binding yet.
  const dir = mkdtempSync(join(tmpdir(), 'cs-enums-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'fake-addon.cjs');
  const enums = JSON.parse(JSON.stringify(kNativeEnumTables)) as Record<string, Record<string, number>>;
  enums.statusCodes.cancelled = 7;
  writeFileSync(fake, `module.exports = { enums: ${JSON.stringify(enums)} };\n`);
  const saved = process.env.CASCADESERVE_ADDON;
  process.env.CASCADESERVE_ADDON = fake;
  try {
    t.throws(() => loadBinding(), { message: /the native addon .*fake-addon\.cjs does not match ts\/contracts\/enums\.ts:\n {2}enums\.statusCodes\.cancelled: the addon has 7, the contracts say 5\nRebuild/ });
  } finally {
    if (saved === undefined) delete process.env.CASCADESERVE_ADDON;
    else process.env.CASCADESERVE_ADDON = saved;
  }
  // the real addon exports the same tables and loads
  const { binding } = loadBinding();
  t.same(binding.enums, kNativeEnumTables, 'the built addon exports the contracts tables');
});
