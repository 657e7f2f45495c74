// planner/selection-margin.ts: the margin the evaluation adds to every validation target,
// estimated on the validation half alone by choosing on one random half and judging on the
// other. Checked against direct counts and against properties that a wrong estimator breaks.
import t from 'tap';
import { columnsOf, evalCascade } from '../planner/cascade-eval.js';
import { bestSingleAccuracy, selectionMargin, selectionSplit, subsetColumns } from '../planner/selection-margin.js';
import { syntheticProfile } from './planner-fixture.js';

const cols = columnsOf(syntheticProfile(600));

t.test('subsetColumns keeps exactly the rows asked for', async (t) => {
  const idx = [5, 0, 599, 17, 17];
  const sub = subsetColumns(cols, idx);
  t.equal(sub.n, idx.length);
  for (let m = 0; m < cols.correct.length; m++) {
    t.same(Array.from(sub.correct[m]), idx.map((i) => cols.correct[m][i]), `model ${m}: correct`);
    t.same(Array.from(sub.certainty.margin[m]), idx.map((i) => cols.certainty.margin[m][i]), `model ${m}: margin certainty`);
  }
  // a single model's accuracy on the subset, counted by hand
  const right = idx.reduce((a, i) => a + cols.correct[0][i], 0);
  t.equal(evalCascade(sub, { models: [0], thresholds: [], measure: 'max_prob' }).accuracy, right / idx.length);
});

t.test('bestSingleAccuracy is the best model counted by hand', async (t) => {
  const counts = cols.correct.map((c) => c.reduce((a, b) => a + b, 0) / cols.n);
  t.equal(bestSingleAccuracy(cols), Math.max(...counts));
});

t.test('a choice judged on the very images it was chosen on falls short by nothing', async (t) => {
  for (const drop of [0, 0.01, 0.05]) {
    const s = selectionSplit(cols, cols, drop);
    t.equal(s.shortfall, 0, `drop ${drop}: chosen and judged on one set`);
    t.ok(s.leadChosen >= -drop - 1e-12, `drop ${drop}: the choice meets the target where it was chosen (lead ${s.leadChosen})`);
  }
});

t.test('the margin is the mean shortfall over the halvings, scaled to full size, never negative', async (t) => {
  const m = selectionMargin(cols, 0.01, { splits: 3, seed: 7 });
  t.equal(m.splits.length, 3);
  for (const s of m.splits) t.ok(Math.abs(s.shortfall - (s.leadChosen - s.leadFresh)) < 1e-15);
  const mean = m.splits.reduce((a, s) => a + s.shortfall, 0) / 3;
  t.equal(m.margin, Math.max(0, mean / Math.SQRT2));
  t.same(selectionMargin(cols, 0.01, { splits: 3, seed: 7 }).margin, m.margin, 'deterministic for a seed');
  // the halves differ between seeds, so the shortfalls do too (their images are other ones)
  const other = selectionMargin(cols, 0.01, { splits: 3, seed: 8 });
  t.not(other.splits.map((s) => s.leadFresh).join(), m.splits.map((s) => s.leadFresh).join(), 'another seed halves differently');
});

t.test('bad options are refused by name', async (t) => {
  t.throws(() => selectionMargin(cols, 0.01, { splits: 0 }), /splits/);
  t.throws(() => selectionMargin(cols, -0.1), /drop/);
  t.throws(() => selectionMargin(subsetColumns(cols, [1, 2]), 0.01), /at least 4/);
});
