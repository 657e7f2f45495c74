// Manifest version 2 (several typed inputs, a dynamic axis, .npy data split by a seed): what
// it parses to, that version 1 still parses with the same `inputs` view, that every invalid
// field is named in the error together with the file, and loadItems on a small written data set.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifest, ManifestError, parseManifest } from '../ts/contracts/manifest.js';
import { defaultManifestPath } from '../ts/contracts/package-root.js';
import { itemAt, loadItems, maskLengths, mulberry32, splitIndices, ItemsError } from '../ts/contracts/items.js';
import { encodeNpy } from '../ts/contracts/npy.js';

const kFile = '/somewhere/cascade.json';

function v2(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    name: 'tweets',
    version: 2,
    description: 'two token models',
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [-1], padValue: 0 },
      { name: 'attention_mask', datatype: 'INT64', shape: [-1], padValue: 0 },
    ],
    maskInput: 'attention_mask',
    classNames: ['neg', 'pos'],
    data: { format: 'npy', dir: 'data', split: { seed: 1, validationFraction: 0.5 } },
    models: [
      { name: 'tiny', file: 'tiny.onnx', output: 'logits', outputKind: 'logits', padInvariant: true, params: 1234, mflopsPerItem: 0.1 },
      { name: 'big', file: 'big.onnx', output: 'probs', outputKind: 'probabilities', padInvariant: false },
    ],
    ...overrides,
  };
}

function parse(json: unknown) {
  return parseManifest(JSON.stringify(json), kFile, { checkFiles: false });
}

function errorsOf(json: unknown): string[] {
  try {
    parse(json);
  } catch (e) {
    if (e instanceof ManifestError) return e.errors;
    throw e;
  }
  return [];
}

t.test('a version 2 manifest parses to inputs, mask, per-model outputs and the npy data', async (t) => {
  const m = parse(v2());
  t.equal(m.version, 2);
  t.same(m.inputs, [
    { name: 'input_ids', datatype: 'INT64', shape: [-1], padValue: 0, dynamicAxis: 0 },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1], padValue: 0, dynamicAxis: 0 },
  ]);
  t.equal(m.maskInput, 'attention_mask');
  t.equal(m.output.classes, 2, 'classes from classNames');
  t.same(m.models.map((x) => [x.name, x.file, x.inputs, x.input, x.output, x.outputKind, x.padInvariant]), [
    ['tiny', '/somewhere/tiny.onnx', ['input_ids', 'attention_mask'], 'input_ids', 'logits', 'logits', true],
    ['big', '/somewhere/big.onnx', ['input_ids', 'attention_mask'], 'input_ids', 'probs', 'probabilities', false],
  ]);
  t.equal(m.models[0].mflopsPerItem, 0.1);
  t.equal(m.models[0].mflopsPerImage, 0.1, 'the version 1 name carries the same value');
  t.equal(m.models[1].params, 0, 'params default to 0');
  t.same(m.data.npy, {
    dir: '/somewhere/data',
    labels: '/somewhere/data/labels.npy',
    inputFiles: { input_ids: '/somewhere/data/input_ids.npy', attention_mask: '/somewhere/data/attention_mask.npy' },
    lengths: null,
    split: { seed: 1, validationFraction: 0.5 },
  });
  const sub = parse(v2({ models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', inputs: ['attention_mask'] }] }));
  t.same(sub.models[0].inputs, ['attention_mask'], 'a model may take a subset of the inputs');
  const fixed = parse(v2({ inputs: [{ name: 'x', datatype: 'FP16', shape: [3, 4] }], maskInput: undefined }));
  t.same(fixed.inputs[0], { name: 'x', datatype: 'FP16', shape: [3, 4], padValue: 0, dynamicAxis: null });
  t.equal(fixed.maskInput, null);
});

t.test('a model\'s maxLength parses; without one, none', async (t) => {
  const m = parse(v2({ models: [{ name: 'tiny', file: 'tiny.onnx', output: 'logits', outputKind: 'logits' }, { name: 'big', file: 'big.onnx', output: 'probs', outputKind: 'probabilities', maxLength: 512 }] }));
  t.same(m.models.map((x) => x.maxLength), [undefined, 512]);
});

t.test('an integer input\'s range parses; without one, none', async (t) => {
  const m = parse(v2({ inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1], padValue: 0, range: { min: 0, max: 11 } }, { name: 'attention_mask', datatype: 'INT64', shape: [-1], padValue: 0 }] }));
  t.same(m.inputs[0].range, { min: 0, max: 11 });
  t.notOk('range' in m.inputs[1], 'no range: any value of the datatype');
  const fixed = parse(v2({ inputs: [{ name: 'ids', datatype: 'UINT8', shape: [4], range: { min: 3, max: 255 } }], maskInput: undefined }));
  t.same(fixed.inputs[0].range, { min: 3, max: 255 }, 'a fixed-shape input is not padded: its pad value need not be in range');
});

