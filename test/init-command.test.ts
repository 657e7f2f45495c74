// `cascadeserve init` on the token-cascade fixture (test/fixtures/token-cascade, made by
// scripts/train-token-cascade.py): the inputs, mask, output kinds and order it writes, checked
// against onnxruntime-node run here on the same files; a model whose answer padding changes;
// and the error cases, each an exit code with a message naming the file and the field.
import t, { type Test } from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runInitCommand } from '../ts/cli/init-command.js';
import { detectRanges, type ModelInfo } from '../ts/cli/init-inspect.js';
import { countOnnxParams, onnxParamsOf } from '../ts/cli/onnx-params.js';
import { main } from '../ts/cli/main.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { loadItems, splitIndices } from '../ts/contracts/items.js';
import { encodeNpy, readNpy } from '../ts/contracts/npy.js';
import { fixture, root as repoRoot } from '../testkit/paths.js';
import { softmax } from '../testkit/softmax.js';

const kCascade = fixture('token-cascade');
const kExtra = fixture('token-extra');
/** A vocabulary constant of a fixture's generator script (`VOCAB = 12` / `VOCAB, DIM, CLASSES = 50, 8, 3`). */
function vocabOf(script: string): number {
  const text = readFileSync(join(repoRoot, script), 'utf8');
  const m = /^VOCAB(?:, \w+)* = (\d+)/m.exec(text);
  if (!m) throw new Error(`${script}: no VOCAB constant`);
  return Number(m[1]);
}
/** The token fixture's vocabulary, as its trainer defines it (the embedding tables have this many rows). */
const kVocab = vocabOf('scripts/train-token-cascade.py');

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out, err };
};

