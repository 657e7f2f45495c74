// A GPU-like profile built from published figures (the BERT family on a V100, as in the
// CascadeServe paper's workload), for the simulator comparison beyond one machine.
//
// Batch times, t(b) = a + c*b milliseconds per model:
// - BERT-large on a V100: 14.1 ms at batch 1, 243.6 ms at batch 32 (published) =>
//   c_large = (243.6 - 14.1) / 31 = 7.40 ms per item, a_large = 6.70 ms.
// - BERT-tiny: 1.65 ms at batch 1 (published).
// - per-item cost c scales with the parameter count (tiny 4.4M, mini 11.3M, small 29.1M,
//   medium 41.7M, base 110M, large 340M): c_m = c_large * params_m / params_large;
// - fixed cost a (kernel launches, per layer) interpolated linearly in the layer count between
//   tiny (2 layers, a = 1.65 - c_tiny) and large (24 layers, 6.70 ms).
// Accuracies (sentiment, binary): 0.810 (tiny) to 0.849 (base), as published for the BERT
// miniatures; mini/small/medium interpolated (0.822, 0.833, 0.840). BERT-large is not a
// member (the paper's cascade uses tiny..base).
// Answers: SYNTHETIC, deterministic (seeded): item difficulty z ~ N(0,1) shared by all models
// (so their errors correlate, as real models' do), model noise e ~ N(0, 0.5^2); model m is
// right iff z + e < q_m with q_m set so its accuracy is exactly its published figure in
// expectation; max_prob = 0.5 + 0.5*sigmoid-like(q_m - z - e + noise): higher for right answers,
// so certainty thresholds work as for real models (not calibrated to BERT's real certainties).
import { mulberry32 } from '../../planner/prng.js';
import type { Profile, ProfileModel, ValidationResults } from '../../ts/contracts/profile-schema.js';

export const kBertModels = [
  { name: 'bert-tiny', params: 4.4e6, layers: 2, accuracy: 0.81 },
  { name: 'bert-mini', params: 11.3e6, layers: 4, accuracy: 0.822 },
  { name: 'bert-small', params: 29.1e6, layers: 4, accuracy: 0.833 },
  { name: 'bert-medium', params: 41.7e6, layers: 8, accuracy: 0.84 },
  { name: 'bert-base', params: 110e6, layers: 12, accuracy: 0.849 },
];
const kLarge = { params: 340e6, layers: 24, b1Ms: 14.1, b32Ms: 243.6 };
const kTinyB1Ms = 1.65;

export function bertBatchMs(m: { params: number; layers: number }, b: number): number {
  const cLarge = (kLarge.b32Ms - kLarge.b1Ms) / 31;
  const aLarge = kLarge.b1Ms - cLarge;
  const c = (cLarge * m.params) / kLarge.params;
  const cTiny = (cLarge * kBertModels[0].params) / kLarge.params;
  const aTiny = kTinyB1Ms - cTiny;
  const a = aTiny + ((aLarge - aTiny) * (m.layers - 2)) / (kLarge.layers - 2);
  return a + c * b;
}

function gauss(rnd: () => number): number {
  const u = 1 - rnd();
  const v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Inverse standard normal CDF (Acklam's approximation; enough here). */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = p < 0.5 ? p : 1 - p;
  let x: number;
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  } else {
    const r = q - 0.5;
    const s = r * r;
    x = ((((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r) / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    return p < 0.5 ? x : -x;
  }
  return p < 0.5 ? -x : x;
}

const f32floor = (x: number) => {
  const f = Math.fround(x);
  return f > x ? Math.fround(f - Math.max(1e-7, Math.abs(f) * 1e-7)) : f;
};

function half(n: number, seed: number): { labels: number[]; results: ValidationResults[] } {
  const rnd = mulberry32(seed);
  const labels: number[] = [];
  const z: number[] = [];
  for (let i = 0; i < n; i++) {
    labels.push(rnd() < 0.5 ? 0 : 1);
    z.push(gauss(rnd));
  }
  const sd = Math.sqrt(1 + 0.25);
  const results = kBertModels.map((m) => {
    const q = probit(m.accuracy) * sd;
    const predictions: number[] = [];
    const correct: number[] = [];
    const maxProb: number[] = [];
    const margin: number[] = [];
    const entropy: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = q - z[i] - 0.5 * gauss(rnd);
      const ok = v > 0 ? 1 : 0;
      correct.push(ok);
      predictions.push(ok ? labels[i] : 1 - labels[i]);
      const p = 1 / (1 + Math.exp(-2.5 * Math.abs(v + 0.4 * gauss(rnd)))); // in [0.5, 1)
      maxProb.push(f32floor(p));
      margin.push(f32floor(2 * p - 1));
      const h = -(p * Math.log(p) + (1 - p) * Math.log(Math.max(1e-12, 1 - p)));
      entropy.push(f32floor(Math.max(0, 1 - h / Math.LN2)));
    }
    return { count: n, predictions, correct, certainty: { max_prob: maxProb, margin, entropy } } as ValidationResults;
  });
  return { labels, results };
}

/** The GPU-like profile: one "lane" = one V100. */
export function bertV100Profile(n = 4000): Profile {
  const val = half(n, 2406);
  const held = half(n, 14424);
  const batches = [1, 2, 4, 8, 16, 32, 64];
  const models: ProfileModel[] = kBertModels.map((m, i) => ({
    name: m.name,
    file: `${m.name}.onnx`,
    sha256: '0'.repeat(64),
    params: m.params,
    mflopsPerImage: 0,
    memoryBytes: m.params * 4,
    timings: [{ laneKind: 'cpu', intraOpThreads: 1, batchTimesUs: batches.map((b) => ({ batch: b, p50: bertBatchMs(m, b) * 1000, p95: bertBatchMs(m, b) * 1000, reps: 1 })) }],
    validation: val.results[i],
    heldout: held.results[i],
  })) as ProfileModel[];
  return {
    schema: 'cascadeserve.profile/1',
    createdAt: new Date(0).toISOString(),
    machine: { hostname: 'v100 (published figures)', cpus: 0, cpuModel: 'NVIDIA V100 32 GB (modelled)', platform: 'linux', arch: 'x64' },
    runtime: { name: 'onnxruntime', version: 'n/a' },
    manifest: { path: 'n/a', name: 'bert-v100' },
    lanes: [{ kind: 'cpu', intraOpThreads: 1 }],
    models,
    labels: val.labels,
    heldoutLabels: held.labels,
  } as unknown as Profile;
}
