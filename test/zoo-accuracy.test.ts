// Every zoo model loads through the project's native Session and, run on the held-out and
// validation halves with the argmax computed here, reproduces the accuracy the trainer
// recorded (in PyTorch) in the manifest and the model card, within 0.1 point.
import t from 'tap';
import { Session } from '../ts/index.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { defaultManifestPath } from '../ts/contracts/package-root.js';
import { loadDataset, type Dataset } from '../ts/contracts/dataset.js';

const BATCH = 500;

async function accuracy(session: Session, ds: Dataset, input: string, output: string, classes: number): Promise<number> {
  let correct = 0;
  const buf = new Float32Array(BATCH * ds.rows * ds.cols);
  for (let start = 0; start < ds.count; start += BATCH) {
    const n = Math.min(BATCH, ds.count - start);
    const x = ds.toFloat32(start, n, buf).subarray(0, n * ds.rows * ds.cols);
    const res = await session.run({ [input]: { data: x, dims: [n, 1, ds.rows, ds.cols] } });
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
    const session = await Session.create(model.file, { intraOpThreads: 1 });
    t.teardown(() => session.release());
    t.same(session.inputs, [{ name: model.input, type: 'float32', shape: [-1, 1, 28, 28] }]);
    t.equal(session.outputs.length, 1);
    t.match(session.outputs[0], { name: model.output, type: 'float32' });
    // The batch axis is dynamic; the class axis is 10, or dynamic where the exported graph
    // averages flipped views (resnet).
    t.ok(session.outputs[0].shape.length === 2 && session.outputs[0].shape[0] === -1 && [10, -1].includes(session.outputs[0].shape[1]), `output shape ${JSON.stringify(session.outputs[0].shape)}`);
    for (const [half, ds] of Object.entries(halves) as [keyof typeof halves, Dataset][]) {
      const acc = await accuracy(session, ds, model.input, model.output, manifest.output.classes);
      const recorded = model.accuracy![half];
      t.ok(Math.abs(acc - recorded) <= 0.001, `${half}: native Session ${(acc * 100).toFixed(2)}% vs recorded ${(recorded * 100).toFixed(2)}%`);
    }
  });
}
