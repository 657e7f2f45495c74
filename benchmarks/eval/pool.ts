// `node dist/benchmarks/eval/pool.js TRIALS.json [TRIALS.json ...] [--view engine] [--trace twitter]
// [--slo 50] [--drop 0.005]`: one capacity cell measured in several runs (each run's
// eval-trials.json), pooled seed by seed. Per reported seed of each run: CascadeServe's capacity
// over the stronger of that seed's two static cascades (chosen on validation, chosen in
// hindsight), a stricter pairing than the headline's ratio of medians, since the stronger one is
// picked per seed. Prints every seed-run and the pooled median and range. Capacities of
// different runs are not pooled (their machines and calibrations differ); their ratios are.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CellResult } from './cell.js';
import { median } from './measure.js';

interface SeedRatio { run: string; commit: string; seed: number; cascadeserve: number; stronger: number; ratio: number }

export function poolCell(runs: { name: string; cells: CellResult[] }[], want: { view: string; trace: string; sloMs: number; drop: number }): SeedRatio[] {
  const out: SeedRatio[] = [];
  for (const run of runs) {
    const cell = run.cells.find((c) => c.view === want.view && c.trace === want.trace && c.sloMs === want.sloMs && Math.abs(c.drop - want.drop) < 1e-9);
    if (!cell) throw new Error(`${run.name}: no ${want.view} cell for ${want.trace}, ${want.sloMs} ms, drop ${want.drop}`);
    // a seed with no passing scale counts as 0, as in the summary's medians; an unmeasured one not at all
    const byseed = (system: 'cascadeserve' | 'static' | 'staticBest') => new Map((cell.systems[system]?.seeds ?? []).filter((s) => !s.unmeasured).map((s) => [s.seed, s.capacity ?? 0]));
    const cs = byseed('cascadeserve');
    const st = byseed('static');
    const best = byseed('staticBest');
    for (const seed of cell.seeds) {
      const stronger = Math.max(st.get(seed) ?? 0, best.get(seed) ?? 0);
      const c = cs.get(seed);
      if (c === undefined || stronger <= 0) continue; // CascadeServe unmeasured, or no static cascade measured passing
      out.push({ run: run.name, commit: (cell.commit ?? '').slice(0, 7), seed, cascadeserve: c, stronger, ratio: c / stronger });
    }
  }
  return out;
}

function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { view: { type: 'string', default: 'engine' }, trace: { type: 'string', default: 'twitter' }, slo: { type: 'string', default: '50' }, drop: { type: 'string', default: '0.005' } } });
  if (positionals.length === 0) throw new Error('usage: pool.js TRIALS.json [TRIALS.json ...] [--view engine] [--trace twitter] [--slo 50] [--drop 0.005]');
  const runs = positionals.map((path) => ({ name: path, cells: (JSON.parse(readFileSync(path, 'utf8'), (_, v) => (v === 'Infinity' ? Infinity : v)) as { cells: CellResult[] }).cells }));
  const rows = poolCell(runs, { view: values.view!, trace: values.trace!, sloMs: Number(values.slo), drop: Number(values.drop) });
  for (const r of rows) console.log(`${r.run} (${r.commit}) seed ${r.seed}: CascadeServe ${r.cascadeserve.toFixed(0)}, the stronger static ${r.stronger.toFixed(0)}: ${r.ratio.toFixed(2)}x`);
  const ratios = rows.map((r) => r.ratio);
  console.log(`${rows.length} seed-runs: median ${median(ratios).toFixed(2)}x, ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}; at or above 1.25x: ${ratios.filter((x) => x >= 1.25).length}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
