// The zoo-sized planning problem (5 models, 3 stages, 64 thresholds, 64 load levels) on one
// thread and on Piscina workers gives the same plan. The planning time is printed, not
// asserted: speed is measured by `npm run bench:planner`, not by a test on a shared machine.
import t from 'tap';
import { computePlan } from '../planner/compute-plan.js';
import { fixtureProfile } from './planner-fixture.js';

t.test('zoo planning: one thread and workers give the same plan', async (t) => {
  const { profile, source } = await fixtureProfile();
  const opts = { sloP95Ms: 50, lanes: 2, thresholds: 64, maxStages: 3, loadLevels: 64 };
  const one = await computePlan(profile, { ...opts, threads: 1 });
  const two = await computePlan(profile, { ...opts, threads: 2 });
  const f = (s: typeof one.stats) => `total ${(s.totalMs / 1000).toFixed(2)} s (search ${s.searchMs.toFixed(0)} ms, assignment ${s.assignMs.toFixed(0)} ms)`;
  t.comment(`${source} profile, ${profile.models.length} models, ${one.stats.candidatesEvaluated} candidates, frontier ${one.stats.frontierSize}`);
  t.comment(`1 thread:          ${f(one.stats)}`);
  t.comment(`2 Piscina workers: ${f(two.stats)}`);
  t.ok(one.plan.gears.length > 0, `a plan with ${one.plan.gears.length} gears`);
  t.equal(two.stats.candidatesEvaluated, one.stats.candidatesEvaluated, 'the same cascades scored');
  t.same(two.plan.gears.map((g) => [g.minQps, g.stages]), one.plan.gears.map((g) => [g.minQps, g.stages]), 'workers give the same plan');
});
