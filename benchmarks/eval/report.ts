// The evaluation's tables, rendered from benchmarks/results/eval-summary.json alone: the
// markdown docs/evaluation-results.md and the generated block of the README's evaluation
// section (between <!-- eval-tables:begin --> and <!-- eval-tables:end -->). `npm run eval`
// calls it at the end of each part; `node dist/benchmarks/eval/report.js [SUMMARY]` re-renders
// a stored summary, so the wording can change without re-measuring.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { kCapacitySystems, parseSummary, type Capacity, type Summary, type SummaryRow } from './summary.js';

const label: Record<string, string> = { cascadeserve: 'CascadeServe', static: 'static cascade', staticBest: 'static cascade, best in hindsight', dynamic: 'dynamic batching', msplus: 'MS+', oracle: 'oracle switcher', msplusTop: "MS+'s top model fixed" };
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '-');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'inf');
const q = (x: number) => x.toFixed(0);

/** No seed measured: every pass had the load generator lagging beyond its limit (capacity.ts). */
const measuredNothing = (c: Capacity) => c.median === 0 && c.below === undefined && (c.unmeasured ?? 0) > 0;
const seedsText = (n: number) => `${n} seed${n === 1 ? '' : 's'}`;

export function capText(c: Capacity | null | undefined): string {
  if (!c) return 'not run';
  if (measuredNothing(c)) return `not measured (the load generator lagged; ${seedsText(c.unmeasured!)})`;
  const unmeasured = c.unmeasured ? ` (${seedsText(c.unmeasured)} not measured: the load generator lagged)` : '';
  if (c.median === 0 && c.below !== undefined) return `below ${q(c.below)}${unmeasured}`;
  const spread = c.min === c.max ? '' : ` [${q(c.min)}-${q(c.max)}]`;
  return `${c.atLeast ? '>= ' : ''}${q(c.median)}${spread}${c.below !== undefined ? ` (a seed: below ${q(c.below)})` : ''}${unmeasured}`;
}

/** a / b as a ratio of medians, with the ratio of the extremes (worst: a.min / b.max). */
function ratioText(a: Capacity | null, b: Capacity | null): { text: string; value: number } {
  if (!a || !b) return { text: '-', value: NaN };
  if (measuredNothing(a) || measuredNothing(b)) return { text: 'not measured', value: NaN };
  if (b.median <= 0) return { text: a.median > 0 ? `inf (${b.below !== undefined ? `base below ${q(b.below)}` : 'base 0'})` : '-', value: a.median > 0 ? Infinity : NaN };
  const v = a.median / b.median;
  const worst = b.max > 0 ? a.min / b.max : NaN;
  return { text: `${v.toFixed(2)}x (worst pair ${Number.isFinite(worst) ? worst.toFixed(2) : '-'}x)`, value: v };
}

/**
 * The stronger static cascade: the one chosen on validation (the issue's rule) or the one
 * chosen in hindsight on the held-out half, whichever served more (median over seeds).
 */
function strongestStatic(r: SummaryRow): Capacity | null {
  const a = r.capacity.static;
  const b = r.capacity.staticBest;
  if (!a) return b ?? null;
  if (!b) return a;
  // one of them not measured at all: which is stronger is unknown (the ratio says so)
  if (measuredNothing(a)) return a;
  if (measuredNothing(b)) return b;
  return b.median > a.median ? b : a;
}

function bestBaseline(r: SummaryRow): Capacity | null {
  const d = r.capacity.dynamic;
  const m = r.capacity.msplus;
  if (!d) return m;
  if (!m) return d;
  if (measuredNothing(d)) return d;
  if (measuredNothing(m)) return m;
  return m.median > d.median ? m : d;
}

const cellName = (r: SummaryRow) => `${r.view} view, ${pct(r.target)} / p95 ${r.sloMs} ms / ${r.trace}${r.headline ? ' (headline)' : ''}`;

