// The model-zoo manifest and dataset loaders: the real models/fmnist manifest loads and
// resolves paths; broken manifests and dataset files give errors that name the field/file.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { loadManifest, loadManifestSync, ManifestError } from '../ts/contracts/manifest.js';
import { defaultManifestPath } from '../ts/contracts/package-root.js';
import { DatasetError, loadDataset, parseDataset, toFloat32 } from '../ts/contracts/dataset.js';

const manifestPath = defaultManifestPath();
const rawManifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, any>;

t.test('the real manifest loads', async (t) => {
  t.ok(isAbsolute(manifestPath), 'defaultManifestPath is absolute');
  t.match(manifestPath, /models[\\/]fmnist[\\/]cascade\.json$/);
  const m = await loadManifest(manifestPath);
  t.equal(m.name, 'fmnist');
  t.equal(m.version, 1);
  t.same(m.input.shape, [1, 28, 28]);
  t.equal(m.input.name, 'input');
  t.equal(m.input.datatype, 'FP32');
  t.equal(m.output.name, 'logits');
  t.equal(m.output.classes, 10);
  t.equal(m.classNames.length, 10);
  t.equal(m.classNames[0], 'T-shirt/top');
  t.ok(m.models.length >= 5, 'at least five models');
  t.ok(isAbsolute(m.data.validation) && isAbsolute(m.data.heldout), 'data paths are absolute');
  for (const [i, model] of m.models.entries()) {
    t.ok(isAbsolute(model.file), `models[${i}].file is absolute`);
    t.equal(model.input, 'input');
    t.equal(model.output, 'logits');
    t.equal(model.outputKind, 'logits');
    t.ok(model.params > 0 && model.mflopsPerImage > 0, `${model.name} has params and MFLOPs`);
    t.ok(model.accuracy, `${model.name} records accuracies`);
    if (i > 0) t.ok(model.mflopsPerImage >= m.models[i - 1].mflopsPerImage, `${model.name} is not cheaper than its predecessor`);
  }
  const first = m.models[0];
  const last = m.models[m.models.length - 1];
  t.ok(last.mflopsPerImage / first.mflopsPerImage >= 100, 'FLOPs span >= 100x');
  t.ok(last.accuracy!.heldout - first.accuracy!.heldout >= 0.08, 'held-out accuracy spans >= 8 points');
  t.ok(last.accuracy!.heldout >= 0.93, 'strongest model >= 93% held out');
  const sync = loadManifestSync(manifestPath);
  t.same(sync, m, 'sync and async variants agree');
});

