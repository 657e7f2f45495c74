import t from 'tap';
import { columnsOf, evalCascade, type CascadeSpec } from '../planner/cascade-eval.js';
import { mulberry32 } from '../planner/prng.js';
import { candidateThresholds, enumerateSubsequences, prepareSearch, searchSubsequences } from '../planner/search.js';
import type { Profile } from '../ts/contracts/profile-schema.js';
import { fixtureProfile } from './planner-fixture.js';

/** Straightforward reference: route each image through the cascade. */
function reference(p: Profile, spec: CascadeSpec) {
  const k = spec.models.length;
  const reachCount = new Array<number>(k).fill(0);
  let right = 0;
  for (let i = 0; i < p.labels.length; i++) {
    for (let s = 0; s < k; s++) {
      reachCount[s]++;
      const m = p.models[spec.models[s]];
      if (s === k - 1 || m.validation.certainty[spec.measure][i] >= spec.thresholds[s]) {
        right += m.validation.predictions[i] === p.labels[i] ? 1 : 0;
        break;
      }
    }
  }
  return { right, reachCount };
}

t.test('evalCascade equals per-image routing', async (t) => {
  const { profile } = await fixtureProfile();
  const cols = columnsOf(profile);
  const rnd = mulberry32(3);
  const n = profile.labels.length;
  for (let trial = 0; trial < 40; trial++) {
    const k = 1 + Math.floor(rnd() * 3);
    const models = [...Array(profile.models.length).keys()].sort(() => rnd() - 0.5).slice(0, k);
    const measure = (['max_prob', 'margin', 'entropy'] as const)[trial % 3];
    const spec = { models, thresholds: models.slice(1).map(() => rnd()), measure };
    const e = evalCascade(cols, spec);
    const r = reference(profile, spec);
    t.equal(Math.round(e.accuracy * n), r.right, `accuracy ${JSON.stringify(spec)}`);
    t.same(e.reach.map((x) => Math.round(x * n)), r.reachCount, 'reach fractions');
  }
});

t.test('histogram search scores equal exact evaluation for every candidate of sampled subsequences', async (t) => {
  const { profile } = await fixtureProfile();
  const cols = columnsOf(profile);
  const data = prepareSearch(cols, 16);
  const subseqs = enumerateSubsequences(data.costUs, 3);
  const ids = [0, subseqs.findIndex((s) => s.length === 2), subseqs.findIndex((s) => s.length === 3), subseqs.length - 1];
  const c = searchSubsequences(data, subseqs, ids);
  let checked = 0;
  let refined = 0;
  // every candidate when few; else an even sample of ~3000 (evalCascade is O(n) each)
  const stride = Math.max(1, Math.ceil(c.accuracy.length / 3000));
  for (let i = 0; i < c.accuracy.length; i += stride) {
    const models = subseqs[c.subseq[i]];
    const mu = c.measure[i];
    const thresholds = candidateThresholds(data, models, c, i);
    if (thresholds.some((v, s) => !data.grid[mu][models[s]].includes(v))) refined++;
    const e = evalCascade(cols, { models, thresholds, measure: data.measures[mu] });
    if (Math.abs(e.accuracy - c.accuracy[i]) > 1e-12 || Math.abs(e.expectedCostUs - c.costUs[i]) > 1e-9 * e.expectedCostUs) {
      t.fail(`candidate ${i} differs: ${e.accuracy} vs ${c.accuracy[i]}`);
      return;
    }
    checked++;
  }
  t.ok(checked > 100, `${checked} candidates identical to exact evaluation`);
  t.ok(refined > 0, `${refined} of them from the refinement pass (thresholds between grid values)`);
});
