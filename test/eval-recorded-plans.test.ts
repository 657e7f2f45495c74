// The plans a recorded evaluation served (issue 14): every plan file its trials file names,
// capacity cells and fixed-hardware view,
// exists and loads as the server loads it, manifest included, so the README's commands that
// replay them (probe.js, sim-plan.js, arrival-cost.js) work on a fresh clone. A recording's
// files are moved from the run's output folder into benchmarks/results/; a plan's manifest
// path is relative to the plan's own folder and breaks when the move does not rewrite it.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadServingPlan } from '../ts/server/plan-loader.js';
import { packageRoot } from '../ts/contracts/package-root.js';

const root = packageRoot();
const recordings = ['eval-trials.json', join('eval-s35-full', 'eval-trials.json'), join('eval-s36-full', 'eval-trials.json'), join('eval-s37-full', 'eval-trials.json')].map((x) => join(root, 'benchmarks', 'results', x));

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
