// `node dist/benchmarks/eval/probe.js --plan PLAN[,PLAN...] [--view engine|http] [--scales
// 4200,4700] [--seeds 11,12,13] [--trace azure] [--day-ms 6000] [--drop 0.005] [--no-pause]
// [--oracle] [--switches] [--losses] [--batch-times-k K] [--hog] [--accuracy-window-ms MS]
// [--max-in-flight N] [--submit-items 1,64] [--warm-up trace|constant]`:
// replays a trace into the systems of frozen plan files (the evaluation's engine view,
// engine-replay.ts, or its HTTP view, a `cascadeserve serve` child per plan), once per seed,
// scale and plan, plans in turn as a cell runs them, and prints what decides a trial: the
// answered accuracy against the trial's target (best single model on the same images minus
// the drop), the gear-weighted accuracy, p95, failed items and the share of requests per gear.
// In the HTTP view a server is stopped (SIGSTOP) outside its own trials, as in the evaluation;
// --no-pause leaves them all running. --oracle (engine view) runs each plan a second time under
// the oracle switcher (the trace's true rate, no hysteresis), as the evaluation's oracle does;
// --switches prints every switch of a trial (time, gears, the measured rate and backlog, the
// policy's reason); --losses (engine view) its lost items grouped into episodes, each with the
// switches around it (loss-episodes.ts). At the end, per plan: trials passed, the generator's lag in passed and
// failed trials, and the arrivals' dispersion (LoadMonitor.dispersion) at its switches by reason.
// A plan named PLAN+nobudget runs without the policy's accuracy budget
// (`serve --no-accuracy-budget`); --accuracy-window-ms sets the budget's window (default: the
// day, as the evaluation runs it). --batch-times-k K runs each plan named with a `+times` suffix (PLAN+times)
// as if the planner had written its batch times (models[].batchTimesUs: the profile's p50s times
// K, the calibration the plan was computed with), so that a plan from before session 15 engages
// the server's host speed; a copy with them goes to benchmarks/local/plans/. The same plan with
// and without the suffix runs the two side by side. --hog keeps one CPU busy with another process for the
// whole probe (a noisy neighbour). --max-in-flight N sets each system's bound on items in flight
// (default: the plan's, as the server's; `serve --max-in-flight`). --submit-items (engine view)
// runs each plan once per value given, with at most that many of a timer tick's due items per
// engine submit (engine-replay.ts; default 64; 1 = one submit per item, the generator before
// session 37). Each system's server first runs a warm-up trial as the evaluation's (cell.ts,
// warmUpTrace: the trace on tuning seed 11 at the first scale over a 2 s day); --warm-up
// constant runs the one before session 40 instead (500 QPS constant for 2 s), after which a
// fresh server's first trial ran cold (docs/evaluation.md, "Warm-up"). In the engine view each trial
// also prints the JavaScript thread's CPU time per request (Linux) and the generator's largest
// lag with its time beside the trace's busiest 100 ms. For looking into one cell between recorded runs, on
// tuning seeds; its outcomes are single trials, not capacities.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadDataset } from '../../ts/contracts/dataset.js';
import { loadManifest } from '../../ts/contracts/manifest.js';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { validateProfile } from '../../ts/contracts/profile-schema.js';
import { validatePlan } from '../../ts/contracts/plan-schema.js';
import { makeTrace, type TraceShape } from '../../testkit/traces.js';
import { startEngineSystem, type SwitchRecord } from './engine-replay.js';
import { replay } from './replay.js';
import { startServer, trialOnPausedServer } from './server-proc.js';
import { summarize } from './measure.js';
import { describeLossEpisode, lossEpisodes } from './loss-episodes.js';
import { makeSpace } from './systems.js';
import { kWarmUpDayMs, warmUpTrace } from './cell.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const numbers = (name: string, dflt: string) =>
  arg(name, dflt)!.split(',').map((x) => {
    const v = Number(x);
    if (!(x.trim() !== '' && Number.isFinite(v) && v > 0)) throw new Error(`${name}: expected positive numbers separated by commas, got '${x}'`);
    return v;
  });