t.test('broken manifests name the field and the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zoo-manifest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const srcDir = join(manifestPath, '..');
  // A complete copy with relative paths, so that only the mutation under test is wrong.
  mkdirSync(join(dir, 'data'));
  for (const m of rawManifest.models) copyFileSync(join(srcDir, m.file), join(dir, m.file));
  for (const k of ['validation', 'heldout']) copyFileSync(join(srcDir, rawManifest.data[k]), join(dir, rawManifest.data[k]));

  let n = 0;
  const write = (mutate: (m: any) => void): string => {
    const copy = JSON.parse(JSON.stringify(rawManifest));
    mutate(copy);
    const p = join(dir, `cascade-${n++}.json`);
    writeFileSync(p, JSON.stringify(copy));
    return p;
  };

  const ok = await loadManifest(write(() => {}));
  t.equal(ok.models[0].file, join(dir, rawManifest.models[0].file), 'relative paths resolve against the manifest dir');

  const cases: [string, (m: any) => void, RegExp][] = [
    ['empty file', (m) => { m.models[2].file = ''; }, /^models\[2\]\.file: expected a non-empty string \(in .*cascade-\d+\.json\)$/],
    ['missing model file', (m) => { m.models[1].file = 'nope.onnx'; }, /^models\[1\]\.file: \/.*nope\.onnx does not exist$/],
    ['missing data file', (m) => { m.data.heldout = 'data/missing.bin'; }, /^data\.heldout: \/.*missing\.bin does not exist$/],
    ['bad version', (m) => { m.version = 3; }, /^version: expected 1 or 2, got number 3 \(in /],
    ['no name', (m) => { delete m.name; }, /^name: expected a non-empty string/],
    ['bad shape', (m) => { m.input.shape = [1, 0, 28]; }, /^input\.shape\[1\]: expected an integer >= 1/],
    ['bad datatype', (m) => { m.input.datatype = 'FP16'; }, /^input\.datatype: expected "FP32"/],
    ['bad output kind', (m) => { m.output.kind = 'scores'; }, /^output\.kind: expected one of "logits", "probabilities"/],
    ['bad model output kind', (m) => { m.models[0].outputKind = 'x'; }, /^models\[0\]\.outputKind: expected one of/],
    ['class names count', (m) => { m.classNames.pop(); }, /^classNames: expected 10 names/],
    ['params', (m) => { m.models[3].params = -1; }, /^models\[3\]\.params: expected an integer >= 0/],
    ['mflops', (m) => { m.models[4].mflopsPerImage = 'lots'; }, /^models\[4\]\.mflopsPerImage: expected a number/],
    ['accuracy', (m) => { m.models[0].accuracy.heldout = 1.5; }, /^models\[0\]\.accuracy\.heldout: expected a number in \[0, 1\]/],
    ['duplicate', (m) => { m.models[1].name = m.models[0].name; }, /^models\[1\]\.name: duplicate model name/],
    ['models empty', (m) => { m.models = []; }, /^models: expected a non-empty array/],
    ['input not an object', (m) => { m.input = 3; }, /^input: expected an object, got number 3/],
    ['model not an object', (m) => { m.models[0] = null; }, /^models\[0\]: expected an object, got null/],
  ];
  for (const [label, mutate, re] of cases) {
    const p = write(mutate);
    const err = await loadManifest(p).then(() => null, (e: unknown) => e);
    t.ok(err instanceof ManifestError, `${label}: throws ManifestError`);
    const me = err as ManifestError;
    t.equal(me.file, p, `${label}: names the file`);
    t.match(me.errors[0], re, `${label}: ${me.errors[0]}`);
    if (re.source.includes('\\(in')) t.ok(me.errors[0].includes(p), `${label}: message names the file`);
  }

  const several = write((m) => { m.models[0].file = ''; m.models[1].params = 'x'; });
  t.throws(() => loadManifestSync(several), /2 problems in .*\nmodels\[0\]\.file: .*\nmodels\[1\]\.params: /, 'lists every problem');

  const override = write((m) => { m.models[0].input = 'pixels'; m.models[0].output = 'probs'; m.models[0].outputKind = 'probabilities'; });
  const om = loadManifestSync(override);
  t.same([om.models[0].input, om.models[0].output, om.models[0].outputKind], ['pixels', 'probs', 'probabilities'], 'per-model overrides');
  t.same([om.models[1].input, om.models[1].output, om.models[1].outputKind], ['input', 'logits', 'logits'], 'defaults from the top level');

  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{"name": ');
  t.throws(() => loadManifestSync(badJson), /invalid JSON: .*bad\.json/);
  t.throws(() => loadManifestSync(join(dir, 'absent.json')), /cannot read manifest .*absent\.json/);
  t.ok(loadManifestSync(write((m) => { m.models[1].file = 'nope.onnx'; }), { checkFiles: false }), 'checkFiles: false skips existence checks');
});

t.test('datasets parse and reject bad files', async (t) => {
  const m = loadManifestSync(manifestPath);
  for (const [half, path] of Object.entries(m.data)) {
    const ds = loadDataset(path);
    t.equal(ds.count, 5000, `${half}: 5000 images`);
    t.same([ds.rows, ds.cols, ds.classes], [28, 28, 10]);
    t.equal(ds.pixels.length, 5000 * 784);
    t.equal(ds.labels.length, 5000);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    t.ok(counts.every((c) => c > 400 && c < 600), `${half}: classes roughly balanced`);
    const f = ds.toFloat32(10, 3);
    t.equal(f.length, 3 * 784);
    t.equal(f[5], ds.pixels[10 * 784 + 5] / 255);
    t.ok(f.every((v) => v >= 0 && v <= 1));
    t.same(toFloat32(ds, 10, 3), f, 'function and method agree');
    t.same(Array.from(ds.image(10)), Array.from(ds.pixels.subarray(7840, 8624)));
    t.throws(() => ds.toFloat32(4999, 2), RangeError);
  }

  const header = (count: number, rows: number, cols: number, classes: number, magic = 'CSDATA01'): Buffer => {
    const b = Buffer.alloc(24);
    b.write(magic, 0, 'latin1');
    b.writeUInt32LE(count, 8); b.writeUInt32LE(rows, 12); b.writeUInt32LE(cols, 16); b.writeUInt32LE(classes, 20);
    return b;
  };
  const good = Buffer.concat([header(2, 2, 2, 3), Buffer.from([0, 51, 102, 255, 1, 2, 3, 4]), Buffer.from([0, 2])]);
  const ds = parseDataset(good, 'good.bin');
  t.same(Array.from(ds.labels), [0, 2]);
  t.same(Array.from(ds.toFloat32(0, 1)), [0, 51 / 255, 102 / 255, 1].map(Math.fround));

  const dir = mkdtempSync(join(tmpdir(), 'zoo-dataset-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = (name: string, bytes: Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const expectError = (p: string, re: RegExp, label: string): void => {
    const err = (() => { try { loadDataset(p); return null; } catch (e) { return e; } })();
    t.ok(err instanceof DatasetError, `${label}: DatasetError`);
    t.match((err as Error).message, re, `${label}: ${(err as Error).message}`);
    t.ok((err as Error).message.startsWith(p), `${label}: names the file`);
  };
  expectError(bad('magic.bin', Buffer.concat([header(2, 2, 2, 3, 'CSDATA02'), good.subarray(24)])), /bad magic "CSDATA02"/, 'bad magic');
  expectError(bad('short-header.bin', good.subarray(0, 10)), /truncated: 10 bytes/, 'short header');
  expectError(bad('truncated.bin', good.subarray(0, good.length - 1)), /truncated: 33 bytes, expected 34/, 'truncated');
  expectError(bad('trailing.bin', Buffer.concat([good, Buffer.from([0])])), /1 trailing bytes/, 'trailing bytes');
  expectError(bad('label.bin', Buffer.concat([header(2, 2, 2, 3), good.subarray(24, 32), Buffer.from([0, 3])])), /label 3 of image 1 is >= classes \(3\)/, 'label >= classes');
  expectError(join(dir, 'absent.bin'), /cannot read/, 'missing file');
  // The real file cut short.
  const real = readFileSync(m.data.validation);
  expectError(bad('real-cut.bin', real.subarray(0, real.length - 100)), /truncated/, 'real file cut short');
});
