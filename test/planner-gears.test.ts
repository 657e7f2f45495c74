import t from 'tap';
import { laneSlowdown } from '../planner/batching.js';
import { computePlan, kBelowTargetCostSpan, PlanError, thin, thinBelowTarget, thinForGears } from '../planner/compute-plan.js';
import type { FrontierPoint } from '../planner/search.js';
import { validatePlan } from '../ts/contracts/plan-schema.js';
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
  // the fewest: one lane less leaves a level unserved
  const { plan: fewer } = await computePlan(profile, { sloP95Ms: 50, lanes: plan.lanes.length - 1, objective: 'cost', minAccuracy: floor, workload: [need / 4, need / 2, need], loadLevels: 8 });
  t.ok(fewer.unservable.length > 0, `${plan.lanes.length - 1} lanes do not serve every level`);
  await t.rejects(computePlan(profile, { sloP95Ms: 50, lanes: 2, objective: 'cost', minAccuracy: 0.9999, maxQps: 10 }), PlanError);
  await t.rejects(computePlan(profile, { sloP95Ms: 50, lanes: 2, objective: 'cost', maxQps: 10 }), /min-accuracy/);
  await t.rejects(computePlan(profile, { sloP95Ms: -1, lanes: 2 }), /slo-p95-ms/);
});

t.test("host CPU on the lanes' cores: lanes slow down with load, plans shrink to match", async (t) => {
  t.equal(laneSlowdown({ lanes: 1 }, 1e6), 1, 'no host model: no slowdown');
  const host = { cores: 2, usPerRequest: 500 };
  t.equal(laneSlowdown({ lanes: 1, hostCpu: host }, 1000), 1, '0.5 core taken, a whole core left for the lane');
  t.equal(laneSlowdown({ lanes: 1, hostCpu: host }, 3000), 2, '1.5 cores taken: half a core for the lane');
  t.equal(laneSlowdown({ lanes: 2, hostCpu: host }, 2000), 2, 'one core left for two lanes');
  t.equal(laneSlowdown({ lanes: 1, hostCpu: host }, 4000), Infinity, 'no core left');
  const { profile } = await fixtureProfile();
  const base = await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 16 });
  const grid = base.plan.loadGrid.maxQps;
  const baseTop = base.plan.gears[base.plan.gears.length - 1].maxQps;
  // host work that takes the one core entirely at half the base plan's top load
  const hostCpu = { cores: 1, usPerRequest: 1e6 / (baseTop / 2) };
  const { plan } = await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 16, maxQps: grid, hostCpu });
  validatePlan(plan);
  t.same(plan.planner.hostCpu, hostCpu, 'the plan records what it assumed');
  const top = plan.gears.length ? plan.gears[plan.gears.length - 1].maxQps : 0;
  t.ok(top < baseTop / 2, `served up to ${top.toFixed(0)} QPS, below half of ${baseTop.toFixed(0)}`);
  const last = plan.unservable[plan.unservable.length - 1];
  t.equal(last.maxQps, grid, 'the loads above are reported unservable');
  t.ok(last.minQps <= baseTop / 2, `from ${last.minQps.toFixed(0)} QPS on`);
  t.match(last.reason, /leaves the lanes no core|above the cap/, 'for lack of lane CPU');
  await t.rejects(computePlan(profile, { sloP95Ms: 50, lanes: 1, hostCpu: { cores: 0, usPerRequest: 10 } }), /--host-cores must be a positive number/);
});

