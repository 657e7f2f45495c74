// #12: `cascadeserve plan` estimates its running time from its inputs and refuses up front
// (exit 2, the estimate and what to change) what it could not finish within 60 s here.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computePlan, planWorkOf } from '../planner/compute-plan.js';
import { estimatePlanSeconds, kPlanTimeBudgetS, PlanTooSlowError, type PlanWork } from '../planner/plan-estimate.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { syntheticProfile } from './planner-fixture.js';

const kStackFrame = /\n\s+at .+:\d+:\d+/;
const capture = () => {
  const o = { out: '', err: '' };
  return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
};
const zooProfile = join(packageRoot(), 'models', 'fmnist', 'profile.json');

t.test('the estimate grows with each input that adds work, and more threads shorten the assignment', async (t) => {
  const base: PlanWork = { items: 5000, models: 5, maxStages: 3, thresholds: 64, measures: 3, gearCandidates: 24, levels: 64, lanes: 1, requests: 3000, stages: 3, assignments: 1, threads: 1, cores: 2 };
  const e0 = estimatePlanSeconds(base);
  const more: [keyof PlanWork, number, 'searchS' | 'assignS'][] = [
    ['items', 20000, 'searchS'],
    ['models', 8, 'searchS'],
    ['gearCandidates', 48, 'assignS'],
    ['levels', 128, 'assignS'],
    ['lanes', 64, 'assignS'],
    ['requests', 10000, 'assignS'],
    ['assignments', 4, 'assignS'],
  ];
  t.ok(e0.searchS > estimatePlanSeconds({ ...base, maxStages: 2 }).searchS, 'three stages: longer search than two');
  for (const [k, v, part] of more) t.ok(estimatePlanSeconds({ ...base, [k]: v })[part] > e0[part], `more ${k}: longer ${part}`);
  t.ok(estimatePlanSeconds({ ...base, threads: 2 }).assignS < e0.assignS, 'two threads on two cores: shorter assignment');
  t.equal(estimatePlanSeconds({ ...base, threads: 8 }).assignS, estimatePlanSeconds({ ...base, threads: 2 }).assignS, 'threads beyond the cores gain nothing');
  // the search's candidates: 5 single models, and per measure 10 pairs and 10 triples of 5 models
  t.equal(estimatePlanSeconds({ ...base, maxStages: 1 }).candidates, 5);
});

t.test("the zoo's committed settings are accepted, with an estimate well inside the budget", async (t) => {
  const profile = validateProfile(JSON.parse(readFileSync(zooProfile, 'utf8')));
  const o = { maxStages: 3, thresholds: 64, maxGears: 24, loadLevels: 64, lanes: 1, sim: { requests: 3000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50 }, objective: 'accuracy' as const, memoryBudgetBytesPerLane: Infinity, threads: 2 };
  const e = estimatePlanSeconds(planWorkOf(profile, o));
  t.ok(e.totalS < kPlanTimeBudgetS / 2, `npm run plan:zoo: about ${e.totalS.toFixed(1)} s`);
  // the heaviest combination of the flags' ranges on the zoo is still accepted
  const heavy = estimatePlanSeconds(planWorkOf(profile, { ...o, lanes: 64, objective: 'cost', threads: 1, memoryBudgetBytesPerLane: 1 }));
  t.ok(heavy.totalS < kPlanTimeBudgetS, `--lanes 64 --objective cost --threads 1 --memory-mb: about ${heavy.totalS.toFixed(1)} s`);
});

t.test('a profile too large to search in time: refused before any work, exit 2, the estimate and the cause named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-plan-estimate-'));
  const big = join(dir, 'big.json');
  writeFileSync(big, JSON.stringify(syntheticProfile(40_000)));
  const out = join(dir, 'plan.json');
  const { o, io } = capture();
  t.equal(await runPlanCommand(['--profile', big, '--slo-p95-ms', '10', '--lanes', '1', '--threads', '1', '--out', out], io), 2);
  t.match(o.err, /cascadeserve plan: planning would take about \d+ s here \(search \d+ s, gear assignment [0-9.]+ s\), over the 60 s limit; the search grows with the square of the profile's validation items \(40,000\)/);
  t.notMatch(o.err, /cascade search|gear capacities|batching per load level/, 'no planning phase started');
  t.notMatch(o.err, kStackFrame);
  t.notOk(existsSync(out), 'no plan written');
});

t.test('too many simulations: refused with the assignment named and the flags to change', async (t) => {
  const profile = syntheticProfile(500);
  const opts = { sloP95Ms: 10, lanes: 64, threads: 1, sim: { requests: 200_000 }, timeBudgetS: kPlanTimeBudgetS };
  const err = await computePlan(profile, opts).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof PlanTooSlowError, 'PlanTooSlowError');
  const e = err as PlanTooSlowError;
  t.ok(e.estimate.assignS > kPlanTimeBudgetS && e.estimate.assignS > e.estimate.searchS, `assignment ${e.estimate.assignS.toFixed(0)} s`);
  t.match(e.message, /the gear assignment simulates 64 load levels x up to 48 candidate cascades on 64 lane\(s\), 200,000 requests each: use fewer --lanes/);
  // the same inputs without the budget are not refused (a library caller may plan for as long as it likes)
  t.equal(estimatePlanSeconds(e.work).totalS, e.estimate.totalS);
});

t.test("issue 12's slow inputs are refused fast: exit 2 naming the flag, no stack trace", async (t) => {
  const bin = join(packageRoot(), 'dist', 'ts', 'cli', 'bin.js');
  const cases: [string[], RegExp][] = [
    [['--lanes', '4096', '--max-qps', '25000'], /--lanes must be an integer from 1 to 64, got '4096'/],
    [['--lanes', '100000'], /--lanes must be an integer from 1 to 64, got '100000'/],
    [['--lanes', '1', '--max-qps', '0.01'], /--max-qps must be a number from 64 to 10000000, got '0.01'/],
    [['--lanes', '1', '--max-qps', '1e12'], /--max-qps must be a number from 64 to 10000000, got '1e12'/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [bin, 'plan', '--profile', zooProfile, '--slo-p95-ms', '10', ...args, '--out', join(tmpdir(), 'cs-never.json')], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 2, `plan ${args.join(' ')}: exit 2`);
    t.match(r.stderr, re);
    t.notMatch(r.stderr, kStackFrame);
    t.notMatch(r.stderr, /cascade search/, 'no planning started');
  }
});
