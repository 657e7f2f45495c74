// `npm run eval [-- --quick] [-- --out DIR]`: the end-to-end evaluation (issue 7).
// Real runs: each system is a plan served by `cascadeserve serve` in a child process; an
// open-loop replayer (this process) sends a trace at a scale; capacity = the largest scale at
// which p95 <= SLO and held-out accuracy >= target (search over the scale). Then the simulator
// at 1..64 lanes with the zoo's profile and a V100 BERT profile. Writes JSON and SVG under
// benchmarks/results/ (eval.json, eval-*.svg) and docs/evaluation-results.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { simulate } from '../../planner/simulator.js';
import { exitStages } from '../../planner/cascade-eval.js';
import { tableTimeUs } from '../../planner/batching.js';
import { validateProfile, type Profile } from '../../planner/profile-schema.js';
import { sha256File } from '../../planner/profiler.js';
import { loadDataset, type Dataset } from '../../ts/zoo/dataset.js';
import { loadManifest, packageRoot } from '../../ts/zoo/manifest.js';
import { machine, table } from '../stats.js';
import { accuracyLatencyChart, burstChart, capacityChart, lanesChart } from './charts.js';
import { bertV100Profile } from './gpu-profile.js';
import { lanesComparison } from './lanes-sim.js';
import { replay, summarize, timeSeries, type TrialSummary } from './replay.js';
import { startServer, type ServerProc } from './server-proc.js';
import { kSim, kSystemLabel, kSystems, makeSpace, systemPlans, type Space, type SystemName, type SystemPlan } from './systems.js';
import { makeTrace, peakRatio, rateCurve, type TraceShape } from './traces.js';

export interface EvalOptions {
  quick: boolean;
  /** Results directory (JSON, SVG). Default benchmarks/results. */
  outDir?: string;
  /** Where the markdown results go. Default docs/evaluation-results.md. */
  docPath?: string;
  profilePath?: string;
  log?: (s: string) => void;
}

interface Pair {
  /** Accuracy target = best single model's held-out accuracy minus drop. */
  drop: number;
  sloMs: number;
}

const root = packageRoot();
const kSeed = 7;
/** First guess of a capacity search is capped here (mean QPS at the peak): the HTTP front end's range. */
const kGuessQps = 3000;
/** No trial above this mean QPS (the replayer and server share 2 cores). */
const kMaxScale = 8000;

async function obtainProfile(o: EvalOptions, manifestPath: string, log: (s: string) => void, work: string): Promise<{ profile: Profile; path: string; measuredNow: boolean }> {
  const manifest = await loadManifest(manifestPath);
  const candidates = [o.profilePath, join(root, 'models', 'fmnist', 'profile.json')].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    try {
      const prof = validateProfile(JSON.parse(readFileSync(p, 'utf8')));
      const files = new Map(manifest.models.map((m) => [m.name, m.file]));
      const fresh = prof.models.length === manifest.models.length && prof.models.every((m) => files.has(m.name) && sha256File(files.get(m.name)!) === m.sha256) && !!prof.heldoutLabels;
      if (fresh) return { profile: prof, path: p, measuredNow: false };
      log(`profile ${p} does not match the zoo's model files (or lacks held-out answers): measuring a new one`);
    } catch (e) {
      log(`profile ${p} unusable (${(e as Error).message.slice(0, 200)}): measuring a new one`);
    }
  }
  const out = join(work, 'profile.json');
  const args = [join(root, 'dist', 'ts', 'cli', 'bin.js'), 'profile', manifestPath, '--out', out, '--reps', o.quick ? '5' : '15', '--warmup', '2', '--max-batch', o.quick ? '16' : '64'];
  log(`measuring the profile: node ${args.join(' ')}`);
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return { profile: validateProfile(JSON.parse(readFileSync(out, 'utf8'))), path: out, measuredNow: true };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '-');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'inf');

