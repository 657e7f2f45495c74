// The evaluation's report, rendered from eval.json alone: the SVG charts and the markdown
// (docs/evaluation-results.md, which the README copies). `npm run eval` calls it at the end;
// `node dist/benchmarks/eval/report.js [benchmarks/results/eval.json]` re-renders a stored
// run, so the wording can change without re-measuring.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { accuracyLatencyChart, burstChart, capacityChart, lanesChart } from './charts.js';
import type { LaneRow } from './lanes-sim.js';
import type { TrialSummary } from './replay.js';
import { kSystemLabel, kSystems, type SystemName } from './systems.js';
import type { TraceShape } from '../../testkit/traces.js';

export interface CapacityResult {
  drop: number;
  target: number;
  sloMs: number;
  trace: TraceShape;
  system: SystemName;
  capacity: number;
  trials: { scale: number; pass: boolean; s: TrialSummary }[];
}

interface SimComparison {
  target: number;
  sloMs: number;
  laneSet: number[];
  peakToMean: number;
  static: string;
  dynamic: string;
  rows: LaneRow[];
}

/** The parts of eval.json the report reads. */
export interface EvalResult {
  createdAt?: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string };
  bestHeld: number;
  calibration: { k: number; frontEndQps: number; hostCpu: { cores: number; usPerRequest: number } };
  planMaxQps: number;
  settings: { pairs: { drop: number; sloMs: number }[]; shapes: TraceShape[]; trialMs: number; maxTrials: number; lanes: number };
  capacity: CapacityResult[];
  fixedScaleQps: number;
  fixedScale: { drop: number; sloMs: number; system: SystemName; s: TrialSummary }[];
  burst: { scale: number; sloMs: number; gearCount: number; runs: { system: SystemName; s: TrialSummary; bins: { tMs: number; requests: number; rateQps: number; p95Ms: number; gear: number }[]; switches: number }[] } | null;
  simulatorCheck: { lanes: number; gear: string; qps: number; measuredP95Ms: number; simulatedP95Ms: number }[];
  simulator: { zoo: SimComparison; bertV100: SimComparison };
  wallS: number;
}

/** The replayer's cap on a trial's mean QPS (run.ts kMaxScale). */
export const kMaxScaleQps = 8000;

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '-');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'inf');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : a > 0 ? 'inf' : '-');

/** Reads eval.json (Infinity was stored as the string "Infinity"). */
export function readEvalResult(path: string): EvalResult {
  return JSON.parse(readFileSync(path, 'utf8'), (_, v) => (v === 'Infinity' ? Infinity : v)) as EvalResult;
}

/** Capacity per system for one (pair, trace) cell, 0 where none passed. */
function capacityOf(r: EvalResult, drop: number, sloMs: number, trace: TraceShape, s: SystemName): number {
  return r.capacity.find((c) => c.drop === drop && c.sloMs === sloMs && c.trace === trace && c.system === s)?.capacity ?? 0;
}

