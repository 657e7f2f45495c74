// The correctness oracle on the real zoo: a three-stage Fashion-MNIST cascade with fixed
// thresholds over the whole validation half. Every model is also run with onnxruntime-node,
// certainties and routing are computed here in TypeScript, and the engine must agree on the
// class and exit stage of every image, with certainties within 1e-5.
import t from 'tap';
import { CascadeEngine } from '../ts/index.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { defaultManifestPath } from '../ts/contracts/package-root.js';
import { loadDataset, toFloat32 } from '../ts/contracts/dataset.js';
import { route, runWithOrtNode, type Measure } from './helpers/cascade-oracle.js';

const manifest = await loadManifest(defaultManifestPath());
const val = loadDataset(manifest.data.validation);
const x = toFloat32(val);
const n = val.count;
const picks = [0, Math.floor(manifest.models.length / 2), manifest.models.length - 1];
const members = picks.map((i) => manifest.models[i]);
const engineModels = members.map((m) => ({
  name: m.name, path: m.file, input: m.input, output: m.output, itemDims: manifest.input.shape, classes: manifest.output.classes,
}));
const outputs = await Promise.all(engineModels.map((m) => runWithOrtNode(m, x, n)));

for (const [measure, thresholds] of [['max_prob', [0.9, 0.8]], ['margin', [0.8, 0.6]], ['entropy', [0.7, 0.5]]] as [Measure, number[]][]) {
  t.test(`${members.map((m) => m.name).join(' -> ')} with ${measure} equals the oracle on ${n} validation images`, async (t) => {
    const stages = engineModels.map((m, i) => ({ model: m.name, threshold: i < 2 ? thresholds[i] : 0, measure, maxBatch: 32, maxQueueDelayUs: 2000 }));
    const engine = await CascadeEngine.create({ models: engineModels, lanes: [{}, {}], gear: { id: 1, stages }, maxQueueSizePerStage: n });
    const got = await Promise.all(engine.submit(x));
    await engine.close();
    const want = route(outputs, engineModels.map((m) => m.classes), stages.map((s, i) => ({ model: i, threshold: s.threshold, measure })), n);
    let wrongClass = 0, wrongStage = 0, maxDiff = 0, correct = 0;
    const perStage = [0, 0, 0];
    got.forEach((r, i) => {
      if (r.predictedClass !== want[i].cls) wrongClass++;
      if (r.exitStage !== want[i].exitStage || r.model !== engineModels[want[i].model].name) wrongStage++;
      maxDiff = Math.max(maxDiff, Math.abs(r.certainty - want[i].certainty));
      if (r.predictedClass === val.labels[i]) correct++;
      perStage[r.exitStage]++;
    });
    t.equal(got.filter((r) => r.status === 'ok').length, n, 'every image answered');
    t.equal(wrongClass, 0, 'same class for every image');
    t.equal(wrongStage, 0, 'same exit stage and model for every image');
    t.ok(maxDiff < 1e-5, `certainties within 1e-5 (max diff ${maxDiff.toExponential(2)})`);
    t.ok(perStage.every((c) => c > 0), `every stage answers some images (${perStage.join('/')}); cascade accuracy ${(correct / n * 100).toFixed(2)}%`);
  });
}