export function renderTables(s: Summary): string {
  const m = s.meta;
  const md: string[] = [];
  md.push(`Generated ${m.createdAt} by \`npm run eval${m.quick ? ' -- --quick' : ''}\` at commit ${m.commit.slice(0, 10)} on ${m.machine.cpus} CPU(s) (${m.machine.cpuModel}) in ${Math.round(m.wallS / 60)} min; ${m.complete ? 'every part ran' : '**the run did not finish every part: see "Not run"**'}. Machine load (1-minute load average, sampled through the run): median ${m.loadAverage.median.toFixed(1)}, ${m.loadAverage.min.toFixed(1)}-${m.loadAverage.max.toFixed(1)} on ${m.machine.cpus} cores. Every figure below comes from \`benchmarks/results/eval-summary.json\`.${m.quick ? ' **QUICK RUN: tiny trials, figures not meaningful.**' : ''}`, '');
  // parts kept from an earlier run (--add) were measured on other code, or on another machine: said where they are
  const where = (x: { commit?: string; cpuModel?: string }) => [x.commit ? `at ${x.commit.slice(0, 10)}` : '', x.cpuModel ? `on ${x.cpuModel}` : ''].filter(Boolean).join(' ');
  const older = [...s.rows.filter((r) => r.commit || r.cpuModel).map((r) => `${cellName(r)} ${where(r)}`), ...s.fixedHardware.filter((f) => f.commit || f.cpuModel).map((f) => `fixed hardware (${f.view} view, ${f.trace}, p95 ${f.sloMs} ms, ${f.scaleStep}x the base scale) ${where(f)}`)];
  if (older.length) md.push(`**Measured at another commit or on another CPU** (kept from an earlier run by \`--add\`): ${older.join('; ')}.`, '');
  md.push(`Seeds (each a paired trace-and-image seed): tuning ${s.seeds.tuning.join(', ')} (plans, load histograms, baseline choices; never reported); reported ${s.seeds.reported.join(', ')}. Targets: the best single model's accuracy minus 0.5 / 1.5 / 3 points (${pct(m.bestHeld)} on the whole held-out half; a trial's own target is the best model's accuracy on the images that trial's requests carried, minus the drop), judged on the answers actually given (failures count as wrong).`, '');

  // acceptance
  md.push('### Acceptance', '', '| criterion | cell | measured | met |', '| --- | --- | --- | --- |');
  // the headline first, then the engine view, then HTTP, whatever order --add left the rows in
  const rank = (r: Summary['rows'][number]) => (r.headline ? 0 : r.view === 'engine' ? 1 : 2);
  for (const r of [...s.rows].sort((a, b) => rank(a) - rank(b))) {
    const cs = r.capacity.cascadeserve;
    const st = ratioText(cs, strongestStatic(r));
    const need = r.headline ? 1.25 : 0.95;
    md.push(`| CascadeServe >= ${need}x the stronger static cascade | ${cellName(r)} | ${st.text} | ${Number.isNaN(st.value) ? 'not measured' : st.value >= need ? 'yes' : '**no**'} |`);
    const bb = ratioText(cs, bestBaseline(r));
    md.push(`| CascadeServe >= 2x best of dynamic batching and MS+ | ${cellName(r)} | ${bb.text} | ${Number.isNaN(bb.value) ? 'not measured' : bb.value >= 2 ? 'yes' : '**no**'} |`);
    if (r.capacity.msplus && r.msplusTop) {
      const v = measuredNothing(r.capacity.msplus) || measuredNothing(r.msplusTop) ? 'not measured' : r.capacity.msplus.median >= r.msplusTop.median ? 'yes' : '**no**';
      md.push(`| MS+ never below its top model fixed | ${cellName(r)} | ${capText(r.capacity.msplus)} vs ${capText(r.msplusTop)} | ${v} |`);
    }
  }
  for (const f of s.fixedHardware) {
    const cs = f.systems.cascadeserve;
    const st = f.systems.static;
    if (cs && st) {
      const gain = (cs.accuracy - st.accuracy) * 100;
      const ok = gain >= 0.3 && cs.p95Ms <= f.sloMs;
      md.push(`| fixed hardware: CascadeServe >= static + 0.3 point, p95 within the SLO | ${f.view} view, ${f.trace}, p95 ${f.sloMs} ms, ${f.scaleStep}x the base scale: mean ${q(f.scaleQps)} QPS | ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} point (${pct(cs.accuracy)} vs ${pct(st.accuracy)}), p95 ${ms(cs.p95Ms)} ms | ${ok ? 'yes' : '**no**'} |`);
    }
  }
  md.push('');

  // capacity
  for (const view of ['engine', 'http'] as const) {
    const rows = s.rows.filter((r) => r.view === view);
    if (!rows.length) continue;
    md.push(`### Capacity, ${view} view (mean QPS of the trace: median over the reported seeds [min-max])`, '');
    md.push('| target | p95 SLO (ms) | trace | day (s) | seeds | ' + kCapacitySystems.map((x) => label[x]).join(' | ') + ` | ${label.msplusTop} | CascadeServe / the stronger static | CascadeServe / best of dynamic and MS+ |`);
    md.push('|' + ' --- |'.repeat(kCapacitySystems.length + 8));
    for (const r of rows) md.push(`| ${pct(r.target)}${r.headline ? ' (headline)' : ''} | ${r.sloMs} | ${r.trace} | ${r.dayMs / 1000} | ${r.seeds.join(',')} | ${kCapacitySystems.map((x) => capText(r.capacity[x])).join(' | ')} | ${capText(r.msplusTop)} | ${ratioText(r.capacity.cascadeserve, strongestStatic(r)).text} | ${ratioText(r.capacity.cascadeserve, bestBaseline(r)).text} |`);
    md.push('');
    md.push(`At each seed's capacity (medians over seeds): the accuracy of the answers given (the criterion) and the trial's target, beside the gear-weighted accuracy, the whole-trial p95 beside the share of 1 s windows whose p95 missed the SLO, and the load generator's own lag (kept out of the latencies).`, '');
    md.push('| cell | system | accuracy | its target | gear-weighted | p95 (ms) | 1 s windows over SLO | generator lag p95 (ms) | switches per trial | trials | predicted (tuning seeds): fluid model / simulator | overload horizon (ms) |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      for (const [k, d] of Object.entries(r.detail)) {
        if (!d) continue;
        const a = d.atCapacity;
        md.push(`| ${pct(r.target)} / ${r.sloMs} ms / ${r.trace} | ${label[k]} | ${a ? pct(a.accuracy) : '-'} | ${a ? pct(a.target) : '-'} | ${a ? pct(a.gearAccuracy) : '-'} | ${a ? ms(a.p95Ms) : '-'} | ${a ? `${(a.violationRate * 100).toFixed(1)}%` : '-'} | ${a ? a.lagP95Ms.toFixed(2) : '-'} | ${a ? a.switches.toFixed(0) : '-'} | ${d.trials} | ${q(d.predictedQps)}${d.simulatedQps ? ` / ${q(d.simulatedQps)}` : ''} | ${d.overloadHorizonMs ?? '-'} |`);
      }
    }
    md.push('');
  }

  // fixed hardware
  for (const f of s.fixedHardware) {
    md.push(`### Fixed hardware, ${f.view} view: ${f.trace} trace at ${f.scaleStep}x the base scale, mean ${q(f.scaleQps)} QPS (peak ${q(f.peakQps)}), p95 SLO ${f.sloMs} ms, ${f.dayMs / 1000} s days, seeds ${f.seeds.join(',')}`, '');
    md.push('| system | accuracy (median [min-max]) | gear-weighted | p95 ms (median [min-max]) | 1 s windows over SLO | failed | what ran |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const [k, v] of Object.entries(f.systems)) {
      if (!v) continue;
      md.push(`| ${label[k]} | ${pct(v.accuracy)} [${pct(v.accuracyMin)}-${pct(v.accuracyMax)}] | ${pct(v.gearAccuracy)} | ${ms(v.p95Ms)} [${ms(v.p95MinMs)}-${ms(v.p95MaxMs)}] | ${(v.violationRate * 100).toFixed(1)}% | ${v.failed}/${v.requests} | ${v.description.slice(0, 140).replace(/\|/g, '/')} |`);
    }
    md.push('', 'Tuning-seed checks behind the scale and the baselines\' choice: ' + f.tuningChecks.map((c) => `${c.what} at ${q(c.scale)} QPS: p95 ${ms(c.p95Ms)} ms (${c.held ? 'held' : 'missed'})`).join('; ') + '.', '');
  }
  md.push('### How it was sized', '', ...m.sizing.map((x) => `- ${x}`), '');
  md.push('### Not run', '', ...(m.notRun.length ? m.notRun.map((x) => `- ${x}`) : ['- nothing: every part of the plan ran.']), '');
  return md.join('\n');
}

