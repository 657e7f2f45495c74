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
});