const root = mkdtempSync(join(tmpdir(), 'cs-init-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh copy of the fixture (only the given models), in a folder named `name`. */
function copy(models: string[] = ['bag', 'conv', 'gru'], name = `cascade${n++}`): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (const m of models) cpSync(join(kCascade, `${m}.onnx`), join(dir, `${m}.onnx`));
  cpSync(join(kCascade, 'data'), join(dir, 'data'), { recursive: true });
  return dir;
}

/** Item i's rows of input_ids / attention_mask, cut to `length` (or the full padded length). */
function feeds(i: number[], length: number | null, dtype: 'int64' | 'int32' = 'int64') {
  const ids = readNpy(join(kCascade, 'data', 'input_ids.npy'));
  const mask = readNpy(join(kCascade, 'data', 'attention_mask.npy'));
  const L = ids.shape[1];
  const len = length ?? L;
  const pick = (a: BigInt64Array) => {
    const out = new BigInt64Array(i.length * len);
    i.forEach((item, k) => out.set(a.subarray(item * L, item * L + len), k * len));
    return out;
  };
  const idsData = pick(ids.data as BigInt64Array);
  return {
    input_ids: dtype === 'int64' ? new ort.Tensor('int64', idsData, [i.length, len]) : new ort.Tensor('int32', Int32Array.from(idsData, Number), [i.length, len]),
    attention_mask: new ort.Tensor('int64', pick(mask.data as BigInt64Array), [i.length, len]),
  };
}

const kMask = readNpy(join(kCascade, 'data', 'attention_mask.npy'));
function maskLength(i: number): number {
  const mask = kMask;
  const L = mask.shape[1];
  let s = 0;
  for (let p = 0; p < L; p++) s += Number((mask.data as BigInt64Array)[i * L + p]);
  return s;
}


t.test('init on the token cascade: inputs, mask, kinds, order, split', async (t) => {
  const dir = copy();
  const p = io();
  const code = await runInitCommand([dir], p.io);
  t.equal(code, 0, p.err.join(''));
  t.match(p.out.join(''), /wrote .*cascade\.json: 3 model\(s\), 1200 items \(4 classes\)/);
  t.match(p.out.join(''), /split \(seed 1\): 600 validation, 600 held-out items\nnext: cascadeserve profile .*cascade\.json --out .*profile\.json\n$/);
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.same(raw.inputs, [
    { name: 'input_ids', datatype: 'INT64', shape: [-1], padValue: 0, range: { min: 0, max: kVocab - 1 } },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1], padValue: 0 },
  ], 'input_ids: ids within the vocabulary; the mask indexes nothing and has no range');
  t.equal(raw.maskInput, 'attention_mask');
  t.equal(raw.name, basename(dir), 'served name: the folder name');
  t.same(raw.classNames, ['0', '1', '2', '3']);
  t.same(raw.data, { format: 'npy', dir: 'data', split: { seed: 1, validationFraction: 0.5 } });
  t.same(raw.models.map((m: any) => [m.name, m.file, m.output, m.outputKind, m.padInvariant]), [
    ['bag', 'bag.onnx', 'logits', 'logits', true],
    ['conv', 'conv.onnx', 'scores', 'logits', true],
    ['gru', 'gru.onnx', 'probs', 'probabilities', true],
  ], 'cheapest first; kinds detected; padding harmless for all three');
  // Parameters from the architectures in scripts/train-token-cascade.py (vocabulary 12, 4 classes):
  // bag: embedding 12x16, linear 16->32, 32->4; conv: embedding 12x16, conv 16->48 and 48->48
  // (kernel 3), linear 96->48, 48->4; gru: embedding 12x24, GRU 24->64 (3 gates, two biases), linear 64->4.
  const lin = (i: number, o: number) => i * o + o;
  t.same(raw.models.map((m: any) => m.params), [
    12 * 16 + lin(16, 32) + lin(32, 4),
    12 * 16 + lin(16 * 3, 48) + lin(48 * 3, 48) + lin(96, 48) + lin(48, 4),
    12 * 24 + 3 * 64 * (24 + 64) + 2 * 3 * 64 + lin(64, 4),
  ], 'params: the floating-point initializer elements');

  // The kinds, independently: onnxruntime-node's rows for gru sum to 1, bag's and conv's do not.
  for (const [name, output] of [['bag', 'logits'], ['conv', 'scores'], ['gru', 'probs']]) {
    const s = await ort.InferenceSession.create(join(kCascade, `${name}.onnx`));
    const r = (await s.run(feeds([0, 1, 2, 3], null)))[output].data as Float32Array;
    const sums = [0, 1, 2, 3].map((k) => r.subarray(k * 4, k * 4 + 4).reduce((a, b) => a + b, 0));
    const probs = sums.every((x) => Math.abs(x - 1) < 1e-3) && r.every((x) => x >= 0);
    t.equal(probs, name === 'gru', `${name}: rows ${probs ? 'are' : 'are not'} probabilities in onnxruntime-node`);
    await s.release();
  }
  // The order, independently: a batch of 8 timed in onnxruntime-node, median of 15.
  const medians: number[] = [];
  for (const name of ['bag', 'conv', 'gru']) {
    const s = await ort.InferenceSession.create(join(kCascade, `${name}.onnx`), { intraOpNumThreads: 1 });
    const f = feeds([0, 1, 2, 3, 4, 5, 6, 7], null);
    const times: number[] = [];
    for (let r = 0; r < 15; r++) {
      const t0 = performance.now();
      await s.run(f);
      times.push(performance.now() - t0);
    }
    medians.push(times.sort((a, b) => a - b)[7]);
    await s.release();
  }
  t.ok(medians[0] < medians[2] && medians[1] < medians[2], `onnxruntime-node agrees that gru is the most expensive (${medians.map((x) => x.toFixed(3)).join(', ')} ms)`);

  // The manifest loads, and its items follow the documented split and the mask's lengths.
  const m = await loadManifest(join(dir, 'cascade.json'));
  const parts = splitIndices(1200, 1, 0.5);
  const val = loadItems(m, 'validation');
  t.equal(val.count, 600);
  t.same([...val.indices], [...parts.validation]);
  for (const k of [0, 1, 299, 599]) t.equal(val.lengths![k], maskLength(val.indices[k]), `validation item ${k}: length = sum of its mask`);
});

