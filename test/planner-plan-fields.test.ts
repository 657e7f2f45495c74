// The plan fields added for #14 (sustainedQps, serviceRateQps, burstBudgetItems, static,
// staticGearId, accuracyObjective) are optional: plans written before them still validate,
// and malformed values are named by their path.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validatePlan } from '../ts/contracts/plan-schema.js';
import { computePlan } from '../planner/compute-plan.js';
import { syntheticProfile } from './planner-fixture.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const kNewGearFields = ['sustainedQps', 'serviceRateQps', 'burstBudgetItems', 'static'];

t.test('a plan without the #14 fields still validates', async (t) => {
  const { plan } = await computePlan(syntheticProfile(500), { sloP95Ms: 50, lanes: 1, loadLevels: 6, minAccuracy: 0.8 });
  const old = clone(plan) as any;
  delete old.staticGearId;
  delete old.accuracyObjective;
  for (const g of old.gears) for (const f of kNewGearFields) delete g[f];
  t.doesNotThrow(() => validatePlan(old));
  // the zoo's committed plan, written before these fields existed
  const zoo = JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'plan.json'), 'utf8'));
  t.doesNotThrow(() => validatePlan(zoo), 'models/fmnist/plan.json validates');
});

t.test('the #14 fields are checked when present', async (t) => {
  const { plan } = await computePlan(syntheticProfile(500), { sloP95Ms: 50, lanes: 1, loadLevels: 6, minAccuracy: 0.8 });
  t.doesNotThrow(() => validatePlan(clone(plan)));
  const p1 = clone(plan) as any;
  p1.gears[0].burstBudgetItems = 2.5;
  t.throws(() => validatePlan(p1), /gears\[0\]\.burstBudgetItems: expected an integer/);
  const p2 = clone(plan) as any;
  p2.gears[0].sustainedQps = -1;
  t.throws(() => validatePlan(p2), /gears\[0\]\.sustainedQps/);
  const p3 = clone(plan) as any;
  p3.staticGearId = 99;
  t.throws(() => validatePlan(p3), /staticGearId: no gear has id 99/);
  const p4 = clone(plan) as any;
  p4.staticGearId = 0;
  for (const g of p4.gears) delete g.static;
  t.throws(() => validatePlan(p4), /staticGearId: gear 0 is not marked static: true/);
  const p5 = clone(plan) as any;
  p5.accuracyObjective = { target: 1.5, mode: 'sometimes', met: 'yes' };
  t.throws(() => validatePlan(p5), /accuracyObjective\.target[\s\S]*accuracyObjective\.mode[\s\S]*accuracyObjective\.met/);
  const p6 = clone(plan) as any;
  p6.policy = { overloadHorizonMs: -1, chosenBy: 3 };
  t.throws(() => validatePlan(p6), /policy\.overloadHorizonMs[\s\S]*policy\.chosenBy/);
  const p7 = clone(plan) as any;
  p7.policy = { overloadHorizonMs: 200, chosenBy: 'switching simulator' };
  t.doesNotThrow(() => validatePlan(p7), 'a plan carrying its policy parameters');
});

t.test('the static cascade holds its own capacity even above the load grid\'s top', async (t) => {
  // Its capacity is searched beyond --max-qps: below it, the load above the top went to the
  // static cascade batched for the top, and the plan held less than the static cascade alone.
  const profile = syntheticProfile(500);
  const free = (await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 6, minAccuracy: 0.8 })).plan;
  const staticOf = (p: typeof free) => p.gears.find((g) => g.id === p.staticGearId)!;
  const capQps = staticOf(free).maxQps;
  const capped = (await computePlan(profile, { sloP95Ms: 50, lanes: 1, loadLevels: 6, minAccuracy: 0.8, maxQps: capQps / 4 })).plan;
  const g = staticOf(capped);
  t.ok(Math.abs(g.minQps / (capQps / 4) - 1) < 0.01, `it starts where the grid of --max-qps ${(capQps / 4).toFixed(0)} ends (got ${g.minQps.toFixed(0)})`);
  t.ok(Math.abs(g.maxQps / capQps - 1) < 0.02, `the static gear's range tops at its capacity ${capQps.toFixed(0)} (got ${g.maxQps.toFixed(0)}), above the grid's top`);
  t.equal(capped.gears[capped.gears.length - 1].id, g.id, 'it is the last gear: the load above the grid goes to it');
});
