// The load generator's own lag in the trials of a stored run: per cell and system,
// the median and the largest of each trial's lag p95 (every trial of the capacity searches, not
// only those at the capacity, which the summary's tables give). For comparing generators or
// hosts across runs: docs/gear-switching.md, "The load generator's own clumps".
//
// `node dist/benchmarks/eval/trial-lag.js TRIALS.json [--view http|engine]`
import { readFileSync } from 'node:fs';
import { parseScriptArgs, type CommandSpec } from '../../ts/cli/args.js';
import { quantileOf } from './measure.js';

const kSpec: CommandSpec = {
  name: 'trial-lag',
  description: "Per cell and system of a run's trials file (eval-trials.json): the number of trials, the median and the largest of the trials' generator lag p95.",
  positionals: [{ name: 'TRIALS.json', kind: 'input-file', help: 'the trials file of a run (e.g. benchmarks/results/eval-trials.json)' }],
  flags: [{ name: 'view', kind: 'choice', choices: ['http', 'engine'], help: 'only the cells of this view' }],
};

interface StoredCell {
  view: string;
  trace: string;
  drop: number;
  sloMs: number;
  systems: Record<string, { seeds: { trials: { s: { lagP95Ms: number } }[] }[] }>;
}

function main(): void {
  const parsed = parseScriptArgs(kSpec, process.argv.slice(2), 'node dist/benchmarks/eval/trial-lag.js');
  if (!parsed) return;
  const view = parsed.values.view as string | undefined;
  const file = parsed.positionals[0];
  const stored = JSON.parse(readFileSync(file, 'utf8'), (_, v: unknown) => (v === 'Infinity' ? Infinity : v)) as { cells?: StoredCell[] };
  if (!Array.isArray(stored.cells)) throw new Error(`${file}: no 'cells' array (not a trials file of npm run eval)`);
  for (const c of stored.cells.filter((x) => !view || x.view === view)) {
    console.log(`  ${c.view} view, ${c.trace}, best - ${c.drop * 100} point, p95 ${c.sloMs} ms`);
    for (const [name, sys] of Object.entries(c.systems)) {
      const lags = sys.seeds.flatMap((s) => s.trials.map((t) => t.s.lagP95Ms)).filter((x) => Number.isFinite(x));
      lags.sort((a, b) => a - b);
      const text = lags.length ? `median ${quantileOf(lags, 0.5).toFixed(2)} ms, largest ${lags[lags.length - 1].toFixed(1)} ms` : 'no trials';
      console.log(`    ${name.padEnd(12)} ${String(lags.length).padStart(3)} trials, lag p95 ${text}`);
    }
  }
}

main();
