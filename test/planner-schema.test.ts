import t from 'tap';
import { validatePlan } from '../ts/contracts/plan-schema.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { computePlan } from '../planner/compute-plan.js';
import { syntheticProfile } from './planner-fixture.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

t.test('profile validator names the field path', async (t) => {
  const good = syntheticProfile(200);
  t.doesNotThrow(() => validateProfile(clone(good)));
  const bad = clone(good) as any;
  bad.models[3].timings[0].batchTimesUs[2].p50 = -1;
  t.throws(() => validateProfile(bad), /models\[3\]\.timings\[0\]\.batchTimesUs\[2\]\.p50: expected a positive number/);
  const bad2 = clone(good) as any;
  bad2.models[1].validation.correct[5] = 1 - bad2.models[1].validation.correct[5];
  t.throws(() => validateProfile(bad2), /models\[1\]\.validation\.correct\[5\]: inconsistent/);
  const bad3 = clone(good) as any;
  bad3.models[0].validation.certainty.margin.pop();
  t.throws(() => validateProfile(bad3), /models\[0\]\.validation\.certainty\.margin: expected 200 elements/);
  t.throws(() => validateProfile({ schema: 'other' }), /schema: expected "cascadeserve\.profile\/1"/);
  t.throws(() => validateProfile([]), /profile: expected an object/);
});

t.test('plan validator names the field path', async (t) => {
  const { plan } = await computePlan(syntheticProfile(500), { sloP95Ms: 50, lanes: 2, loadLevels: 6 });
  t.doesNotThrow(() => validatePlan(clone(plan)));
  const p1 = clone(plan) as any;
  p1.gears[0].stages[0].laneShares = [0.5];
  t.throws(() => validatePlan(p1), /gears\[0\]\.stages\[0\]\.laneShares: expected 2 shares/);
  const p2 = clone(plan) as any;
  p2.gears[0].stages[0].model = 'nope';
  t.throws(() => validatePlan(p2), /gears\[0\]\.stages\[0\]\.model: unknown model "nope"/);
  const p3 = clone(plan) as any;
  p3.gears[0].stages[0].maxBatch = 0;
  t.throws(() => validatePlan(p3), /gears\[0\]\.stages\[0\]\.maxBatch: expected an integer >= 1/);
  if (plan.gears.length >= 2) {
    const p4 = clone(plan) as any;
    p4.gears[1].minQps = 0;
    t.throws(() => validatePlan(p4), /gears\[1\]\.minQps: overlaps/);
  }
});

t.test('plan command: malformed profile, impossible SLO, success with svg', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-plan-'));
  const io = () => {
    const o = { out: '', err: '' };
    return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
  };
  writeFileSync(join(dir, 'bad.json'), '{"schema":"cascadeserve.profile/1","models":[]}');
  let r = io();
  t.equal(await runPlanCommand(['--profile', join(dir, 'bad.json'), '--slo-p95-ms', '50', '--lanes', '1', '--threads', '1'], r.io), 1);
  t.match(r.o.err, /models: expected at least 1 element/);
  writeFileSync(join(dir, 'p.json'), JSON.stringify(syntheticProfile(500)));
  r = io();
  t.equal(await runPlanCommand(['--profile', join(dir, 'p.json'), '--slo-p95-ms', '0.001', '--lanes', '1', '--threads', '1', '--max-qps', '100', '--out', join(dir, 'x.json')], r.io), 4);
  t.match(r.o.err, /no gear meets the p95 SLO of 0\.001 ms at any load level; the lowest load level planned was 1\.563 qps \(--max-qps 100 over 64 levels\)/);
  t.match(r.o.err, /cannot serve 0-/);
  r = io();
  const code = await runPlanCommand(['--profile', join(dir, 'p.json'), '--slo-p95-ms', '50', '--lanes', '2', '--threads', '1', '--out', join(dir, 'plan.json'), '--svg', join(dir, 'plan.svg')], r.io);
  // Without --max-qps the grid tops out at the cheapest cascade's capacity under the
  // utilization cap: every level servable, exit 0 (until 2026-12-05 the top was that cascade
  // at full utilization, always unservable, and every such plan exited 3).
  const written = validatePlan(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')));
  t.equal(code, 0, `exit ${code} with ${written.unservable.length} unservable ranges`);
  t.same(written.unservable, [], 'no unservable level');
  t.match(readFileSync(join(dir, 'plan.svg'), 'utf8'), /<svg/);
  t.match(r.o.err, /cascade search/);
  // Exit 3 exactly when some load levels are unservable: a grid above the cascades' capacity.
  r = io();
  const over = await runPlanCommand(['--profile', join(dir, 'p.json'), '--slo-p95-ms', '50', '--lanes', '2', '--threads', '1', '--max-qps', String(written.loadGrid.maxQps * 4), '--out', join(dir, 'over.json')], r.io);
  const overPlan = validatePlan(JSON.parse(readFileSync(join(dir, 'over.json'), 'utf8')));
  t.ok(overPlan.unservable.length > 0, 'a grid to 4x that top leaves levels unservable');
  t.equal(over, 3, 'and exits 3');
  for (const u of overPlan.unservable) t.ok(r.o.err.includes(`cannot serve ${u.minQps.toFixed(0)}-${u.maxQps.toFixed(0)} qps`), `unservable ${u.minQps.toFixed(0)}-${u.maxQps.toFixed(0)} reported`);
});