t.test('the range of token ids: the vocabulary every model accepts', async (t) => {
  t.equal(kVocab, 12, 'the trainer\'s vocabulary (tokens 1..11, 0 = padding)');
  // Independently of the ONNX reader: onnxruntime-node runs each model on id V - 1 and fails
  // on id V, so V is where the models stop accepting ids. ONNX Gather also takes -V..-1
  // (counted from the end); init refuses negative ids by choice (tested below).
  for (const name of ['bag', 'conv', 'gru']) {
    const s = await ort.InferenceSession.create(join(kCascade, `${name}.onnx`));
    const run = (id: number) => s.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from([1, id, 2], BigInt), [1, 3]), attention_mask: new ort.Tensor('int64', BigInt64Array.from([1, 1, 1], BigInt), [1, 3]) });
    await t.resolves(run(kVocab - 1), `${name}: id ${kVocab - 1} runs in onnxruntime-node`);
    await t.rejects(run(kVocab), `${name}: id ${kVocab} fails in onnxruntime-node`);
    await t.resolves(run(-1), `${name}: onnxruntime-node takes id -1 (the last row)`);
    await s.release();
  }
  const dir = copy();
  const p = io();
  t.equal(await runInitCommand([dir, '--check-items', '8'], p.io), 0, p.err.join(''));
  t.match(p.out.join(''), new RegExp(`input input_ids: values in \\[0, ${kVocab - 1}\\] \\(bag\\.onnx: Gather '/emb/Gather' on initializer 'emb\\.weight' \\[${kVocab}, 16\\]; conv\\.onnx: .*; gru\\.onnx: Gather '/emb/Gather' on initializer 'emb\\.weight' \\[${kVocab}, 24\\]\\)`), 'the range and the tables that set it');
  const m = await loadManifest(join(dir, 'cascade.json'));
  t.same(m.inputs.map((x) => [x.name, x.range]), [['input_ids', { min: 0, max: kVocab - 1 }], ['attention_mask', undefined]], 'the parsed manifest carries the range');

  // Over models: the smallest vocabulary wins (the hand-built fixture's table has 50 rows).
  const meanpoolVocab = vocabOf('test/fixtures/make_token_fixtures.py');
  const info = (path: string) => ({ name: basename(path, '.onnx'), path, inputs: [{ name: 'input_ids', datatype: 'INT64', itemShape: [-1] }, { name: 'attention_mask', datatype: 'INT64', itemShape: [-1] }] }) as unknown as ModelInfo;
  const models = [info(fixture('tokens_meanpool.onnx')), info(join(kCascade, 'bag.onnx'))];
  const notes: string[] = [];
  const ranges = detectRanges(models, models[0].inputs, notes);
  t.same([...ranges].map(([k, r]) => [k, r.range]), [['input_ids', { min: 0, max: Math.min(meanpoolVocab, kVocab) - 1 }]]);
  t.same(ranges.get('input_ids')!.sources, [`tokens_meanpool.onnx: Gather on initializer 'emb' [${meanpoolVocab}, 8]`, `bag.onnx: Gather '/emb/Gather' on initializer 'emb.weight' [${kVocab}, 16]`]);
  t.same(notes, []);
  const unreadable = detectRanges([info(fixture('corrupt.onnx'))], models[0].inputs, notes);
  t.equal(unreadable.size, 0, 'an unreadable graph bounds nothing');
  t.match(notes.join('\n'), /corrupt\.onnx: its ONNX graph could not be read/);

  // An id of the data outside the range is an init error naming the file, before any model runs.
  const ids = readNpy(join(kCascade, 'data', 'input_ids.npy'));
  const [N, L] = ids.shape;
  for (const [value, extra] of [[kVocab, ''], [-1, '; negative ids are refused']] as const) {
    const bad = copy(['bag', 'gru']);
    const data = (ids.data as BigInt64Array).slice();
    data[7 * L + 2] = BigInt(value);
    writeFileSync(join(bad, 'data', 'input_ids.npy'), encodeNpy({ descr: '<i8', shape: [N, L], data }));
    const err = await failing(t, bad, 1);
    t.match(err, new RegExp(`data/input_ids\\.npy: item 7 \\(element 2\\) of input "input_ids" is ${value}, outside \\[0, ${kVocab - 1}\\], the values the models accept \\(bag\\.onnx: .*gru\\.onnx: .*\\)${extra}`), `id ${value} in the data`);
    t.notMatch(err, /running the model/, 'found before the models ran');
  }
});

