// `npm run zoo:card`: measures the model card of the embedded zoo on this machine through the
// native Session (single intra-op thread): accuracy on the validation and held-out halves
// (argmax computed here), and time per image at batch 1 and 32 (median over repetitions).
// Writes zoo-card.json (benchmarks/local/), and checks the spans the zoo promises; with --record
// (`npm run zoo:card -- --record`), benchmarks/results/zoo-card.json and the table between the
// card markers of models/fmnist/README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from '../../ts/index.js';
import { loadManifest } from '../../ts/contracts/manifest.js';
import { defaultManifestPath } from '../../ts/contracts/package-root.js';
import { loadDataset, toFloat32, type Dataset } from '../../ts/contracts/dataset.js';
import { median, recordFlag, table, writeResult } from '../stats.js';

const kBegin = '<!-- card:begin (written by npm run zoo:card) -->';
const kEnd = '<!-- card:end -->';

async function accuracy(s: Session, input: string, ds: Dataset, itemDims: number[]): Promise<number> {
  let right = 0;
  const batch = 500;
  for (let start = 0; start < ds.count; start += batch) {
    const n = Math.min(batch, ds.count - start);
    const out = await s.run({ [input]: { data: toFloat32(ds, start, n), dims: [n, ...itemDims] } });
    const logits = Object.values(out)[0].data as Float32Array;
    const classes = logits.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      if (best === ds.labels[start + i]) right++;
    }
  }
  return right / ds.count;
}

async function usPerImage(s: Session, input: string, ds: Dataset, itemDims: number[], batch: number, budgetMs: number): Promise<number> {
  const feeds = { [input]: { data: toFloat32(ds, 0, batch), dims: [batch, ...itemDims] } };
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const reps: number[] = [];
  for (let r = 0; r < 5; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < budgetMs * 1e6 || calls < 3) {
      await s.run(feeds);
      calls++;
      elapsed = Number(process.hrtime.bigint() - t0);
    }
    reps.push(elapsed / 1000 / calls / batch);
  }
  return median(reps);
}

export async function runZooCard(opts: { quick?: boolean; record?: boolean } = {}) {
  const manifest = await loadManifest(defaultManifestPath());
  const val = loadDataset(manifest.data.validation);
  const held = loadDataset(manifest.data.heldout);
  const itemDims = manifest.input.shape;
  const rows = [];
  for (const m of manifest.models) {
    const s = await Session.create(m.file, { intraOpThreads: 1 });
    const accVal = await accuracy(s, m.input, val, itemDims);
    const accHeld = await accuracy(s, m.input, held, itemDims);
    const b1 = await usPerImage(s, m.input, val, itemDims, 1, opts.quick ? 50 : 200);
    const b32 = await usPerImage(s, m.input, val, itemDims, 32, opts.quick ? 50 : 300);
    s.release();
    rows.push({ name: m.name, params: m.params, mflopsPerImage: m.mflopsPerImage, validationAccuracy: accVal, heldoutAccuracy: accHeld, usPerImageBatch1: b1, usPerImageBatch32: b32 });
  }
  const cheapest = rows[0];
  const strongest = rows[rows.length - 1];
  const heldAccs = rows.map((r) => r.heldoutAccuracy);
  const spans = {
    flops: strongest.mflopsPerImage / cheapest.mflopsPerImage,
    timeBatch32: Math.max(...rows.map((r) => r.usPerImageBatch32)) / Math.min(...rows.map((r) => r.usPerImageBatch32)),
    accuracyPoints: (Math.max(...heldAccs) - Math.min(...heldAccs)) * 100,
    bestHeldout: Math.max(...heldAccs),
  };
  const text = table(
    ['model', 'params', 'MFLOPs/image', 'val acc %', 'held-out acc %', 'us/image b=1', 'us/image b=32'],
    rows.map((r) => [r.name, r.params, r.mflopsPerImage, (r.validationAccuracy * 100).toFixed(2), (r.heldoutAccuracy * 100).toFixed(2), r.usPerImageBatch1, r.usPerImageBatch32]),
  );
  const spanText = `spans: FLOPs ${spans.flops.toFixed(0)}x, time at batch 32 ${spans.timeBatch32.toFixed(0)}x, held-out accuracy ${spans.accuracyPoints.toFixed(1)} points, best held-out ${(spans.bestHeldout * 100).toFixed(2)}%`;
  const path = writeResult('zoo-card', { description: 'model card: accuracy through the native Session, time per image single-threaded', models: rows, spans }, opts.record ?? false);

  const readmePath = manifest.dir + '/README.md';
  const md = [
    kBegin,
    '',
    `Measured by \`npm run zoo:card\` on ${new Date().toISOString().slice(0, 10)} (${rows.length} models, native Session, 1 intra-op thread; medians of 5 repetitions):`,
    '',
    '| model | parameters | MFLOPs/image | validation acc. | held-out acc. | us/image, batch 1 | us/image, batch 32 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.params.toLocaleString('en-US')} | ${r.mflopsPerImage.toFixed(3)} | ${(r.validationAccuracy * 100).toFixed(2)}% | ${(r.heldoutAccuracy * 100).toFixed(2)}% | ${r.usPerImageBatch1.toFixed(1)} | ${r.usPerImageBatch32.toFixed(1)} |`),
    '',
    spanText + '.',
    '',
    kEnd,
  ].join('\n');
  if (!opts.record) return { text: `${text}\n${spanText}`, path, results: { rows, spans } };
  const old = readFileSync(readmePath, 'utf8');
  const a = old.indexOf(kBegin);
  const b = old.indexOf(kEnd);
  writeFileSync(readmePath, a >= 0 && b > a ? old.slice(0, a) + md + old.slice(b + kEnd.length) : `${old.trimEnd()}\n\n## Measured on this machine\n\n${md}\n`);
  return { text: `${text}\n${spanText}`, path, results: { rows, spans } };
}

if (process.argv[1]?.endsWith('card.js')) {
  const record = recordFlag();
  const { text, path } = await runZooCard({ quick: process.argv.includes('--quick'), record });
  process.stdout.write(`${text}\n(written to ${path}${record ? ' and models/fmnist/README.md' : ''})\n`);
}
