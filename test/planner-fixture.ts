// Test fixture: a profile.json for the planner tests.
// Real data when the zoo exists (models/fmnist/cascade.json + data/validation.bin, run
// with onnxruntime-node, timings from a few quick reps); otherwise a synthetic but
// internally consistent profile (5 models, 5000 images, correct === (pred === label)).
// Tests never depend on the measured timings, only on consistency.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir, hostname, cpus, platform, arch } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../planner/prng.js';
import { kProfileSchema, validateProfile, type Profile, type ProfileModel } from '../ts/contracts/profile-schema.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kManifest = join(root, 'models', 'fmnist', 'cascade.json');
const kBatches = [1, 2, 4, 8, 16, 32, 64];

function certainties(p: Float64Array): { max_prob: number; margin: number; entropy: number; pred: number } {
  let top = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[top]) top = j;
  let second = -1;
  let h = 0;
  for (let j = 0; j < p.length; j++) {
    if (j !== top && (second < 0 || p[j] > p[second])) second = j;
    if (p[j] > 0) h -= p[j] * Math.log(p[j]);
  }
  const r = (x: number) => Number(Math.min(1, Math.max(0, x)).toPrecision(7));
  return { max_prob: r(p[top]), margin: r(p[top] - p[second]), entropy: r(1 - h / Math.log(p.length)), pred: top };
}