t.test('flags: --name, --seed, --validation-fraction, --output-kind, --class-names, --force', async (t) => {
  const dir = copy(['bag', 'gru']);
  const args = [dir, '--name', 'tokens', '--seed', '7', '--validation-fraction', '0.25', '--output-kind', 'gru=logits,bag=logits', '--class-names', 'a,b,c,d', '--check-items', '8'];
  const p = io();
  t.equal(await runInitCommand(args, p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.equal(raw.name, 'tokens');
  t.same(raw.data.split, { seed: 7, validationFraction: 0.25 });
  t.same(raw.classNames, ['a', 'b', 'c', 'd']);
  t.same(raw.models.map((m: any) => [m.name, m.outputKind]), [['bag', 'logits'], ['gru', 'logits']], 'the override wins');
  t.match(p.out.join(''), /gru .*\(logits, as given\)/);
  const again = io();
  t.equal(await runInitCommand(args, again.io), 2, 'an existing cascade.json needs --force');
  t.match(again.err.join(''), /cascade\.json exists; --force to overwrite it/);
  const forced = io();
  t.equal(await runInitCommand([dir, '--force', '--check-items', '4'], forced.io), 0, forced.err.join(''));
  t.equal(JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8')).models[1].outputKind, 'probabilities');
  const viaMain = io();
  t.equal(await main(['init', '--help'], viaMain.io), 0, 'registered in the command table');
  t.match(viaMain.out.join(''), /Usage: cascadeserve init <DIR>/);
});

t.test('a model whose answer padding changes is recorded with padInvariant false', async (t) => {
  const dir = copy(['bag']);
  cpSync(join(kExtra, 'bag-unmasked.onnx'), join(dir, 'bag-unmasked.onnx'));
  const p = io();
  t.equal(await runInitCommand([dir], p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  const flags = Object.fromEntries(raw.models.map((m: any) => [m.name, m.padInvariant]));
  t.same(flags, { bag: true, 'bag-unmasked': false });
  t.match(p.out.join(''), /bag-unmasked .*padding changes the answer by up to .*: batched by equal length only/);
  // Independently: the same short item alone and padded to 24 gives different probabilities.
  const s = await ort.InferenceSession.create(join(kExtra, 'bag-unmasked.onnx'));
  const len = maskLength(0);
  t.ok(len < 24, 'item 0 is padded in the data');
  const alone = softmax((await s.run(feeds([0], len))).logits.data as Float32Array);
  const padded = softmax((await s.run(feeds([0], null))).logits.data as Float32Array);
  t.ok(Math.max(...alone.map((v, c) => Math.abs(v - padded[c]))) > 1e-4, 'onnxruntime-node: padding changes its answer');
  await s.release();
});

/** Runs init on a folder expected to fail; returns stderr. */
async function failing(t: Test, dir: string, code: number, args: string[] = []): Promise<string> {
  const p = io();
  t.equal(await runInitCommand([dir, ...args], p.io), code, `exit ${code}`);
  const err = p.err.join('');
  t.notMatch(err, /\n\s+at /, 'no stack trace');
  return err;
}

t.test('errors name the file and the field', async (t) => {
  const empty = join(root, 'empty');
  mkdirSync(join(empty, 'data'), { recursive: true });
  t.match(await failing(t, empty, 1), /empty: no \.onnx files/);

  const disagree = copy(['bag']);
  cpSync(join(kExtra, 'bag-int32.onnx'), join(disagree, 'bag-int32.onnx'));
  t.match(await failing(t, disagree, 1), /bag\.onnx: input "input_ids" is INT64 \[batch, -1\], but bag-int32\.onnx has INT32 \[batch, -1\]/);

  const noData = copy(['bag']);
  rmSync(join(noData, 'data'), { recursive: true });
  t.match(await failing(t, noData, 1), /data: no such folder/);

  const noMask = copy(['bag']);
  unlinkSync(join(noMask, 'data', 'attention_mask.npy'));
  t.match(await failing(t, noMask, 1), /attention_mask\.npy: no such file; it holds the data of input "attention_mask" \(taken by bag\.onnx\)/);

  const ids = readNpy(join(kCascade, 'data', 'input_ids.npy'));
  const [N, L] = ids.shape;
  const wrongType = copy(['bag']);
  writeFileSync(join(wrongType, 'data', 'input_ids.npy'), encodeNpy({ descr: '<i4', shape: [N, L], data: Int32Array.from(ids.data as BigInt64Array, Number) }));
  t.match(await failing(t, wrongType, 1), /input_ids\.npy: dtype: input "input_ids" is INT64, the file holds '<i4' \(INT32\)/);

  const wrongShape = copy(['bag']);
  writeFileSync(join(wrongShape, 'data', 'input_ids.npy'), encodeNpy({ descr: '<i8', shape: [N, L, 1], data: ids.data }));
  t.match(await failing(t, wrongShape, 1), /input_ids\.npy: shape: input "input_ids" expects \(items, length\), the file has \(1200, 24, 1\)/);

  const wrongCount = copy(['bag']);
  writeFileSync(join(wrongCount, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: [N - 1], data: new BigInt64Array(N - 1) }));
  t.match(await failing(t, wrongCount, 1), /input_ids\.npy: shape\[0\]: 1200 items, but .*labels\.npy has 1199 labels/);

  const outOfRange = copy(['bag']);
  const labels = new BigInt64Array(N);
  labels[17] = 4n;
  writeFileSync(join(outOfRange, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: [N], data: labels }));
  t.match(await failing(t, outOfRange, 1), /labels\.npy: labels\[17\] = 4 is out of range: expected a class id from 0 to 3 \(4 classes\)/);

  const floatLabels = copy(['bag']);
  writeFileSync(join(floatLabels, 'data', 'labels.npy'), encodeNpy({ descr: '<f4', shape: [N], data: new Float32Array(N) }));
  t.match(await failing(t, floatLabels, 1), /labels\.npy: labels: expected integer class ids/);

  const ok = copy(['bag']);
  t.match(await failing(t, join(ok, 'bag.onnx'), 2), /DIR: '.*bag\.onnx' is not a folder/);
  t.match(await failing(t, ok, 2, ['--output-kind', 'bag=softmax']), /--output-kind: 'softmax' for bag must be one of logits, probabilities/);
  t.match(await failing(t, ok, 2, ['--output-kind', 'gru=logits']), /--output-kind: 'gru' is not a model of the folder \(models: bag\)/);
  t.match(await failing(t, ok, 2, ['--class-names', 'a,b']), /--class-names: 2 non-empty names needed one per class \(the models have 4 classes\)/);
  t.match(await failing(t, ok, 2, ['--validation-fraction', '0']), /--validation-fraction must be a number > 0 and <= 1, got '0'/);
  t.match(await failing(t, ok, 2, ['--output', 'bag=nope']), /--output: bag\.onnx: names "nope", but the model's outputs are "logits"/);
});

t.test('fixed-shape FP32 models: no dynamic axis, no mask', async (t) => {
  const dir = join(root, 'fixed');
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (const f of ['mlp_small.onnx', 'gather_mlp.onnx']) cpSync(fixture(f), join(dir, f));
  const count = 40;
  const x = new Float32Array(count * 16);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 101) / 50 - 1; // gather_mlp reads x[:, 0] as an index: keep it in [0, 8)
  for (let i = 0; i < count; i++) x[i * 16] = i % 8;
  writeFileSync(join(dir, 'data', 'x.npy'), encodeNpy({ descr: '<f4', shape: [count, 16], data: x }));
  writeFileSync(join(dir, 'data', 'labels.npy'), encodeNpy({ descr: '|u1', shape: [count], data: Uint8Array.from({ length: count }, (_, i) => i % 4) }));
  const p = io();
  t.equal(await runInitCommand([dir, '--check-items', '10'], p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.same(raw.inputs, [{ name: 'x', datatype: 'FP32', shape: [16], padValue: 0 }]);
  t.notOk('maskInput' in raw, 'no mask input');
  t.same(raw.models.map((m: any) => [m.output, m.outputKind, m.padInvariant]).sort(), [['y', 'logits', true], ['y', 'logits', true]]);
  const items = loadItems(await loadManifest(join(dir, 'cascade.json')), 'heldout');
  t.equal(items.lengths, null, 'no lengths without a dynamic axis');
  t.equal(items.count, 20);
});

t.test('a mask input with one bad item: init says which item, and takes full lengths', async (t) => {
  const dir = copy(['bag']);
  const mask = readNpy(join(dir, 'data', 'attention_mask.npy'));
  const L = mask.shape[1];
  const data = mask.data as BigInt64Array;
  let item = 0;
  while (data[item * L + L - 1] !== 0n) item++; // the first padded item
  data[item * L + L - 1] = 1n; // a 1 after its padding
  writeFileSync(join(dir, 'data', 'attention_mask.npy'), encodeNpy(mask));
  const p = io();
  t.equal(await runInitCommand([dir], p.io), 0, p.err.join(''));
  t.match(p.out.join(''), new RegExp(`no mask input \\(an integer or BOOL input whose every item is ones followed by zeros\\); data/attention_mask\\.npy is not one: item ${item} has a 1 at position ${L - 1} after a 0 at position \\d+`));
  t.notOk(JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8')).maskInput, 'no mask input recorded');
});

t.test('lengths.npy gives the lengths, and is recorded', async (t) => {
  const dir = copy(['bag']);
  const N = 1200;
  const lengths = Int32Array.from({ length: N }, (_, i) => maskLength(i));
  writeFileSync(join(dir, 'data', 'lengths.npy'), encodeNpy({ descr: '<i4', shape: [N], data: lengths }));
  const p = io();
  t.equal(await runInitCommand([dir, '--check-items', '8'], p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.equal(raw.data.lengths, 'lengths.npy');
  t.equal(raw.maskInput, 'attention_mask', 'the mask is still recorded');
  const items = loadItems(await loadManifest(join(dir, 'cascade.json')), 'validation');
  t.same([...items.lengths!], [...items.indices].map((i) => lengths[i]));
  lengths[5] = 25;
  writeFileSync(join(dir, 'data', 'lengths.npy'), encodeNpy({ descr: '<i4', shape: [N], data: lengths }));
  t.match(await failing(t, dir, 1, ['--force']), /lengths\.npy: lengths\[5\] = 25: expected from 1 to the padded length 24/);
});

t.test('params of an ONNX file: the zoo trainer\'s counts, and malformed files', async (t) => {
  const zoo = JSON.parse(readFileSync(join(repoRoot, 'models', 'fmnist', 'cascade.json'), 'utf8'));
  // resnet is exported with its batch norms folded into the convolutions, so its file holds fewer.
  for (const m of zoo.models.filter((x: any) => x.name !== 'resnet')) {
    t.equal(onnxParamsOf(join(repoRoot, 'models', 'fmnist', m.file)), m.params, `${m.name}: as the trainer counted`);
  }
  t.throws(() => countOnnxParams(Uint8Array.from([0x3a, 0x05, 0x01])), /truncated/);
  t.equal(onnxParamsOf(join(root, 'no-such.onnx')), null);
});

t.test('FP16 input and output: the kind read from float16 rows; a model that cannot load', async (t) => {
  const half = { q: 0x3400, h: 0x3800, one: 0x3c00, two: 0x4000, minus: 0xbc00 }; // 0.25, 0.5, 1, 2, -1
  const write = (dir: string, rows: number[][]) => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    cpSync(fixture('identity_float16.onnx'), join(dir, 'identity_float16.onnx'));
    writeFileSync(join(dir, 'data', 'x.npy'), encodeNpy({ descr: '<f2', shape: [rows.length, 3], data: Uint16Array.from(rows.flat()) }));
    writeFileSync(join(dir, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: [rows.length], data: BigInt64Array.from(rows.map((_, i) => BigInt(i % 3))) }));
  };
  const probs = join(root, 'fp16-probs');
  write(probs, [[half.q, half.q, half.h], [half.h, half.q, half.q], [half.one, 0, 0], [0, half.h, half.h]]);
  const p = io();
  t.equal(await runInitCommand([probs], p.io), 0, p.err.join(''));
  const a = JSON.parse(readFileSync(join(probs, 'cascade.json'), 'utf8'));
  t.same(a.inputs, [{ name: 'x', datatype: 'FP16', shape: [3], padValue: 0 }]);
  t.same([a.models[0].output, a.models[0].outputKind], ['y', 'probabilities'], 'rows of float16 probabilities');
  const logits = join(root, 'fp16-logits');
  write(logits, [[half.q, half.q, half.h], [half.two, half.minus, half.q]]);
  const q = io();
  t.equal(await runInitCommand([logits], q.io), 0, q.err.join(''));
  t.equal(JSON.parse(readFileSync(join(logits, 'cascade.json'), 'utf8')).models[0].outputKind, 'logits', 'a negative value: logits');

  const corrupt = copy(['bag']);
  cpSync(fixture('corrupt.onnx'), join(corrupt, 'corrupt.onnx'));
  t.match(await failing(t, corrupt, 1), /corrupt\.onnx: cannot load the model: /);
});

t.test('a binary classifier with one score column: read as two classes, or refused where the labels have more', async (t) => {
  for (const name of ['binary_score', 'binary_score_open']) {
    // independently: onnxruntime-node runs the file and gives one column per item
    const s = await ort.InferenceSession.create(fixture(`${name}.onnx`));
    const y = (await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) })).y;
    t.same(y.dims, [2, 1], `${name}: onnxruntime-node answers [2, 1]`);
    await s.release();
    const dir = join(root, name);
    mkdirSync(join(dir, 'data'), { recursive: true });
    cpSync(fixture(`${name}.onnx`), join(dir, `${name}.onnx`));
    writeFileSync(join(dir, 'data', 'x.npy'), encodeNpy({ descr: '<f4', shape: [6, 3], data: Float32Array.from({ length: 18 }, (_, i) => (i % 7) - 3) }));
    writeFileSync(join(dir, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: [6], data: BigInt64Array.from([0n, 1n, 0n, 1n, 1n, 0n]) }));
    const p = io();
    t.equal(await runInitCommand([dir, '--check-items', '6'], p.io), 0, p.err.join(''));
    const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
    t.same(raw.classNames, ['0', '1'], `${name}: two classes`);
    t.equal(raw.models[0].outputKind, 'binary_logit', `${name}: values outside [0, 1] read as a logit`);
    const q = io();
    t.equal(await runInitCommand([dir, '--force', '--check-items', '6', '--output-kind', `${name}=probabilities`], q.io), 0, q.err.join(''));
    t.equal(JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8')).models[0].outputKind, 'binary_probability', `${name}: --output-kind probabilities reads the column as a probability`);
  }
  // Open on its last axis, the column count is learned on the data: labels of three classes
  // and one column cannot both hold.
  const dir = join(root, 'binary_score_open');
  writeFileSync(join(dir, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: [6], data: BigInt64Array.from([0n, 1n, 2n, 1n, 1n, 0n]) }));
  const err = await failing(t, dir, 1, ['--force']);
  t.match(err, /binary_score_open\.onnx: output "y" has one column \(\[batch, 1\]\), a binary classifier's single score, but the cascade has 3 classes/, 'names the file, the output and the disagreement');
});

t.test('a model with several outputs: the class scores are found, or named with --output', async (t) => {
  const dir = copy(['bag']);
  cpSync(join(kExtra, 'bag-two-outputs.onnx'), join(dir, 'bag-two-outputs.onnx'));
  const p = io();
  t.equal(await runInitCommand([dir, '--check-items', '8'], p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.equal(raw.models.find((m: any) => m.name === 'bag-two-outputs').output, 'logits', 'of two [batch, n] outputs, the one named logits');
  const q = io();
  t.equal(await runInitCommand([dir, '--force', '--output', 'bag-two-outputs=pooled'], q.io), 1, 'pooled has 16 columns');
  t.match(q.err.join(''), /outputs: the models disagree on the number of classes \(bag-two-outputs\.onnx: 16, bag\.onnx: 4\)/);
});

t.test('the pad value is read from the data', async (t) => {
  const dir = copy(['bag']);
  const ids = readNpy(join(kCascade, 'data', 'input_ids.npy'));
  const [N, L] = ids.shape;
  const data = (ids.data as BigInt64Array).slice();
  for (let i = 0; i < N; i++) for (let p = maskLength(i); p < L; p++) data[i * L + p] = 1n; // padded with token 1, as some tokenizers do
  writeFileSync(join(dir, 'data', 'input_ids.npy'), encodeNpy({ descr: '<i8', shape: [N, L], data }));
  const p = io();
  t.equal(await runInitCommand([dir, '--check-items', '8'], p.io), 0, p.err.join(''));
  const raw = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.same(raw.inputs.map((x: any) => [x.name, x.padValue]), [['input_ids', 1], ['attention_mask', 0]]);
  t.equal(raw.models[0].padInvariant, true, 'the bag ignores what the mask hides');
});