/** Writes the charts into outDir and the markdown to docPath; returns the capacity rows. */
export function writeReport(r: EvalResult, o: { outDir: string; docPath: string; resultPath: string }): (string | number)[][] {
  const root = packageRoot();
  const systems = kSystems;
  const labels = kSystemLabel as Record<string, string>;
  const prefix = r.quick ? 'eval-quick' : 'eval';
  const { pairs, shapes } = r.settings;
  const simZoo = r.simulator.zoo;
  const simBert = r.simulator.bertV100;

  const groups = pairs.flatMap((p) => shapes.map((sh) => ({ label: `${pct(r.bestHeld - p.drop)} / ${p.sloMs} ms / ${sh}`, values: Object.fromEntries(systems.map((s) => [s, capacityOf(r, p.drop, p.sloMs, sh, s)])) })));
  const svgs: Record<string, string> = {
    capacity: capacityChart('Capacity (largest trace scale, mean QPS) meeting the accuracy target and the p95 SLO', groups, systems, labels, 'capacity (mean QPS of the trace)'),
    'accuracy-latency': accuracyLatencyChart(`Accuracy and p95 at a fixed scale (twitter trace, mean ${r.fixedScaleQps.toFixed(0)} QPS), one point per SLO plan`, systems.map((s) => ({ system: s, points: r.fixedScale.filter((f) => f.system === s).map((f) => ({ p95Ms: f.s.p95Ms, accuracy: f.s.accuracy, label: `SLO ${f.sloMs} ms` })) })), labels, pairs.map((p) => p.sloMs)),
    burst: r.burst ? burstChart(`Step burst (0.5x -> 2x -> 0.5x of ${r.burst.scale.toFixed(0)} QPS): p95 per bin and gear over time`, r.burst.runs.filter((x) => x.system === 'cascadeserve' || x.system === 'static' || x.system === 'msplus'), labels, r.burst.sloMs, r.burst.gearCount) : '',
    'lanes-zoo': lanesChart(`Simulator: lanes needed (zoo profile, twitter trace, target ${pct(simZoo.target)}, p95 ${simZoo.sloMs} ms)`, simZoo.rows, systems, labels),
    'lanes-bert': lanesChart(`Simulator: V100s needed (BERT profile from published figures, target ${pct(simBert.target)}, p95 ${simBert.sloMs} ms)`, simBert.rows, systems, labels),
  };
  for (const [k, v] of Object.entries(svgs)) if (v) writeFileSync(join(o.outDir, `${prefix}-${k}.svg`), v);

  const rel = (p: string) => (p.startsWith(root) ? p.slice(root.length + 1) : p);
  const capRows: (string | number)[][] = [];
  for (const p of pairs) {
    for (const sh of shapes) {
      const get = (s: SystemName) => capacityOf(r, p.drop, p.sloMs, sh, s);
      const cs = get('cascadeserve');
      capRows.push([pct(r.bestHeld - p.drop), p.sloMs, sh, ...systems.map((s) => get(s).toFixed(0)), ratio(cs, Math.max(get('msplus'), get('dynamic'))), ratio(cs, get('static'))]);
    }
  }
  const c = r.calibration;
  const md: string[] = [];
  md.push('## Evaluation', '');
  md.push(`Reproduce: \`npm run eval\` (about ${Math.ceil(r.wallS / 60)} min here; \`npm run eval -- --quick\` is the CI smoke test). Generated ${r.createdAt ?? new Date().toISOString()} on ${r.machine.cpus} CPU(s) (${r.machine.cpuModel}); every figure below comes from \`${rel(o.resultPath)}\`.${r.quick ? ' **QUICK RUN: tiny trials, figures not meaningful.**' : ''}`, '');
  md.push(`Systems (each a plan served by \`cascadeserve serve\` with ${r.settings.lanes} lane; the open-loop replayer runs in another process): ${systems.map((s) => `**${labels[s]}**`).join(', ')}. Targets: held-out accuracy of the best single model (${pct(r.bestHeld)}) minus 0.5 / 1.5 / 3 points. Capacity = the largest mean QPS of the trace (${r.settings.trialMs / 1000} s replay per trial, search over the scale, at most ${r.settings.maxTrials} trials) at which p95 (failures count as infinite) <= SLO and accuracy >= target (the replayer sends at most ${kMaxScaleQps} mean QPS: a capacity of ${kMaxScaleQps} means at least that). Accuracy = the request-weighted held-out accuracy of the gears that answered (each gear's exact accuracy on the whole held-out half; failures count as wrong), which removes the sampling noise of a short trial; the raw accuracy of the actual answers is in the JSON (\`accuracyRaw\`).`, '');
  md.push(`Planning profile: the measured profile (models timed in rotation) calibrated to the serving stack on this machine (the most expensive and the cheapest model each served alone over HTTP: batch times x ${c.k.toFixed(2)}; the front end and the load generator take ${(r.machine.cpus - c.hostCpu.cores).toFixed(2)} cores at idle plus ${c.hostCpu.usPerRequest.toFixed(0)} us of CPU per request, which the planner subtracts from the lanes' cores at each load), the same for every system; load grid up to ${r.planMaxQps.toFixed(0)} QPS (0.9 x the ${c.frontEndQps.toFixed(0)} answers/s the front end gave closed loop).`, '');
  md.push('| accuracy target | p95 SLO (ms) | trace | ' + systems.map((s) => labels[s]).join(' | ') + ' | CascadeServe / best of dynamic batching and MS+ | CascadeServe / static cascade (ablation) |');
  md.push('|' + ' --- |'.repeat(systems.length + 5));
  for (const row of capRows) md.push(`| ${row.join(' | ')} |`);
  md.push('', `![capacity](../benchmarks/results/${prefix}-capacity.svg)`, '');
  md.push(`Fixed scale (twitter trace, mean ${r.fixedScaleQps.toFixed(0)} QPS, where the static cascade's planned capacity just covers the peak): accuracy and p95 per system and SLO plan.`, '');
  md.push('| p95 SLO (ms) | system | accuracy | p95 (ms) | failed |', '| --- | --- | --- | --- | --- |');
  for (const f of r.fixedScale) md.push(`| ${f.sloMs} | ${labels[f.system]} | ${pct(f.s.accuracy)} | ${ms(f.s.p95Ms)} | ${f.s.failed}/${f.s.requests} |`);
  md.push('', `![accuracy-latency](../benchmarks/results/${prefix}-accuracy-latency.svg)`, '');
  if (r.burst) {
    const b = r.burst;
    md.push(`Burst (step trace 0.5x -> 2x -> 0.5x of ${b.scale.toFixed(0)} QPS, SLO ${b.sloMs} ms; the 2x phase is 1.3x the static cascade's planned capacity):`, '', '| system | p95 (ms) | accuracy | failed | gear switches | worst p95 of a 250 ms bin (ms) |', '| --- | --- | --- | --- | --- | --- |');
    for (const x of b.runs) md.push(`| ${labels[x.system]} | ${ms(x.s.p95Ms)} | ${pct(x.s.accuracy)} | ${x.s.failed}/${x.s.requests} | ${x.switches} | ${ms(Math.max(...x.bins.filter((y) => y.requests > 0).map((y) => y.p95Ms)))} |`);
    md.push('', `![burst](../benchmarks/results/${prefix}-burst.svg)`, '');
  }
  md.push('Simulator check (constant Poisson load, one gear): measured vs simulated p95.', '', '| lanes | gear | QPS | measured p95 (ms) | simulated p95 (ms) |', '| --- | --- | --- | --- | --- |');
  for (const x of r.simulatorCheck) md.push(`| ${x.lanes} | ${x.gear} | ${x.qps.toFixed(0)} | ${ms(x.measuredP95Ms)} | ${ms(x.simulatedP95Ms)} |`);
  md.push('');
  for (const [name, sim, unit] of [['zoo profile (measured here)', simZoo, 'lanes'], ['V100 BERT profile (published figures, synthetic answers; see benchmarks/eval/gpu-profile.ts)', simBert, 'V100s']] as const) {
    md.push(`Simulator, ${name}: ${unit} needed for the twitter-shaped trace (peak ${sim.peakToMean.toFixed(2)}x mean), target ${pct(sim.target)}, p95 ${sim.sloMs} ms; static = ${sim.static}, dynamic = ${sim.dynamic}.`, '');
    md.push('| mean QPS | ' + systems.map((s) => labels[s]).join(' | ') + ' | best baseline / CascadeServe |', '|' + ' --- |'.repeat(systems.length + 2));
    for (const row of sim.rows) md.push(`| ${row.scale.toFixed(0)} | ${systems.map((s) => row.lanes[s] ?? '>' + sim.laneSet[sim.laneSet.length - 1]).join(' | ')} | ${row.ratio ? row.ratio.toFixed(2) + 'x' : '-'} |`);
    md.push('');
  }
  md.push(`![lanes zoo](../benchmarks/results/${prefix}-lanes-zoo.svg) ![lanes bert](../benchmarks/results/${prefix}-lanes-bert.svg)`, '');
  writeFileSync(o.docPath, md.join('\n') + '\n');
  return capRows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = packageRoot();
  const resultPath = process.argv[2] ?? join(root, 'benchmarks', 'results', 'eval.json');
  const r = readEvalResult(resultPath);
  const outDir = join(resultPath, '..');
  const docPath = r.quick ? join(outDir, 'eval-quick.md') : join(root, 'docs', 'evaluation-results.md');
  writeReport(r, { outDir, docPath, resultPath });
  process.stdout.write(`rendered ${docPath} and the charts in ${outDir} from ${resultPath}\n`);
}
