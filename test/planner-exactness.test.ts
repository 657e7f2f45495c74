// Exactness: a cascade's accuracy and reach fractions computed by the planner from the
// profile's cached answers (planner/cascade-eval.ts) equal those of the same cascade run
// through the native engine (CascadeEngine, 2 lanes, real batching) on the validation half.
// Uses the zoo (models/fmnist: its committed profile.json when it matches the model files,
// else a fresh answers-only profile); without the zoo, the fixture models on synthetic data.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { columnsOf, evalCascade, exitStages, type CascadeSpec } from '../planner/cascade-eval.js';
import { checkProfileAgainstManifest } from '../ts/tools/profile-check.js';
import { profileModels, type ProfileModelSpec } from '../ts/tools/profiler.js';
import { kCertaintyMeasures, validateProfile, type Profile } from '../ts/contracts/profile-schema.js';
import { prepareSearch, searchFrontier } from '../planner/search.js';
import { CascadeEngine } from '../ts/engine/engine.js';
import { loadDataset, type Dataset } from '../ts/contracts/dataset.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { fixtureModelSpecs, syntheticDataset } from './planner-fixture.js';
import { root } from '../testkit/paths.js';

async function setup(): Promise<{ source: string; profile: Profile; specs: ProfileModelSpec[]; data: Dataset }> {
  const manifestPath = join(root, 'models', 'fmnist', 'cascade.json');
  if (existsSync(manifestPath)) {
    const manifest = await loadManifest(manifestPath);
    const specs: ProfileModelSpec[] = manifest.models.map((m) => ({
      name: m.name, path: m.file, file: m.file, input: m.input, output: m.output, outputKind: m.outputKind,
      itemDims: manifest.input.shape, classes: manifest.output.classes, params: m.params, mflopsPerImage: m.mflopsPerImage,
    }));
    const data = loadDataset(manifest.data.validation);
    const committed = join(manifest.dir, 'profile.json');
    if (existsSync(committed)) {
      const profile = validateProfile(JSON.parse(readFileSync(committed, 'utf8')));
      try {
        checkProfileAgainstManifest(profile, manifest);
        return { source: 'zoo, committed profile.json', profile, specs, data };
      } catch (err) {
        process.emitWarning(`models/fmnist/profile.json is stale (${(err as Error).message}); profiling afresh`);
      }
    }
    const profile = await profileModels({ models: specs, validation: data, manifest: { path: manifestPath, name: manifest.name }, skipTiming: true, dataBatch: 64 });
    return { source: 'zoo, fresh answers-only profile', profile, specs, data };
  }
  const specs = fixtureModelSpecs();
  const data = syntheticDataset(3000, 11);
  const profile = await profileModels({ models: specs, validation: data, manifest: { path: 'cascade.json', name: 'fixture' }, skipTiming: true, dataBatch: 48 });
  return { source: 'fixture models, synthetic data', profile, specs, data };
}

t.test('cached cascade evaluation equals the engine', async (t) => {
  const { source, profile, specs, data } = await setup();
  t.comment(`data: ${source}; ${profile.models.length} models, ${data.count} images`);
  const cols = columnsOf(profile);
  const search = prepareSearch(cols, 64);
  const { frontier } = searchFrontier(search, Math.min(3, profile.models.length));
  // frontier cascades spread over cost, plus one multi-stage cascade per measure with
  // thresholds from the search grid (middle of the grid)
  const picks: CascadeSpec[] = [];
  const step = Math.max(1, Math.floor(frontier.length / 6));
  for (let i = 0; i < frontier.length; i += step) picks.push(frontier[i].spec);
  const order = profile.models.map((_, i) => i).sort((a, b) => cols.costUs[a] - cols.costUs[b] || a - b);
  const chain = order.length >= 3 ? [order[0], order[Math.floor(order.length / 2)], order[order.length - 1]] : order;
  kCertaintyMeasures.forEach((measure, mu) => {
    picks.push({ models: chain, thresholds: chain.slice(0, -1).map((m) => search.grid[mu][m][Math.floor(search.grid[mu][m].length / 2)]), measure });
  });
  const engine = await CascadeEngine.create({
    models: specs.map((m) => ({ name: m.name, path: m.path, input: m.input, output: m.output, itemDims: m.itemDims, classes: m.classes, outputKind: m.outputKind })),
    lanes: [{}, {}],
    maxQueueSizePerStage: data.count,
    gear: { id: 0, stages: [{ model: specs[0].name, threshold: 0, maxBatch: 1 }] },
  });
  const x = data.toFloat32();
  let id = 1;
  for (const spec of picks) {
    const k = spec.models.length;
    const name = `${spec.models.map((m) => profile.models[m].name).join('>')} ${spec.measure} [${spec.thresholds.map((v) => v.toPrecision(6)).join(', ')}]`;
    const want = evalCascade(cols, spec);
    const wantExit = exitStages(cols, spec);
    engine.setGear({
      id: id++,
      stages: spec.models.map((m, s) => ({ model: profile.models[m].name, threshold: s < k - 1 ? spec.thresholds[s] : 0, measure: spec.measure, maxBatch: 16, maxQueueDelayUs: 200 })),
    });
    const got = await Promise.all(engine.submit(x));
    let right = 0;
    let exitMismatch = 0;
    const reachCount = new Array<number>(k).fill(0);
    got.forEach((r, i) => {
      if (r.status !== 'ok') throw new Error(`image ${i}: ${r.status}`);
      if (r.predictedClass === data.labels[i]) right++;
      for (let s = 0; s <= r.exitStage; s++) reachCount[s]++;
      if (r.exitStage !== wantExit[i]) exitMismatch++;
    });
    t.equal(exitMismatch, 0, `${name}: every image exits where the cache says`);
    t.equal(right, Math.round(want.accuracy * data.count), `${name}: accuracy ${want.accuracy.toFixed(4)} equal`);
    t.same(reachCount.map((c) => c / data.count), want.reach, `${name}: reach ${want.reach.map((r) => r.toFixed(3)).join('/')} equal`);
  }
  await engine.close();
});
