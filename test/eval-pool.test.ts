// benchmarks/eval/pool.ts pairs each seed's CascadeServe capacity with the stronger of that
// seed's two static cascades, run by run. Tests do not import benchmarks/ (test/layers.test.ts):
// the compiled command runs on trials files written here.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../ts/contracts/package-root.js';

const cell = (sloMs: number, caps: Record<string, (number | null)[]>) => ({
  view: 'engine', drop: 0.005, sloMs, trace: 'twitter', seeds: [1, 2, 3], commit: 'abcdef123',
  systems: Object.fromEntries(Object.entries(caps).map(([k, v]) => [k, { seeds: v.map((capacity, i) => ({ seed: i + 1, capacity, trials: [] })) }])),
});

t.test('per seed, the stronger static cascade of that seed; cells of other SLOs ignored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-pool-'));
  const a = join(dir, 'a.json');
  const b = join(dir, 'b.json');
  writeFileSync(a, JSON.stringify({ cells: [cell(25, { cascadeserve: [1, 1, 1], static: [1, 1, 1], staticBest: [1, 1, 1] }), cell(50, { cascadeserve: [300, 200, 500], static: [100, 250, 200], staticBest: [150, 100, null] })] }));
  writeFileSync(b, JSON.stringify({ cells: [cell(50, { cascadeserve: [null, 90, 400], static: [100, 100, 100], staticBest: [80, 120, 200] })] }));
  const pool = (...args: string[]) => spawnSync(process.execPath, [join(packageRoot(), 'dist', 'benchmarks', 'eval', 'pool.js'), ...args], { encoding: 'utf8' });
  const r = pool(a, b);
  t.equal(r.status, 0, r.stderr);
  const ratios = [...r.stdout.matchAll(/seed (\d): CascadeServe (\d+), the stronger static (\d+): ([\d.]+)x/g)].map((m) => [Number(m[1]), Number(m[3]), Number(m[4])]);
  t.same(ratios, [[1, 150, 2], [2, 250, 0.8], [3, 200, 2.5], [1, 100, 0], [2, 120, 0.75], [3, 200, 2]]);
  t.match(r.stdout, /6 seed-runs: median 1\.40x, 0\.00-2\.50; at or above 1\.25x: 3/);
  const none = pool(a, '--view', 'http');
  t.not(none.status, 0);
  t.match(none.stderr, /no http cell for twitter, 50 ms/);
});