t.test('gear candidates: evenly by position, plus evenly by log cost (the dear end of a frontier dense at the cheap end)', async (t) => {
  // 200 points: cost 1..2 us for the first 180 (accuracy 0.80..0.89), then 20 from 2 to 256 us
  const frontier: FrontierPoint[] = Array.from({ length: 200 }, (_, i) => ({
    spec: { models: [0], thresholds: [], measure: 'max_prob' as const },
    accuracy: 0.8 + i * 0.0005,
    expectedCostUs: i < 180 ? 1 + i / 180 : 2 * Math.pow(128, (i - 179) / 20),
  }));
  const max = 10;
  const got = thinForGears(frontier, max);
  // reference: the positional picks, and for each log-spaced cost the dearest point within it
  const want = new Set(thin(frontier, max));
  for (let k = 0; k < max; k++) {
    const cap = 1 * Math.pow(256 / 1, k / (max - 1));
    const within = frontier.filter((p) => p.expectedCostUs <= cap * (1 + 1e-12));
    want.add(within[within.length - 1]);
  }
  t.same(got, frontier.filter((p) => want.has(p)), 'the union, cheapest first, no repeats');
  t.ok(got.length > thin(frontier, max).length, 'more candidates than by position alone');
  // by position alone, one candidate between 2 and 256 us; with the log-cost picks, no two
  // neighbours among the dear ones more than 256^(1/9) ~ 1.85x apart in cost (plus one step of the frontier)
  const dear = got.filter((p) => p.expectedCostUs >= 2);
  t.equal(thin(frontier, max).filter((p) => p.expectedCostUs > 2).length, 1);
  for (let i = 1; i < dear.length; i++) t.ok(dear[i].expectedCostUs / dear[i - 1].expectedCostUs <= 1.85 * Math.pow(128, 1 / 20) + 1e-9, `neighbours ${i - 1}, ${i}: cost ratio ${(dear[i].expectedCostUs / dear[i - 1].expectedCostUs).toFixed(2)}`);
  t.equal(thinForGears(frontier.slice(0, 8), max).length, 8, 'a frontier of at most max points: all of it');
});

t.test('candidates below the accuracy target: spaced by cost ratio down from the static cascade\'s cost, and the cheapest', async (t) => {
  // a frontier dense at the cheap end, as the zoo's: 300 points of cost 1..4 us (accuracy 0.80..0.89),
  // then 100 from 4 to 64 us (0.89..0.93); the static cascade costs 64 us
  const frontier: FrontierPoint[] = Array.from({ length: 400 }, (_, i) => ({
    spec: { models: [0], thresholds: [], measure: 'max_prob' as const },
    accuracy: 0.8 + i * 0.0003,
    expectedCostUs: i < 300 ? 1 + (3 * i) / 300 : 4 * Math.pow(16, (i - 299) / 100),
  }));
  const top = 64;
  const max = 12;
  const got = thinBelowTarget(frontier, top, max);
  // reference: for each of max - 1 costs from 64 down to 64/8 by equal ratios, the dearest point within it; and the cheapest point
  const want = new Set([frontier[0]]);
  for (let k = 0; k < max - 1; k++) {
    const cap = top / Math.pow(kBelowTargetCostSpan, k / (max - 2));
    const within = frontier.filter((p) => p.expectedCostUs <= cap * (1 + 1e-12));
    want.add(within[within.length - 1]);
  }
  t.same(got, frontier.filter((p) => want.has(p)), 'the picks, cheapest first, no repeats');
  t.ok(got.length <= max, `at most ${max} (${got.length})`);
  // between the static cascade's cost and 1/8 of it, neighbours at most 8^(1/10) apart in cost (plus a step of the frontier)
  const near = got.filter((p) => p.expectedCostUs >= top / kBelowTargetCostSpan - 1e-9);
  t.ok(near.length >= max - 2, `${near.length} picks within 8x of the static cascade's cost`);
  for (let i = 1; i < near.length; i++) t.ok(near[i].expectedCostUs / near[i - 1].expectedCostUs <= Math.pow(8, 1 / 10) * Math.pow(16, 1 / 100) + 1e-9, `neighbours ${i - 1}, ${i}: cost ratio ${(near[i].expectedCostUs / near[i - 1].expectedCostUs).toFixed(3)}`);
  // by position alone: at most 3 candidates within 8x of the static cascade's cost (the frontier's points are mostly cheap)
  t.ok(thin(frontier, max).filter((p) => p.expectedCostUs >= top / kBelowTargetCostSpan).length <= 3, 'by position, few picks near the static cascade');
  t.equal(got[got.length - 1], frontier.filter((p) => p.expectedCostUs <= top).at(-1), 'the dearest pick: the most accurate point costing at most the static cascade');
  t.same(thinBelowTarget(frontier.slice(0, 10), top, max), frontier.slice(0, 10), 'a frontier of at most max points: all of it');
});
