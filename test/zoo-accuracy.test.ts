// Every zoo model, run through ONNX Runtime on the held-out and validation halves, must
// reproduce the accuracy the trainer recorded in the manifest (within 0.1 point).
import t from 'tap';
import * as ort from 'onnxruntime-node';
import { defaultManifestPath, loadManifest } from '../ts/zoo/manifest.js';
import { loadDataset, type Dataset } from '../ts/zoo/dataset.js';

const BATCH = 500;

async function accuracy(session: ort.InferenceSession, ds: Dataset, input: string, output: string, classes: number): Promise<number> {
  let correct = 0;
  const buf = new Float32Array(BATCH * ds.rows * ds.cols);
  for (let start = 0; start < ds.count; start += BATCH) {
    const n = Math.min(BATCH, ds.count - start);
    const x = ds.toFloat32(start, n, buf).subarray(0, n * ds.rows * ds.cols);
    const res = await session.run({ [input]: new ort.Tensor('float32', x, [n, 1, ds.rows, ds.cols]) });
    const out = res[output];
    if (!out) throw new Error(`no output ${output}`);
    const logits = out.data as Float32Array;
    if (logits.length !== n * classes) throw new Error(`output has ${logits.length} values, expected ${n * classes}`);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      if (best === ds.labels[start + i]) correct++;
    }
  }
  return correct / ds.count;
}

const manifest = await loadManifest(defaultManifestPath());
const halves = { heldout: loadDataset(manifest.data.heldout), validation: loadDataset(manifest.data.validation) };

for (const model of manifest.models) {
  t.test(model.name, async (t) => {
    t.ok(model.accuracy, 'the manifest records accuracies');
    const session = await ort.InferenceSession.create(model.file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    t.teardown(() => session.release());
    t.same(session.inputNames, [model.input]);
    t.same(session.outputNames, [model.output]);
    for (const [half, ds] of Object.entries(halves) as [keyof typeof halves, Dataset][]) {
      const acc = await accuracy(session, ds, model.input, model.output, manifest.output.classes);
      const recorded = model.accuracy![half];
      t.ok(Math.abs(acc - recorded) <= 0.001, `${half}: ONNX Runtime ${(acc * 100).toFixed(2)}% vs recorded ${(recorded * 100).toFixed(2)}%`);
    }
  });
}