t.test('version 1 (the zoo) still loads, with the same inputs view', async (t) => {
  const m = await loadManifest(defaultManifestPath());
  t.equal(m.version, 1);
  t.same(m.inputs, [{ name: 'input', datatype: 'FP32', shape: [1, 28, 28], padValue: 0, dynamicAxis: null, preprocessing: 'pixel/255' }]);
  t.equal(m.maskInput, null);
  t.same(Object.keys(m.data).sort(), ['heldout', 'validation'], 'version 1 data: the two files only');
  for (const model of m.models) {
    t.same(model.inputs, ['input'], `${model.name}: inputs`);
    t.equal(model.padInvariant, true);
    t.equal(model.mflopsPerItem, model.mflopsPerImage);
  }
  const items = loadItems(m, 'validation');
  t.equal(items.tensors.length, 1);
  t.same(items.tensors[0].itemShape, [1, 28, 28]);
  t.equal(items.lengths, null);
  t.equal(items.tensors[0].data.length, items.count * 784);
  t.ok(items.count > 0 && items.labels.every((l) => l >= 0 && l < 10));
});

t.test('every invalid field is named, with the file', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['version', { version: 3 }, /^version: expected 1 or 2, got number 3/],
    ['inputs missing', { inputs: undefined }, /^inputs: expected a non-empty array/],
    ['datatype', { inputs: [{ name: 'a', datatype: 'INT8', shape: [-1] }] }, /^inputs\[0\]\.datatype: expected one of FP32, FP16, INT64, INT32, UINT8, BOOL, got "INT8"/],
    ['two dynamic axes', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1, -1] }], maskInput: undefined }, /^inputs\[0\]\.shape\[1\]: a second dynamic axis/],
    ['dynamic axes differ', { inputs: [{ name: 'a', datatype: 'FP32', shape: [-1, 4] }, { name: 'b', datatype: 'FP32', shape: [4, -1] }], maskInput: undefined }, /^inputs\[1\]\.shape: dynamic axis at index 1, but inputs\[0\]\.shape has it at index 0/],
    ['zero dimension', { inputs: [{ name: 'a', datatype: 'FP32', shape: [0] }], maskInput: undefined }, /^inputs\[0\]\.shape\[0\]: expected an integer >= 1, got number 0/],
    ['duplicate input', { inputs: [{ name: 'a', datatype: 'FP32', shape: [2] }, { name: 'a', datatype: 'FP32', shape: [2] }], maskInput: undefined }, /^inputs\[1\]\.name: duplicate input name "a"/],
    ['pad value', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1], padValue: 'zero' }], maskInput: undefined }, /^inputs\[0\]\.padValue: expected a number/],
    ['fractional integer pad', { inputs: [{ name: 'a', datatype: 'INT32', shape: [-1], padValue: 0.5 }], maskInput: undefined }, /^inputs\[0\]\.padValue: expected an integer for INT32/],
    ['range not an object', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1], range: [0, 11] }], maskInput: undefined }, /^inputs\[0\]\.range: expected an object, got an array/],
    ['range on a float input', { inputs: [{ name: 'a', datatype: 'FP32', shape: [-1], range: { min: 0, max: 1 } }], maskInput: undefined }, /^inputs\[0\]\.range: input is FP32; a range applies to INT64, INT32, UINT8 inputs only/],
    ['range min missing', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1], range: { max: 11 } }], maskInput: undefined }, /^inputs\[0\]\.range\.min: expected an integer in \[-9007199254740991, 9007199254740991\] \(INT64\), got nothing/],
    ['range max fractional', { inputs: [{ name: 'a', datatype: 'INT32', shape: [-1], range: { min: 0, max: 11.5 } }], maskInput: undefined }, /^inputs\[0\]\.range\.max: expected an integer in \[-2147483648, 2147483647\] \(INT32\), got number 11\.5/],
    ['range beyond UINT8', { inputs: [{ name: 'a', datatype: 'UINT8', shape: [-1], range: { min: 0, max: 300 } }], maskInput: undefined }, /^inputs\[0\]\.range\.max: expected an integer in \[0, 255\] \(UINT8\), got number 300/],
    ['range min above max', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1], range: { min: 12, max: 11 } }], maskInput: undefined }, /^inputs\[0\]\.range: min 12 is above max 11/],
    ['pad outside range', { inputs: [{ name: 'a', datatype: 'INT64', shape: [-1], padValue: 0, range: { min: 1, max: 11 } }], maskInput: undefined }, /^inputs\[0\]\.padValue: 0 is outside inputs\[0\]\.range \[1, 11\]; the engine pads items with it/],
    ['mask unknown', { maskInput: 'mask' }, /^maskInput: names no input/],
    ['mask float', { inputs: [{ name: 'm', datatype: 'FP32', shape: [-1] }], maskInput: 'm' }, /^maskInput: input "m" is FP32/],
    ['mask fixed', { inputs: [{ name: 'm', datatype: 'INT64', shape: [8] }], maskInput: 'm' }, /^maskInput: input "m" has no dynamic axis/],
    ['v1 field', { input: { name: 'x' } }, /^input: not a version 2 field/],
    ['one class', { classNames: ['only'] }, /^classNames: expected at least 2 classes, got 1/],
    ['data format', { data: { format: 'csv', split: { seed: 1, validationFraction: 0.5 } } }, /^data\.format: expected "npy", got "csv"/],
    ['split fraction', { data: { format: 'npy', split: { seed: 1, validationFraction: 1.5 } } }, /^data\.split\.validationFraction: expected a number in \[0, 1\], got number 1\.5/],
    ['split fraction 0', { data: { format: 'npy', split: { seed: 1, validationFraction: 0 } } }, /^data\.split\.validationFraction: expected a number > 0/],
    ['split seed', { data: { format: 'npy', split: { seed: -1, validationFraction: 0.5 } } }, /^data\.split\.seed: expected an integer >= 0/],
    ['split missing', { data: { format: 'npy' } }, /^data\.split: expected an object, got nothing/],
    ['model output', { models: [{ name: 'a', file: 'a.onnx', outputKind: 'logits' }] }, /^models\[0\]\.output: expected a non-empty string/],
    ['model kind', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'softmax' }] }, /^models\[0\]\.outputKind: expected one of "logits", "probabilities", "binary_logit", "binary_probability", got "softmax"/],
    ['binary score, three classes', { classNames: ['a', 'b', 'c'], models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'binary_logit' }] }, /^models\[0\]\.outputKind: "binary_logit" is one score column of a binary classifier, but the cascade has 3 classes/],
    ['model inputs', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', inputs: ['ids'] }] }, /^models\[0\]\.inputs\[0\]: names no manifest input/],
    ['pad invariant', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', padInvariant: 'yes' }] }, /^models\[0\]\.padInvariant: expected true or false, got "yes"/],
    ['max length zero', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', maxLength: 0 }] }, /^models\[0\]\.maxLength: expected an integer >= 1, got number 0/],
    ['max length fractional', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', maxLength: 7.5 }] }, /^models\[0\]\.maxLength: expected an integer >= 1, got number 7\.5/],
    ['max length, fixed shapes', { inputs: [{ name: 'x', datatype: 'FP32', shape: [4] }], maskInput: undefined, models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', maxLength: 8 }] }, /^models\[0\]\.maxLength: the model takes no input with a dynamic axis/],
    ['model v1 input', { models: [{ name: 'a', file: 'a.onnx', output: 'y', outputKind: 'logits', input: 'x' }] }, /^models\[0\]\.input: not a version 2 field/],
    ['no models', { models: [] }, /^models: expected a non-empty array/],
  ];
  for (const [what, over, re] of cases) {
    const errors = errorsOf(v2(over));
    t.ok(errors.length > 0, `${what}: refused`);
    t.match(errors[0] ?? '', re, `${what}: ${errors[0]}`);
    t.match(errors[0] ?? '', /\(in \/somewhere\/cascade\.json\)$/, `${what}: names the file`);
  }
  const many = errorsOf(v2({ version: 2, name: '', models: [{ name: 'a' }] }));
  t.ok(many.length >= 3, 'all problems are listed at once');
});

t.test('checkFiles: missing data folder and files are named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-mv2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cascade.json');
  writeFileSync(file, JSON.stringify(v2()));
  const err = await loadManifest(file).catch((e: unknown) => e);
  t.type(err, ManifestError);
  const text = (err as ManifestError).errors.join('\n');
  t.match(text, /models\[0\]\.file: .*tiny\.onnx does not exist/);
  t.match(text, /data\.dir: .*data is not a folder/);
  t.match(text, /labels\.npy does not exist/);
  t.match(text, /input_ids\.npy does not exist/);
});

t.test('the seeded split: documented algorithm, disjoint, complete, reproducible', async (t) => {
  // mulberry32's first outputs for seed 1, computed by hand from its definition.
  const r = mulberry32(1);
  const first = r();
  t.ok(first >= 0 && first < 1);
  t.equal(mulberry32(1)(), first, 'same seed, same stream');
  t.not(mulberry32(2)(), first, 'another seed, another stream');
  const { validation, heldout } = splitIndices(101, 7, 0.3);
  t.equal(validation.length, 30, 'round(101 * 0.3)');
  t.equal(heldout.length, 71);
  const all = [...validation, ...heldout].sort((a, b) => a - b);
  t.same(all, Array.from({ length: 101 }, (_, i) => i), 'every item once');
  t.same([...validation], [...validation].sort((a, b) => a - b), 'ascending');
  t.same(splitIndices(101, 7, 0.3), { validation, heldout }, 'reproducible');
  t.notSame([...splitIndices(101, 8, 0.3).validation], [...validation], 'the seed matters');
  // An independent reimplementation of the documented rule.
  const order = Array.from({ length: 101 }, (_, i) => i);
  const u = mulberry32(7);
  for (let i = 100; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  t.same([...validation], order.slice(0, 30).sort((a, b) => a - b), 'as documented');
  t.equal(splitIndices(3, 1, 0.01).validation.length, 1, 'at least one validation item');
});

t.test('loadItems on npy data: split, lengths from the mask or lengths.npy, errors name the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-items-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'data'));
  for (const f of ['tiny.onnx', 'big.onnx']) writeFileSync(join(dir, f), '');
  const n = 10;
  const L = 5;
  const ids = new BigInt64Array(n * L);
  const mask = new BigInt64Array(n * L);
  const lens = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1];
  for (let i = 0; i < n; i++) for (let p = 0; p < lens[i]; p++) {
    ids[i * L + p] = BigInt(100 * i + p + 1);
    mask[i * L + p] = 1n;
  }
  const labels = BigInt64Array.from(lens.map((_, i) => BigInt(i % 2)));
  const save = (name: string, a: Parameters<typeof encodeNpy>[0]) => writeFileSync(join(dir, 'data', name), encodeNpy(a));
  save('input_ids.npy', { descr: '<i8', shape: [n, L], data: ids });
  save('attention_mask.npy', { descr: '<i8', shape: [n, L], data: mask });
  save('labels.npy', { descr: '<i8', shape: [n], data: labels });
  const file = join(dir, 'cascade.json');
  writeFileSync(file, JSON.stringify(v2({ data: { format: 'npy', dir: 'data', split: { seed: 3, validationFraction: 0.4 } } })));
  const m = await loadManifest(file);
  const parts = splitIndices(n, 3, 0.4);
  const val = loadItems(m, 'validation');
  const ho = loadItems(m, 'heldout');
  t.equal(val.count, 4);
  t.equal(ho.count, 6);
  t.same([...val.indices], [...parts.validation]);
  t.same([...ho.indices], [...parts.heldout]);
  t.same([...val.lengths!], [...parts.validation].map((i) => lens[i]), 'lengths from the mask');
  t.same([...val.labels], [...parts.validation].map((i) => i % 2));
  t.same(val.tensors.map((x) => [x.name, x.datatype, x.itemShape]), [['input_ids', 'INT64', [L]], ['attention_mask', 'INT64', [L]]]);
  const k = parts.validation[1];
  t.equal(val.tensors[0].data[L + 0], BigInt(100 * k + 1), 'item data copied from its row');
  const one = itemAt(val, 1, m.inputs);
  t.same(one.map((x) => [x.name, x.datatype, x.shape]), [['input_ids', 'INT64', [lens[k]]], ['attention_mask', 'INT64', [lens[k]]]], 'itemAt: cut to its length');
  t.same([...one[0].data], Array.from({ length: lens[k] }, (_, p) => BigInt(100 * k + p + 1)));
  t.same([...one[1].data], Array.from({ length: lens[k] }, () => 1n));
  t.throws(() => itemAt(val, 4, m.inputs), RangeError);

  save('lengths.npy', { descr: '<i4', shape: [n], data: Int32Array.from(lens.map(() => 5)) });
  writeFileSync(file, JSON.stringify(v2({ data: { format: 'npy', dir: 'data', lengths: 'lengths.npy', split: { seed: 3, validationFraction: 0.4 } } })));
  t.same([...loadItems(await loadManifest(file), 'heldout').lengths!], [5, 5, 5, 5, 5, 5], 'lengths.npy wins over the mask');

  writeFileSync(file, JSON.stringify(v2()));
  save('labels.npy', { descr: '<i8', shape: [n], data: BigInt64Array.from(lens.map((_, i) => BigInt(i === 6 ? 2 : 0))) });
  t.throws(() => loadItems(m, 'validation'), { name: 'ItemsError', message: /labels\.npy: labels\[6\] = 2 is out of range: expected a class id from 0 to 1/ });
  save('labels.npy', { descr: '<f4', shape: [n], data: new Float32Array(n) });
  t.throws(() => loadItems(m, 'validation'), { message: /labels\.npy: labels: expected integer class ids/ });
  save('labels.npy', { descr: '<i8', shape: [n], data: labels });
  save('input_ids.npy', { descr: '<i4', shape: [n, L], data: new Int32Array(n * L) });
  t.throws(() => loadItems(m, 'validation'), { message: /input_ids\.npy: dtype: input "input_ids" is INT64, the file holds '<i4' \(INT32\)/ });
  save('input_ids.npy', { descr: '<i8', shape: [n - 1, L], data: new BigInt64Array((n - 1) * L) });
  t.throws(() => loadItems(m, 'validation'), { message: /input_ids\.npy: shape\[0\]: 9 items, but .*labels\.npy has 10 labels/ });
  save('input_ids.npy', { descr: '<i8', shape: [n, L + 1], data: new BigInt64Array(n * (L + 1)) });
  t.throws(() => loadItems(m, 'validation'), { message: /attention_mask\.npy: shape\[1\]: padded to length 5, but the data of input "input_ids" is padded to 6/ });
  save('input_ids.npy', { descr: '<i8', shape: [n, L, 1], data: new BigInt64Array(n * L) });
  t.throws(() => loadItems(m, 'validation'), { message: /input_ids\.npy: shape: input "input_ids" expects \(items, length\), the file has \(10, 5, 1\)/ });
  save('input_ids.npy', { descr: '<i8', shape: [n, L], data: ids });
  const badMask = mask.slice();
  badMask[2 * L + 1] = 0n; // item 2 (length 3) becomes 1 0 1 0 0
  save('attention_mask.npy', { descr: '<i8', shape: [n, L], data: badMask });
  t.throws(() => loadItems(m, 'validation'), { message: /attention_mask\.npy: mask input "attention_mask": item 2 has a 1 at position 2 after a 0 at position 1/ });
  t.ok(ItemsError);
});

t.test('maskLengths on a mask with an axis after the dynamic one', async (t) => {
  // items of shape [length 3, 2]: item 0 length 2, item 1 length 3
  const data = Uint8Array.from([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
  t.same([...(maskLengths({ name: 'm', datatype: 'BOOL', itemShape: [3, 2], data }, 0) as Int32Array)], [2, 3]);
  t.match(maskLengths({ name: 'm', datatype: 'BOOL', itemShape: [3, 2], data: Uint8Array.from([1, 0, 0, 0, 0, 0]) }, 0), /item 0 mixes 0 and 1 at position 0/);
  t.match(maskLengths({ name: 'm', datatype: 'UINT8', itemShape: [3, 2], data: Uint8Array.from([0, 0, 0, 0, 0, 0]) }, 0), /item 0 starts with 0/);
  t.match(maskLengths({ name: 'm', datatype: 'UINT8', itemShape: [3, 2], data: Uint8Array.from([1, 1, 2, 2, 0, 0]) }, 0), /item 0 holds 2 at position 1/);
});