const kBegin = '<!-- eval-tables:begin -->';
const kEnd = '<!-- eval-tables:end -->';

/** Writes the markdown to docPath and, when given, into the README's generated block. */
export function writeReport(s: Summary, o: { docPath: string; readmePath?: string }): string {
  const text = renderTables(s);
  writeFileSync(o.docPath, `## Evaluation results\n\n${text}`);
  if (o.readmePath && existsSync(o.readmePath)) {
    const readme = readFileSync(o.readmePath, 'utf8');
    const a = readme.indexOf(kBegin);
    const b = readme.indexOf(kEnd);
    if (a >= 0 && b > a) writeFileSync(o.readmePath, readme.slice(0, a + kBegin.length) + '\n' + text.replace(/\]\(\.\.\//g, '](') + '\n' + readme.slice(b));
  }
  return text;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // node dist/benchmarks/eval/report.js [SUMMARY] [--doc PATH] [--readme PATH]
  const root = packageRoot();
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const docArg = opt('--doc');
  const readmeArg = opt('--readme');
  const path = args[0] ?? join(root, 'benchmarks', 'results', 'eval-summary.json');
  const s = parseSummary(readFileSync(path, 'utf8'));
  const docPath = docArg ?? (s.meta.quick ? join(path, '..', 'eval-quick.md') : join(root, 'docs', 'evaluation-results.md'));
  const readmePath = readmeArg ?? (s.meta.quick ? undefined : join(root, 'README.md'));
  writeReport(s, { docPath, ...(readmePath ? { readmePath } : {}) });
  process.stdout.write(`rendered ${docPath}${readmePath ? ` and ${readmePath}` : ''} from ${path}\n`);
}
