import t from 'tap';
import { computePlan, PlanError } from '../planner/compute-plan.js';
import { validatePlan } from '../planner/plan-schema.js';
import { planSvg } from '../planner/svg.js';
import { fixtureProfile } from './planner-fixture.js';

t.test('objective accuracy: valid plan, accuracy non-increasing with load, contiguous ranges', async (t) => {
  const { profile } = await fixtureProfile();
  const { plan } = await computePlan(profile, { sloP95Ms: 50, lanes: 2, loadLevels: 32 });
  validatePlan(plan);
  t.ok(plan.gears.length >= 2, `${plan.gears.length} gears`);
  for (let i = 1; i < plan.gears.length; i++) {
    t.ok(plan.gears[i].expectedAccuracy <= plan.gears[i - 1].expectedAccuracy + 1e-12, `gear ${i} accuracy non-increasing`);
    t.ok(plan.gears[i].minQps >= plan.gears[i - 1].maxQps - 1e-9, 'ranges ordered');
  }
  for (const g of plan.gears) t.ok(g.predictedP95Ms <= plan.slo.p95Ms, `gear ${g.id} predicted p95 ${g.predictedP95Ms.toFixed(2)} within SLO`);
  const svg = planSvg(plan);
  t.match(svg, /^<svg/);
  t.match(svg, /load \(queries per second\)/);
});

t.test('impossible SLO: every level listed as unservable, no gear', async (t) => {
  const { profile } = await fixtureProfile();
  const { plan } = await computePlan(profile, { sloP95Ms: 0.001, lanes: 1, loadLevels: 8 });
  validatePlan(plan);
  t.equal(plan.gears.length, 0);
  t.equal(plan.unservable.length, 1);
  t.equal(plan.unservable[0].minQps, 0);
  t.match(plan.unservable[0].reason, /SLO|cap/);
});

t.test('loads above capacity are reported as unservable', async (t) => {
  const { profile } = await fixtureProfile();
  const { plan } = await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 8, maxQps: 1e7 });
  t.ok(plan.unservable.length >= 1);
  t.equal(plan.unservable[plan.unservable.length - 1].maxQps, 1e7);
});

t.test('objective cost: fewest lanes meeting accuracy floor and SLO; clear errors', async (t) => {
  const { profile } = await fixtureProfile();
  const { plan: acc } = await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 8 });
  const floor = acc.gears[Math.floor(acc.gears.length / 2)]?.expectedAccuracy ?? 0.5;
  const need = acc.loadGrid.maxQps * 1.5; // more than one lane can serve
  const { plan } = await computePlan(profile, { sloP95Ms: 50, lanes: 6, objective: 'cost', minAccuracy: floor, workload: [need / 4, need / 2, need], loadLevels: 8 });
  validatePlan(plan);
  t.equal(plan.unservable.length, 0, 'all workload levels served');
  t.ok(plan.lanes.length >= 2 && plan.lanes.length <= 6, `${plan.lanes.length} lanes`);
  for (const g of plan.gears) t.ok(g.expectedAccuracy >= floor, 'accuracy floor met');
  await t.rejects(computePlan(profile, { sloP95Ms: 50, lanes: 2, objective: 'cost', minAccuracy: 0.9999, maxQps: 10 }), PlanError);
  await t.rejects(computePlan(profile, { sloP95Ms: 50, lanes: 2, objective: 'cost', maxQps: 10 }), /min-accuracy/);
  await t.rejects(computePlan(profile, { sloP95Ms: -1, lanes: 2 }), /slo-p95-ms/);
});