const base = () => ({
  schema: kProfileSchema,
  createdAt: new Date().toISOString(),
  machine: { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', platform: platform(), arch: arch() },
  runtime: { name: 'onnxruntime' as const, version: 'fixture' },
  lanes: [{ kind: 'cpu' as const, intraOpThreads: 1 }],
});

export function syntheticProfile(n = 5000, seed = 7): Profile {
  const rnd = mulberry32(seed);
  const C = 10;
  const labels = Array.from({ length: n }, () => Math.floor(rnd() * C));
  const difficulty = Array.from({ length: n }, () => rnd());
  const skills = [0.62, 0.74, 0.83, 0.89, 0.93];
  const perItemUs = [60, 180, 450, 1200, 3200];
  const models: ProfileModel[] = skills.map((skill, m) => {
    const predictions: number[] = [];
    const correct: number[] = [];
    const cert = { max_prob: [] as number[], margin: [] as number[], entropy: [] as number[] };
    for (let i = 0; i < n; i++) {
      const ok = difficulty[i] + 0.25 * (rnd() - 0.5) < skill;
      const conf = Math.min(0.999, Math.max(0.12, (ok ? 0.55 : 0.3) + 0.6 * (skill - difficulty[i]) + 0.3 * (rnd() - 0.5)));
      const p = new Float64Array(C).fill((1 - conf) / (C - 1));
      const cls = ok ? labels[i] : (labels[i] + 1 + Math.floor(rnd() * (C - 1))) % C;
      p[cls] = conf;
      const runner = (cls + 1 + Math.floor(rnd() * (C - 1))) % C;
      const shift = p[runner] * 0.9 * rnd() * (1 - conf);
      p[runner] += shift * 3;
      for (let j = 0; j < C; j++) if (j !== cls && j !== runner) p[j] -= (shift * 3) / (C - 2);
      const c = certainties(p);
      predictions.push(c.pred);
      correct.push(c.pred === labels[i] ? 1 : 0);
      cert.max_prob.push(c.max_prob);
      cert.margin.push(c.margin);
      cert.entropy.push(c.entropy);
    }
    const fixed = 150 + perItemUs[m];
    return {
      name: `synthetic-${m}`,
      file: `synthetic-${m}.onnx`,
      sha256: createHash('sha256').update(`synthetic-${m}`).digest('hex'),
      params: 10000 * 4 ** m,
      mflopsPerImage: 0.5 * 3 ** m,
      memoryBytes: 1e6 * 3 ** m,
      timings: [{ laneKind: 'cpu', intraOpThreads: 1, batchTimesUs: kBatches.map((b) => ({ batch: b, p50: fixed + perItemUs[m] * b * 0.8, p95: (fixed + perItemUs[m] * b * 0.8) * 1.2, reps: 5 })) }],
      validation: { count: n, predictions, correct, certainty: cert },
    };
  });
  return validateProfile({ ...base(), manifest: { path: 'synthetic/cascade.json', name: 'synthetic' }, models, labels });
}

async function realProfile(): Promise<Profile> {
  const ort = await import('onnxruntime-node');
  const manifest = JSON.parse(readFileSync(kManifest, 'utf8')) as { name?: string; models: { name: string; file: string }[] };
  const dir = dirname(kManifest);
  const buf = readFileSync(join(dir, 'data', 'validation.bin'));
  if (buf.subarray(0, 8).toString('latin1') !== 'CSDATA01') throw new Error('validation.bin: bad magic');
  const [count, rows, cols, classes] = [8, 12, 16, 20].map((o) => buf.readUInt32LE(o));
  const px = rows * cols;
  const pixels = buf.subarray(24, 24 + count * px);
  const labels = Array.from(buf.subarray(24 + count * px, 24 + count * px + count));
  const models: ProfileModel[] = [];
  for (const m of manifest.models) {
    const file = join(dir, m.file);
    const bytes = readFileSync(file);
    const sess = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const predictions: number[] = [];
    const correct: number[] = [];
    const cert = { max_prob: [] as number[], margin: [] as number[], entropy: [] as number[] };
    const B = 256;
    for (let s = 0; s < count; s += B) {
      const nb = Math.min(B, count - s);
      const x = new Float32Array(nb * px);
      for (let i = 0; i < nb * px; i++) x[i] = pixels[s * px + i] / 255;
      const out = await sess.run({ input: new ort.Tensor('float32', x, [nb, 1, rows, cols]) });
      const logits = out.logits.data as Float32Array;
      for (let i = 0; i < nb; i++) {
        const l = logits.subarray(i * classes, (i + 1) * classes);
        const mx = Math.max(...l);
        const e = Float64Array.from(l, (v) => Math.exp(v - mx));
        const z = e.reduce((a, b) => a + b, 0);
        const c = certainties(e.map((v) => v / z));
        predictions.push(c.pred);
        correct.push(c.pred === labels[s + i] ? 1 : 0);
        cert.max_prob.push(c.max_prob);
        cert.margin.push(c.margin);
        cert.entropy.push(c.entropy);
      }
    }
    const batchTimesUs = [];
    for (const b of kBatches) {
      const x = new ort.Tensor('float32', new Float32Array(b * px).fill(0.5), [b, 1, rows, cols]);
      const times: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t0 = process.hrtime.bigint();
        await sess.run({ input: x });
        times.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      times.sort((a, c) => a - c);
      batchTimesUs.push({ batch: b, p50: Math.max(1, times[2]), p95: Math.max(1, times[4]), reps: 5 });
    }
    for (let i = 1; i < batchTimesUs.length; i++) batchTimesUs[i].p50 = Math.max(batchTimesUs[i].p50, batchTimesUs[i - 1].p50);
    for (const r of batchTimesUs) r.p95 = Math.max(r.p95, r.p50);
    await sess.release();
    models.push({
      name: m.name,
      file: m.file,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      params: 0,
      mflopsPerImage: 0,
      memoryBytes: bytes.length * 2,
      timings: [{ laneKind: 'cpu', intraOpThreads: 1, batchTimesUs }],
      validation: { count, predictions, correct, certainty: cert },
    });
  }
  return validateProfile({ ...base(), runtime: { name: 'onnxruntime', version: ort.env.versions?.common ?? 'unknown' }, manifest: { path: kManifest, name: manifest.name ?? 'fmnist' }, models, labels });
}

/** The fixture profile: real zoo when present (cached in the temp dir), else synthetic. */
export async function fixtureProfile(): Promise<{ profile: Profile; source: 'real' | 'synthetic' }> {
  // the zoo's committed profile (cascadeserve profile, through the engine) when present
  const committed = join(dirname(kManifest), 'profile.json');
  if (existsSync(committed)) {
    try {
      return { profile: validateProfile(JSON.parse(readFileSync(committed, 'utf8'))), source: 'real' };
    } catch (err) {
      process.emitWarning(`planner fixture: ${committed} unusable (${(err as Error).message})`);
    }
  }
  if (existsSync(kManifest) && existsSync(join(dirname(kManifest), 'data', 'validation.bin'))) {
    const key = createHash('sha256').update(`${kManifest}:${statSync(kManifest).mtimeMs}`).digest('hex').slice(0, 16);
    const cache = join(tmpdir(), `cascadeserve-planner-fixture-${key}.json`);
    if (existsSync(cache)) return { profile: validateProfile(JSON.parse(readFileSync(cache, 'utf8'))), source: 'real' };
    try {
      const profile = await realProfile();
      writeFileSync(cache, JSON.stringify(profile));
      return { profile, source: 'real' };
    } catch (err) {
      process.emitWarning(`planner fixture: real zoo unusable (${(err as Error).message}); using the synthetic profile`);
    }
  }
  return { profile: syntheticProfile(), source: 'synthetic' };
}

// ---- fixture models + synthetic data for the profiler and the exactness tests -------------
// test/fixtures/mlp_small.onnx and gather_mlp.onnx: input 'x' [N,16] -> output 'y' [N,4]
// logits. Images are 1x16 "pixels"; gather_mlp reads int64(x[0]) as a table index, which
// pixel/255 keeps in {0, 1}. Labels are drawn at random (exactness does not need skill).
import type { ProfileModelSpec } from '../ts/tools/profiler.js';
import { Dataset } from '../ts/contracts/dataset.js';

export function fixtureModelSpecs(): ProfileModelSpec[] {
  const dir = join(root, 'test', 'fixtures');
  return ['mlp_small', 'gather_mlp'].map((name) => ({
    name,
    path: join(dir, `${name}.onnx`),
    file: `${name}.onnx`,
    input: 'x',
    output: 'y',
    outputKind: 'logits' as const,
    itemDims: [16],
    classes: 4,
    params: 0,
    mflopsPerImage: 0,
  }));
}

export function syntheticDataset(n: number, seed: number): Dataset {
  const rnd = mulberry32(seed);
  const pixels = new Uint8Array(n * 16);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(rnd() * 256);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(rnd() * 4);
  return new Dataset(n, 1, 16, 4, pixels, labels);
}

/** CSDATA01 bytes of a dataset (what benchmarks/zoo/train.py writes). */
export function datasetBytes(ds: Dataset): Buffer {
  const head = Buffer.alloc(24);
  head.write('CSDATA01', 0, 'latin1');
  [ds.count, ds.rows, ds.cols, ds.classes].forEach((v, i) => head.writeUInt32LE(v, 8 + 4 * i));
  return Buffer.concat([head, Buffer.from(ds.pixels), Buffer.from(ds.labels)]);
}