const planPath = arg('--plan');
if (!planPath) throw new Error('--plan: the plan file to replay into (e.g. benchmarks/results/eval-plans/engine-azure-50ms-drop5-cascadeserve.json)');
const trace = arg('--trace', 'azure') as TraceShape;
if (!['twitter', 'azure', 'step', 'constant'].includes(trace)) throw new Error(`--trace: unknown trace '${trace}' (twitter, azure, step, constant)`);
const [dayMs] = numbers('--day-ms', '6000');
const view = arg('--view', 'engine');
const pauseIdle = !args.includes('--no-pause');
const warmUp = arg('--warm-up', 'trace');
if (warmUp !== 'trace' && warmUp !== 'constant') throw new Error(`--warm-up: unknown warm-up '${warmUp}' (trace, constant)`);
if (view !== 'engine' && view !== 'http') throw new Error(`--view: unknown view '${view}' (engine, http)`);
const drop = Number(arg('--drop', '0.005'));
if (!(drop >= 0 && drop < 1)) throw new Error(`--drop: expected a fraction in [0, 1), got '${arg('--drop')}'`);

const root = packageRoot();
const manifest = await loadManifest(join(root, 'models', 'fmnist', 'cascade.json'));
const heldout = loadDataset(manifest.data.heldout);
const sp = makeSpace(validateProfile(JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'profile.json'), 'utf8'))));
// Several plans (comma-separated) run side by side as the evaluation runs a cell's systems:
// every system started first, then each (seed, scale) tried on each in turn.
const withOracle = args.includes('--oracle');
if (withOracle && view !== 'engine') throw new Error('--oracle: the oracle switcher runs in the engine view only (it needs the true rate in process)');
const showSwitches = args.includes('--switches');
const showLosses = args.includes('--losses');
if (showLosses && view !== 'engine') throw new Error("--losses: the engine view's only (its switch records share the trial's clock with the requests)");
const timesK = arg('--batch-times-k') === undefined ? undefined : Number(arg('--batch-times-k'));
if (timesK !== undefined && !(timesK > 0)) throw new Error(`--batch-times-k: expected a positive number, got '${arg('--batch-times-k')}'`);
// A copy of the plan with the profile's batch times scaled by K, at the same depth below the
// package root as the evaluation's plans (the manifest path in a plan is relative to it).
const withTimes = (named: string): string => {
  if (!named.endsWith('+times')) return named;
  const path = named.slice(0, -'+times'.length);
  if (timesK === undefined) throw new Error(`--plan ${named}: a +times plan needs --batch-times-k`);
  const plan = JSON.parse(readFileSync(path, 'utf8')) as { models: { name: string }[] };
  const profile = JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'profile.json'), 'utf8')) as { models: { name: string; timings: { batchTimesUs: { batch: number; p50: number }[] }[] }[] };
  for (const m of plan.models as { name: string; batchTimesUs?: unknown }[]) {
    const p = profile.models.find((x) => x.name === m.name);
    if (p) m.batchTimesUs = p.timings[0].batchTimesUs.map((r) => ({ batch: r.batch, p50Us: r.p50 * timesK }));
  }
  const dir = join(root, 'benchmarks', 'local', 'plans');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, basename(path).replace(/\.json$/, `-times-${timesK}.json`));
  writeFileSync(out, JSON.stringify(plan, null, 2));
  return out;
};
// PLAN+nobudget: the server's policy without its accuracy budget (--no-accuracy-budget)
const submitItems: (number | undefined)[] = arg('--submit-items') === undefined ? [undefined] : numbers('--submit-items', '64');
if (submitItems.some((x) => x !== undefined && !Number.isInteger(x))) throw new Error(`--submit-items: expected positive integers, got '${arg('--submit-items')}'`);
if (arg('--submit-items') !== undefined && view !== 'engine') throw new Error('--submit-items: the engine view only (the HTTP view submits what each request carries)');
const planPaths = planPath.split(',').map((named) => (named.endsWith('+nobudget') ? { named: named.slice(0, -'+nobudget'.length), budget: false } : { named, budget: true })).map(({ named, budget }) => ({ path: withTimes(named), budget })).flatMap(({ path, budget }) => (withOracle ? [{ path, budget, oracle: false }, { path, budget, oracle: true }] : [{ path, budget, oracle: false }])).flatMap((x) => submitItems.map((perSubmit) => ({ ...x, perSubmit })));
const systems = planPaths.map(({ path, budget, oracle, perSubmit }) => {
  const plan = validatePlan(JSON.parse(readFileSync(path, 'utf8')));
  return { path, budget, oracle, perSubmit, name: path.replace(/^.*\//, '').replace(/\.json$/, '') + (budget ? '' : ' (no budget)') + (oracle ? ' (oracle)' : '') + (perSubmit !== undefined ? ` (${perSubmit} per submit)` : ''), gearAccuracy: new Map(plan.gears.map((g) => [g.id, g.heldoutAccuracy ?? g.expectedAccuracy])), sloMs: plan.slo.p95Ms, passed: 0, n: 0, dispersionByReason: new Map<string, number[]>(), lagMs: { pass: [] as number[], fail: [] as number[] }, jsUsPerRequest: [] as number[] };
});
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

// the accuracy budget's window, as the evaluation runs every system: one day
const [accuracyWindowMs] = numbers('--accuracy-window-ms', String(dayMs));
const maxInFlight = arg('--max-in-flight') === undefined ? undefined : Number(arg('--max-in-flight'));
if (maxInFlight !== undefined && !(Number.isInteger(maxInFlight) && maxInFlight >= 1)) throw new Error(`--max-in-flight: expected a positive integer, got '${arg('--max-in-flight')}'`);
// The HTTP view as the evaluation runs it: `cascadeserve serve` as a child process, this
// process the open-loop generator (server-proc.ts, replay.ts).
async function startSystem(path: string, oracle: boolean, accuracyBudget: boolean, perSubmit: number | undefined) {
  if (view === 'engine') return startEngineSystem(path, heldout, { oracle, accuracyBudget, accuracyWindowMs, ...(maxInFlight !== undefined ? { maxInFlightItems: maxInFlight } : {}), ...(perSubmit !== undefined ? { submitItems: perSubmit } : {}) });
  const srv = await startServer(path, [...(accuracyBudget ? ['--accuracy-window-ms', String(accuracyWindowMs)] : ['--no-accuracy-budget']), ...(maxInFlight !== undefined ? ['--max-in-flight', String(maxInFlight)] : [])]);
  if (pauseIdle) srv.pause();
  return {
    replay: async (t: ReturnType<typeof makeTrace>) => {
      const run = () => replay(t, { url: srv.url, model: manifest.name, heldout, pool: srv.pool });
      if (!pauseIdle) {
        const before = srv.switches.length;
        return { record: await run(), switches: srv.switches.slice(before) };
      }
      const { result: record, switches } = await trialOnPausedServer(srv, run);
      return { record, switches };
    },
    close: () => srv.stop(),
  };
}
const running: Awaited<ReturnType<typeof startSystem>>[] = [];
// The JavaScript thread's own CPU time (Linux: the main thread's utime + stime, in clock ticks of
// 10 ms): in the engine view it carries the generator, the policy and every submit and answer,
// and at tens of thousands of requests a second it, not the lanes, can bound a cascade.
const mainThreadCpuMs = (): number | null => {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
};
// the noisy neighbour: a busy loop in another process, stopped with the probe
const hog = args.includes('--hog') ? spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }) : null;
try {
  for (const x of systems) {
    const sys = await startSystem(x.path, x.oracle, x.budget, x.perSubmit);
    running.push(sys);
    await sys.replay(warmUp === 'trace' ? warmUpTrace(trace, numbers('--scales', '4200,4700')[0], dayMs, 11, heldout.count) : makeTrace('constant', 500, kWarmUpDayMs, 11, heldout.count));
  }
  for (const seed of numbers('--seeds', '11,12,13')) {
    for (const scale of numbers('--scales', '4200,4700')) {
      const t = makeTrace(trace, scale, dayMs, seed, heldout.count);
      let right = 0;
      for (const img of t.image) right += sp.held.correct[sp.bestModel][img];
      const target = right / t.image.length - drop;
      // the trace's busiest 100 ms, beside where the generator lagged most
      const perBin = new Map<number, number>();
      for (const ms of t.sendMs) perBin.set(Math.floor(ms / 100), (perBin.get(Math.floor(ms / 100)) ?? 0) + 1);
      const [busiestBin, busiestCount] = [...perBin.entries()].reduce((a, b) => (b[1] > a[1] ? b : a), [0, 0]);
      for (const [i, x] of systems.entries()) {
        const cpu0 = mainThreadCpuMs();
        const { record, switches } = await running[i].replay(t);
        const cpu1 = mainThreadCpuMs();
        const jsUs = view === 'engine' && cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) * 1000) / t.sendMs.length : null;
        if (jsUs !== null) x.jsUsPerRequest.push(jsUs);
        const s = summarize(record, { sloMs: x.sloMs, gearAccuracy: x.gearAccuracy });
        const pass = s.accuracy >= target - 1e-9 && s.p95Ms <= x.sloMs;
        x.passed += pass ? 1 : 0;
        x.n++;
        x.lagMs[pass ? 'pass' : 'fail'].push(s.lagP95Ms);
        for (const w of switches) {
          if (w.recentDispersion === undefined) continue;
          const reason = w.reason ?? 'unknown';
          x.dispersionByReason.set(reason, [...(x.dispersionByReason.get(reason) ?? []), w.recentDispersion]);
        }
        let worst = 0;
        for (let k = 1; k < record.sendLagMs.length; k++) if (record.sendLagMs[k] > record.sendLagMs[worst]) worst = k;
        const lagPeak = view === 'engine' && t.sendMs.length > 0 ? `; generator lag max ${record.sendLagMs[worst].toFixed(1)} ms at ${(t.sendMs[worst] / 1000).toFixed(2)} s (busiest 100 ms of the trace: ${((busiestBin * 100) / 1000).toFixed(1)} s, ${busiestCount * 10} requests/s)` : '';
        const share = Object.entries(s.gearShare).map(([g, k]) => `${g}:${((100 * k) / s.requests).toFixed(0)}%`).join(' ');
        console.log(`${systems.length > 1 ? `${x.name} ` : ''}seed ${seed} scale ${scale}: accuracy ${pct(s.accuracy)} (gears ${pct(s.gearAccuracy)}) vs target ${pct(target)}, p95 ${s.p95Ms.toFixed(1)} ms (generator lag p95 ${s.lagP95Ms.toFixed(1)} ms), failed ${s.failed}/${s.requests}, switches ${switches.length}${jsUs !== null ? `, JavaScript thread ${jsUs.toFixed(2)} us/request` : ''} -> ${pass ? 'pass' : 'fail'}${lagPeak}; requests per gear ${share}`);
        if (showSwitches) for (const w of switches) console.log(`  switch ${JSON.stringify(w)}`);
        if (showLosses) for (const e of lossEpisodes(record, switches as SwitchRecord[])) console.log(`  losses ${describeLossEpisode(e)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  const spread = (xs: number[], digits: number) => {
    const v = [...xs].sort((a, b) => a - b);
    return `${v[(v.length - 1) >> 1].toFixed(digits)} [${v[0].toFixed(digits)}-${v[v.length - 1].toFixed(digits)}]`;
  };
  for (const x of systems) {
    console.log(`${x.name}: ${x.passed} of ${x.n} trials passed`);
    const lag = (['pass', 'fail'] as const).filter((k) => x.lagMs[k].length > 0).map((k) => `${k}ed trials ${spread(x.lagMs[k], 1)}`);
    console.log(`  generator lag p95, ms (median [min-max]): ${lag.join('; ')}`);
    if (x.jsUsPerRequest.length > 0) console.log(`  JavaScript thread CPU per request, us (median [min-max] over trials): ${spread(x.jsUsPerRequest, 2)}`);
    const byReason = [...x.dispersionByReason].map(([reason, v]) => `${reason} ${spread(v, 2)} (${v.length})`);
    if (byReason.length > 0) console.log(`  arrival dispersion at its switches, by reason (median [min-max] (switches)): ${byReason.join('; ')}`);
  }
} finally {
  hog?.kill('SIGKILL');
  for (const sys of running) await sys.close();
}
