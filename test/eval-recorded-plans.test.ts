// The plans a recorded evaluation served (issue 14): every plan file its trials file names,
// capacity cells and fixed-hardware view,
// exists and loads as the server loads it, manifest included, so the README's commands that
// replay them (probe.js, sim-plan.js, arrival-cost.js) work on a fresh clone. A recording's
// files are moved from the run's output folder into benchmarks/results/; a plan's manifest
// path is relative to the plan's own folder and breaks when the move does not rewrite it.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServingPlan } from '../ts/server/plan-loader.js';
import { packageRoot } from '../ts/contracts/package-root.js';

const root = packageRoot();
const recordings = ['eval-trials.json', join('eval-s35-full', 'eval-trials.json'), join('eval-s36-full', 'eval-trials.json'), join('eval-s37-full', 'eval-trials.json'), join('eval-s38-full', 'eval-trials.json'), join('eval-s39-full', 'eval-trials.json')].map((x) => join(root, 'benchmarks', 'results', x));

for (const path of recordings) {
  t.test(`the plans of ${path.slice(root.length + 1)} load`, { skip: existsSync(path) ? false : 'not committed' }, async (t) => {
    type Systems = { systems: Record<string, { planFile: string }> }[];
    const trials = JSON.parse(readFileSync(path, 'utf8')) as { cells: Systems; fixed: Systems };
    const named = (parts: Systems) => parts.flatMap((c) => Object.values(c.systems).map((s) => s.planFile));
    const files = [...new Set([...named(trials.cells), ...named(trials.fixed)])];
    t.ok(named(trials.cells).length >= 10, `the trials file names its capacity cells' plans (${named(trials.cells).length})`);
    t.ok(named(trials.fixed).length >= 5, `and its fixed-hardware plans (${named(trials.fixed).length})`);
    for (const f of files) {
      t.notOk(/^\//.test(f), `${f}: a path inside the repository`);
      const plan = await loadServingPlan(join(root, f)).catch((e: Error) => e);
      t.notOk(plan instanceof Error, `${f} loads${plan instanceof Error ? `: ${plan.message}` : ''}`);
    }
  });
}

// Session 38's check of its planner change (README, "What changed"): session 37's headline plan
// made again by `replan.js`. The committed file loads, and the command makes it again, gear for
// gear, so the figures measured on it (sim-plan.js, probe.js) can be reproduced.
t.test('the replanned headline plan of session 38 loads and replan.js makes it again', async (t) => {
  const committed = join(root, 'benchmarks', 'results', 'eval-s38-check', 'engine-twitter-50ms-drop5-cascadeserve-replanned.json');
  const plan = await loadServingPlan(committed).catch((e: Error) => e);
  t.notOk(plan instanceof Error, `it loads${plan instanceof Error ? `: ${plan.message}` : ''}`);
  const out = join(mkdtempSync(join(tmpdir(), 'replan-')), 'plan.json');
  const source = join(root, 'benchmarks', 'results', 'eval-s37-full', 'eval-plans', 'engine-twitter-50ms-drop5-cascadeserve.json');
  execFileSync(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'replan.js'), source, '--calibration', '0.5', '--out', out], { encoding: 'utf8', timeout: 120_000 });
  const gears = (p: string) => (JSON.parse(readFileSync(p, 'utf8')) as { gears: unknown[] }).gears;
  t.same(gears(out), gears(committed), 'the same gears');
  t.ok(gears(committed).length > gears(source).length, 'more gears than the plan it was made from');
});