export async function runEval(o: EvalOptions): Promise<{ resultPath: string; docPath: string; result: Record<string, unknown> }> {
  const tStart = performance.now();
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const outDir = o.outDir ?? join(root, 'benchmarks', 'results');
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'cs-eval-'));
  const planDir = join(outDir, o.quick ? 'eval-quick-plans' : 'eval-plans');
  mkdirSync(planDir, { recursive: true });
  const manifestPath = join(root, 'models', 'fmnist', 'cascade.json');
  const manifest = await loadManifest(manifestPath);
  const heldout: Dataset = loadDataset(manifest.data.heldout);
  const { profile, path: profilePath, measuredNow } = await obtainProfile(o, manifestPath, log, work);
  // Planning profile calibrated to the serving stack on this machine (see calibrate): the
  // planner models the lanes only, while here the HTTP front end, the replayer and other jobs
  // share the same 2 cores. The same calibrated profile plans every system.
  const calibration = await calibrate(profile, manifestPath, heldout, manifest.name, work, o.quick, log);
  const sp: Space = makeSpace(derate(profile, calibration.k, calibration.hUs));
  log(`profile ${profilePath}${measuredNow ? ' (measured now)' : ''}: best single model held-out ${pct(sp.bestHeld)}, validation ${pct(sp.bestVal)}; frontier ${sp.frontier.length} cascades`);

  // settings
  const Q = o.quick;
  const pairs: Pair[] = Q ? [{ drop: 0.005, sloMs: 50 }] : [{ drop: 0.005, sloMs: 50 }, { drop: 0.015, sloMs: 25 }, { drop: 0.03, sloMs: 100 }];
  const shapes: TraceShape[] = Q ? ['twitter'] : ['twitter', 'azure'];
  const trialMs = Q ? 1500 : 4000;
  const maxTrials = Q ? 2 : 6;
  const lanes = 1; // 1 lane: the server's lane thread and event loop take one core, the replayer the other
  const systems: SystemName[] = kSystems;

  const result: Record<string, unknown> = { schema: 'cascadeserve.eval/1', quick: Q, machine: machine(), profile: { path: profilePath, measuredNow, createdAt: profile.createdAt }, calibration, settings: { pairs, shapes, trialMs, maxTrials, lanes, seed: kSeed, sim: kSim } };
  const capacity: { drop: number; target: number; sloMs: number; trace: TraceShape; system: SystemName; capacity: number; trials: { scale: number; pass: boolean; s: TrialSummary }[] }[] = [];
  const plansOut: Record<string, Record<string, { file: string; gears: number; description: string; topQps: number }>> = {};
  const fixedScale: { drop: number; sloMs: number; system: SystemName; trace: TraceShape; scale: number; s: TrialSummary }[] = [];
  let burst: { scale: number; sloMs: number; runs: { system: SystemName; s: TrialSummary; bins: ReturnType<typeof timeSeries>; switches: number }[]; gearCount: number } | null = null;

  let gearAcc = new Map<number, number>();
  const runTrial = async (srv: ServerProc, shape: TraceShape, scale: number, durationMs = trialMs) => {
    const trace = makeTrace(shape, Math.min(scale, kMaxScale), durationMs, kSeed, heldout.count);
    const r = await replay(trace, { url: srv.url, model: manifest.name, heldout });
    await sleep(Q ? 300 : 800); // let the gear return to the most accurate one
    return { trace, r, s: summarize(r, gearAcc) };
  };

  let fixedS = 0;
  let burstS = 0;
  for (const [pi, pair] of pairs.entries()) {
    const target = sp.bestHeld - pair.drop;
    const plans = await systemPlans(sp, pair.sloMs, pair.drop, lanes, manifestPath);
    const key = `target ${pct(target)} / p95 ${pair.sloMs} ms`;
    plansOut[key] = {};
    for (const s of systems) {
      const file = join(planDir, `plan-${pair.sloMs}ms-drop${(pair.drop * 1000).toFixed(0)}-${s}.json`);
      writeFileSync(file, JSON.stringify(plans[s].plan, null, 1) + '\n');
      plansOut[key][s] = { file: file.startsWith(root) ? file.slice(root.length + 1) : file, gears: plans[s].plan.gears.length, description: plans[s].description, topQps: plans[s].topQps };
      log(`[${key}] ${s}: ${plans[s].plan.gears.length} gear(s), planner top ${plans[s].topQps.toFixed(0)} QPS: ${plans[s].description.slice(0, 300)}`);
    }
    if (pi === 0) fixedS = Math.max(5, 0.75 * Math.min(plans.static.topQps, kGuessQps));
    // the step burst (2x phase) goes ~1.9x beyond the static cascade's planned capacity
    if (pi === 0) burstS = Math.max(5, 0.95 * Math.min(plans.static.topQps, kGuessQps));
    for (const s of systems) {
      const sysPlan: SystemPlan = plans[s];
      gearAcc = new Map(sysPlan.plan.gears.map((g) => [g.id, g.heldoutAccuracy ?? g.expectedAccuracy]));
      const srv = await startServer(join(planDir, `plan-${pair.sloMs}ms-drop${(pair.drop * 1000).toFixed(0)}-${s}.json`));
      try {
        await runTrial(srv, 'constant', Math.max(20, Math.min(sysPlan.topQps, kGuessQps) * 0.2), Q ? 500 : 1500); // warm-up
        for (const shape of shapes) {
          const peak = peakRatio(rateCurve(shape, trialMs, kSeed));
          const trials: { scale: number; pass: boolean; s: TrialSummary }[] = [];
          const tryScale = async (scale: number) => {
            const t = await runTrial(srv, shape, scale);
            const pass = t.s.p95Ms <= pair.sloMs && t.s.accuracy >= target;
            trials.push({ scale, pass, s: t.s });
            log(`  ${s} ${shape} scale ${scale.toFixed(0)}: p95 ${ms(t.s.p95Ms)} ms, acc ${pct(t.s.accuracy)}, failed ${t.s.failed}/${t.s.requests} -> ${pass ? 'pass' : 'fail'}`);
            return pass;
          };
          // bracket from the planner's estimate, then bisect (geometric)
          let lo = 0;
          let hi = Infinity;
          let scale = Math.max(5, (0.8 * Math.min(sysPlan.topQps, kGuessQps)) / peak);
          while (trials.length < maxTrials) {
            if (await tryScale(scale)) lo = scale;
            else hi = scale;
            if (hi === Infinity) scale = lo * 1.6;
            else if (lo === 0) scale = hi / 1.6;
            else scale = Math.sqrt(lo * hi);
            if (hi !== Infinity && lo > 0 && hi / lo < 1.08) break;
          }
          capacity.push({ drop: pair.drop, target, sloMs: pair.sloMs, trace: shape, system: s, capacity: lo, trials });
        }
        // fixed scale: accuracy and p95 at one scale (the same for every pair)
        const f = await runTrial(srv, 'twitter', fixedS);
        fixedScale.push({ drop: pair.drop, sloMs: pair.sloMs, system: s, trace: 'twitter', scale: fixedS, s: f.s });
        log(`  ${s} fixed scale ${fixedS.toFixed(0)} (twitter): p95 ${ms(f.s.p95Ms)} ms, acc ${pct(f.s.accuracy)}`);
        // burst (step trace), first pair only
        if (pi === 0) {
          const swBefore = srv.switches.length;
          const b = await runTrial(srv, 'step', burstS, Q ? 2000 : 9000);
          burst ??= { scale: burstS, sloMs: pair.sloMs, runs: [], gearCount: plans.cascadeserve.plan.gears.length };
          burst.runs.push({ system: s, s: b.s, bins: timeSeries(b.trace, b.r, Q ? 200 : 250), switches: srv.switches.length - swBefore });
          log(`  ${s} step burst at ${burstS.toFixed(0)}: p95 ${ms(b.s.p95Ms)} ms, acc ${pct(b.s.accuracy)}, switches ${srv.switches.length - swBefore}`);
        }
      } finally {
        await srv.stop();
      }
    }
  }

  // simulator check against real runs at 1 and 2 lanes: constant (Poisson) load, one gear
  const check: { lanes: number; gear: string; qps: number; measuredP95Ms: number; simulatedP95Ms: number; failed: number }[] = [];
  {
    const pair = pairs[0];
    const checkLanes = Q ? [1] : [1, 2];
    for (const L of checkLanes) {
      const plans = await systemPlans(sp, pair.sloMs, pair.drop, L, manifestPath);
      for (const s of (Q ? ['static'] : ['static', 'dynamic']) as SystemName[]) {
        const plan = plans[s].plan;
        const file = join(planDir, `check-${L}lanes-${s}.json`);
        writeFileSync(file, JSON.stringify(plan, null, 1) + '\n');
        const g = plan.gears[0];
      const srv = await startServer(file);
        try {
          await runTrial(srv, 'constant', Math.max(20, Math.min(plans[s].topQps, kGuessQps) * 0.2), 1000);
          for (const f of Q ? [0.5] : [0.3, 0.6, 0.9]) {
            const qps = Math.max(5, f * Math.min(plans[s].topQps, kGuessQps));
            const t = await runTrial(srv, 'constant', qps, Q ? 1500 : 4000);
            const specModels = g.stages.map((st) => profile.models.findIndex((m) => m.name === st.model));
            const exit = exitStages(sp.val, { models: specModels, thresholds: g.stages.slice(0, -1).map((st) => st.threshold), measure: g.stages[0].measure });
            const sim = simulate({
              stages: g.stages.map((st, k) => {
                const timeUs = [0];
                for (let b = 1; b <= st.maxBatch; b++) timeUs.push(tableTimeUs(sp.models[specModels[k]], b));
                return { timeUs, maxBatch: st.maxBatch, maxQueueDelayUs: st.maxQueueDelayUs, laneEligible: st.laneShares.map((x) => x > 0) };
              }),
              lanes: L,
              exitStage: exit,
              qps,
              arrivals: 'poisson',
              requests: 4000,
              seed: 3,
              sloUs: pair.sloMs * 1000,
            });
            check.push({ lanes: L, gear: `${s}: ${g.stages.map((st) => st.model).join('>')}`, qps, measuredP95Ms: t.s.p95Ms, simulatedP95Ms: sim.p95Ms, failed: t.s.failed });
            log(`  check ${L} lane(s) ${s} @ ${qps.toFixed(0)} QPS: measured p95 ${ms(t.s.p95Ms)} ms, simulated ${ms(sim.p95Ms)} ms`);
          }
        } finally {
          await srv.stop();
        }
      }
    }
  }

  // beyond one machine: simulator at 1..64 lanes
  const laneSet = Q ? [1, 2, 4] : [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
  const twitterCurve = rateCurve('twitter', 24 * 3600 * 1000 / 1440, kSeed); // the shape (1440 bins)
  const simZoo = await lanesComparison(makeSpace(profile), { sloMs: pairs[0].sloMs, drop: pairs[0].drop, rate: downsample(twitterCurve, 96), laneSet, maxCascades: Q ? 4 : 12, steps: Q ? 5 : 8 });
  log(`simulator, zoo profile: ${JSON.stringify(simZoo.rows.map((r) => [Math.round(r.scale), r.lanes, r.ratio]))}`);
  const bert = makeSpace(bertV100Profile(Q ? 1000 : 4000));
  const bertDrop = 0.01; // accuracy >= 84% (as in the paper's BERT example: best 0.849 - ~0.9 pt)
  const simBert = await lanesComparison(bert, { sloMs: 100, drop: bertDrop, rate: downsample(twitterCurve, 96), laneSet, maxCascades: Q ? 4 : 12, steps: Q ? 5 : 8 });
  log(`simulator, V100 BERT profile: ${JSON.stringify(simBert.rows.map((r) => [Math.round(r.scale), r.lanes, r.ratio]))}`);

  // results
  const wallS = (performance.now() - tStart) / 1000;
  Object.assign(result, { plans: plansOut, capacity, fixedScale, burst, simulatorCheck: check, simulator: { zoo: simZoo, bertV100: simBert }, wallS });
  const prefix = Q ? 'eval-quick' : 'eval';
  const resultPath = join(outDir, `${prefix}.json`);
  writeFileSync(resultPath, JSON.stringify({ createdAt: new Date().toISOString(), ...result }, (_, v) => (v === Infinity ? 'Infinity' : v), 1) + '\n');

  // charts
  const labels = kSystemLabel as Record<string, string>;
  const groups = pairs.flatMap((p) => shapes.map((sh) => ({ label: `${pct(sp.bestHeld - p.drop)} / ${p.sloMs} ms / ${sh}`, values: Object.fromEntries(systems.map((s) => [s, capacity.find((c) => c.drop === p.drop && c.sloMs === p.sloMs && c.trace === sh && c.system === s)?.capacity ?? 0])) })));
  const svgs: Record<string, string> = {
    capacity: capacityChart('Capacity (largest trace scale, mean QPS) meeting the accuracy target and the p95 SLO', groups, systems, labels, 'capacity (mean QPS of the trace)'),
    'accuracy-latency': accuracyLatencyChart(`Accuracy and p95 at a fixed scale (twitter trace, mean ${fixedS.toFixed(0)} QPS), one point per SLO plan`, systems.map((s) => ({ system: s, points: fixedScale.filter((f) => f.system === s).map((f) => ({ p95Ms: f.s.p95Ms, accuracy: f.s.accuracy, label: `SLO ${f.sloMs} ms` })) })), labels, pairs.map((p) => p.sloMs)),
    burst: burst ? burstChart(`Step burst (0.5x -> 2x -> 0.5x of ${(burst as { scale: number }).scale.toFixed(0)} QPS): p95 per bin and gear over time`, (burst as NonNullable<typeof burst>).runs.filter((r) => r.system === 'cascadeserve' || r.system === 'static' || r.system === 'msplus'), labels, pairs[0].sloMs, (burst as NonNullable<typeof burst>).gearCount) : '',
    'lanes-zoo': lanesChart(`Simulator: lanes needed (zoo profile, twitter trace, target ${pct(simZoo.target)}, p95 ${simZoo.sloMs} ms)`, simZoo.rows, systems, labels),
    'lanes-bert': lanesChart(`Simulator: V100s needed (BERT profile from published figures, target ${pct(simBert.target)}, p95 ${simBert.sloMs} ms)`, simBert.rows, systems, labels),
  };
  for (const [k, v] of Object.entries(svgs)) if (v) writeFileSync(join(outDir, `${prefix}-${k}.svg`), v);

  // markdown
  const rel = (p: string) => (p.startsWith(root) ? p.slice(root.length + 1) : p);
  const capRows: (string | number)[][] = [];
  for (const p of pairs) for (const sh of shapes) {
    const get = (s: SystemName) => capacity.find((c) => c.drop === p.drop && c.sloMs === p.sloMs && c.trace === sh && c.system === s)?.capacity ?? 0;
    const base = Math.max(get('msplus'), get('static'), get('dynamic'));
    capRows.push([pct(sp.bestHeld - p.drop), p.sloMs, sh, ...systems.map((s) => get(s).toFixed(0)), base > 0 ? `${(get('cascadeserve') / base).toFixed(2)}x` : get('cascadeserve') > 0 ? 'inf' : '-']);
  }
  const md: string[] = [];
  md.push('## Evaluation', '');
  md.push(`Reproduce: \`npm run eval\` (about ${Math.ceil(wallS / 60)} min here; \`npm run eval -- --quick\` is the CI smoke test). Generated ${new Date().toISOString()} on ${machine().cpus} CPU(s) (${machine().cpuModel}); every figure below comes from \`${rel(resultPath)}\`.${Q ? ' **QUICK RUN: tiny trials, figures not meaningful.**' : ''}`, '');
  md.push(`Systems (each a plan served by \`cascadeserve serve\` with ${lanes} lane; the open-loop replayer runs in another process): ${systems.map((s) => `**${labels[s]}**`).join(', ')}. Targets: held-out accuracy of the best single model (${pct(sp.bestHeld)}) minus 0.5 / 1.5 / 3 points. Capacity = the largest mean QPS of the trace (${trialMs / 1000} s replay per trial, search over the scale, at most ${maxTrials} trials) at which p95 (failures count as infinite) <= SLO and accuracy >= target. Accuracy = the request-weighted held-out accuracy of the gears that answered (each gear's exact accuracy on the whole held-out half; failures count as wrong), which removes the sampling noise of a short trial; the raw accuracy of the actual answers is in the JSON (\`accuracyRaw\`).`, '');
  md.push(`Planning profile: the measured profile calibrated to the serving stack on this machine (the cheapest and the most expensive model served alone over HTTP: batch times x ${calibration.k.toFixed(2)} + ${calibration.hUs.toFixed(0)} us per request), the same for every system.`, '');
  md.push('| accuracy target | p95 SLO (ms) | trace | ' + systems.map((s) => labels[s]).join(' | ') + ' | CascadeServe / best baseline |');
  md.push('|' + ' --- |'.repeat(systems.length + 4));
  for (const r of capRows) md.push(`| ${r.join(' | ')} |`);
  md.push('', `![capacity](../benchmarks/results/${prefix}-capacity.svg)`, '');
  md.push(`Fixed scale (twitter trace, mean ${fixedS.toFixed(0)} QPS): accuracy and p95 per system and SLO plan.`, '');
  md.push('| p95 SLO (ms) | system | accuracy | p95 (ms) | failed |', '| --- | --- | --- | --- | --- |');
  for (const f of fixedScale) md.push(`| ${f.sloMs} | ${labels[f.system]} | ${pct(f.s.accuracy)} | ${ms(f.s.p95Ms)} | ${f.s.failed}/${f.s.requests} |`);
  md.push('', `![accuracy-latency](../benchmarks/results/${prefix}-accuracy-latency.svg)`, '');
  if (burst) {
    const b = burst as NonNullable<typeof burst>;
    md.push(`Burst (step trace 0.5x -> 2x -> 0.5x of ${b.scale.toFixed(0)} QPS, SLO ${b.sloMs} ms):`, '', '| system | p95 (ms) | accuracy | failed | gear switches | worst p95 of a 250 ms bin (ms) |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of b.runs) md.push(`| ${labels[r.system]} | ${ms(r.s.p95Ms)} | ${pct(r.s.accuracy)} | ${r.s.failed}/${r.s.requests} | ${r.switches} | ${ms(Math.max(...r.bins.filter((x) => x.requests > 0).map((x) => x.p95Ms)))} |`);
    md.push('', `![burst](../benchmarks/results/${prefix}-burst.svg)`, '');
  }
  md.push('Simulator check (constant Poisson load, one gear): measured vs simulated p95.', '', '| lanes | gear | QPS | measured p95 (ms) | simulated p95 (ms) |', '| --- | --- | --- | --- | --- |');
  for (const c of check) md.push(`| ${c.lanes} | ${c.gear} | ${c.qps.toFixed(0)} | ${ms(c.measuredP95Ms)} | ${ms(c.simulatedP95Ms)} |`);
  md.push('');
  for (const [name, sim, unit] of [['zoo profile (measured here)', simZoo, 'lanes'], ['V100 BERT profile (published figures, synthetic answers; see benchmarks/eval/gpu-profile.ts)', simBert, 'V100s']] as const) {
    md.push(`Simulator, ${name}: ${unit} needed for the twitter-shaped trace (peak ${sim.peakToMean.toFixed(2)}x mean), target ${pct(sim.target)}, p95 ${sim.sloMs} ms; static = ${sim.static}, dynamic = ${sim.dynamic}.`, '');
    md.push('| mean QPS | ' + systems.map((s) => labels[s]).join(' | ') + ' | best baseline / CascadeServe |', '|' + ' --- |'.repeat(systems.length + 2));
    for (const r of sim.rows) md.push(`| ${r.scale.toFixed(0)} | ${systems.map((s) => r.lanes[s] ?? '>' + laneSet[laneSet.length - 1]).join(' | ')} | ${r.ratio ? r.ratio.toFixed(2) + 'x' : '-'} |`);
    md.push('');
  }
  md.push(`![lanes zoo](../benchmarks/results/${prefix}-lanes-zoo.svg) ![lanes bert](../benchmarks/results/${prefix}-lanes-bert.svg)`, '');
  const docPath = o.docPath ?? (Q ? join(outDir, 'eval-quick.md') : join(root, 'docs', 'evaluation-results.md'));
  writeFileSync(docPath, md.join('\n') + '\n');
  log(table(['target', 'SLO ms', 'trace', ...systems, 'ratio'], capRows));
  log(`eval done in ${wallS.toFixed(0)} s: ${resultPath}, ${docPath}`);
  return { resultPath, docPath, result };
}

/** Batch times t'(b) = k * t(b) + hUs * b. */
export function derate(p: Profile, k: number, hUs: number): Profile {
  return { ...p, models: p.models.map((m) => ({ ...m, timings: m.timings.map((t) => ({ ...t, batchTimesUs: t.batchTimesUs.map((r) => ({ ...r, p50: r.p50 * k + hUs * r.batch, p95: r.p95 * k + hUs * r.batch })) })) })) };
}

/**
 * Calibration of the profile to the whole serving stack on this machine: the sustainable
 * throughput (constant Poisson load, p95 <= 25 ms, no failure; geometric bisection) of the
 * cheapest and of the most expensive model served alone (one lane, maxBatch 8, no queue delay)
 * gives the real time per request tau for each; fitting tau = k * c + h, with c = the profile's
 * per-image time at batch 8, yields a slowdown k (lane contention) and a per-request overhead h
 * (HTTP, codec, event loop). Bounded to k in [1, 10], h in [0, 2000] us.
 */
async function calibrate(profile: Profile, manifestPath: string, heldout: Dataset, model: string, work: string, quick: boolean, log: (s: string) => void) {
  const byCost = profile.models.map((m, i) => ({ i, c: tableTimeUs({ name: m.name, memoryBytes: 0, batch: m.timings[0].batchTimesUs.map((r) => r.batch), p50Us: m.timings[0].batchTimesUs.map((r) => r.p50) }, 8) / 8 })).sort((a, b) => a.c - b.c);
  const pick = [byCost[0], byCost[byCost.length - 1]];
  const points: { model: string; cUs: number; sustainableQps: number; tauUs: number }[] = [];
  for (const { i, c } of pick) {
    const m = profile.models[i];
    const plan = { schema: 'cascadeserve.plan/1', createdAt: new Date().toISOString(), profile: { path: 'n/a', createdAt: profile.createdAt, models: profile.models.map((x) => ({ name: x.name, sha256: x.sha256 })) }, manifest: { path: manifestPath, name: model }, slo: { p95Ms: 50 }, objective: 'accuracy', utilizationCap: 0.8, lanes: [{ kind: 'cpu', intraOpThreads: 1 }], placement: { [m.name]: [0] }, models: profile.models.map((x) => ({ name: x.name, file: x.file, sha256: x.sha256, memoryBytes: x.memoryBytes })), loadGrid: { levels: 1, maxQps: 1e9 }, gears: [{ id: 0, minQps: 0, maxQps: 1e9, stages: [{ model: m.name, threshold: 0, measure: 'max_prob', maxBatch: 8, maxQueueDelayUs: 0, laneShares: [1] }], expectedAccuracy: 0.5, expectedCostUs: c, predictedP95Ms: 1, utilization: 0.5 }], unservable: [], planner: { thresholdsPerStage: 64, maxStages: 1, candidatesEvaluated: 1, frontierSize: 1, gearCandidates: 1, batchTimeRule: 'step-up', simulation: kSim } };
    const file = join(work, `calibrate-${m.name}.json`);
    writeFileSync(file, JSON.stringify(plan));
    const srv = await startServer(file);
    try {
      const trial = async (q: number, ms: number) => summarize(await replay(makeTrace('constant', q, ms, 11, heldout.count), { url: srv.url, model, heldout }));
      // warm-up (the first batches of a fresh session are slow)
      await trial(100, quick ? 500 : 1000);
      await trial(100, quick ? 500 : 1000);
      let lo = 0;
      let hi = Infinity;
      let q = Math.min(3000, 0.4e6 / c);
      for (let step = 0; step < (quick ? 3 : 6); step++) {
        const s = await trial(q, quick ? 800 : 2000);
        if (s.p95Ms <= 25 && s.failed === 0) lo = q;
        else hi = q;
        await sleep(300);
        q = hi === Infinity ? q * 1.6 : lo === 0 ? q / 1.6 : Math.sqrt(lo * hi);
      }
      const sustainable = Math.max(lo, 10);
      points.push({ model: m.name, cUs: c, sustainableQps: sustainable, tauUs: 1e6 / sustainable });
      log(`calibration: ${m.name} alone sustains ${sustainable.toFixed(0)} QPS (profile: ${c.toFixed(1)} us/image at batch 8)`);
    } finally {
      await srv.stop();
    }
  }
  const [a, b] = points;
  let k = b.cUs > a.cUs ? (b.tauUs - a.tauUs) / (b.cUs - a.cUs) : 1;
  k = Math.min(10, Math.max(1, k));
  const hUs = Math.min(2000, Math.max(0, a.tauUs - k * a.cUs));
  log(`calibration: batch times x ${k.toFixed(2)} + ${hUs.toFixed(0)} us per request`);
  return { k, hUs, points };
}

function downsample(xs: number[], n: number): number[] {
  const out: number[] = [];
  const k = xs.length / n;
  for (let i = 0; i < n; i++) {
    const seg = xs.slice(Math.floor(i * k), Math.max(Math.floor(i * k) + 1, Math.floor((i + 1) * k)));
    out.push(Math.max(...seg));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const profIdx = args.indexOf('--profile');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130)); // exit handlers stop the servers
  await runEval({ quick: args.includes('--quick'), outDir: outIdx >= 0 ? args[outIdx + 1] : undefined, profilePath: profIdx >= 0 ? args[profIdx + 1] : undefined });
}
