// `cascadeserve plan`: profile.json -> plan.json (and optionally an SVG of the gears).
// The profile's model files are checked (sha256) against the manifest it names (or
// --manifest); a mismatch is an input error naming the model and file.
// Inputs estimated to take more than kPlanTimeBudgetS here are refused up front (usage error,
// the message names the estimate and what to change; planner/plan-estimate.ts).
// Exit codes: 0 plan written (every level servable), 1 input error, 2 usage error,
// 3 plan written but some load levels cannot be served (listed), 4 no level servable.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { loadManifest } from '../contracts/manifest.js';
import { checkProfileAgainstManifest, manifestPathOf } from '../tools/profile-check.js';
import { computePlan, kDefaultLoadLevels, type PlanOptions } from '../../planner/compute-plan.js';
import { validatePlan, type LoadBin } from '../contracts/plan-schema.js';
import { validateProfile } from '../contracts/profile-schema.js';
import { planSvg } from '../../planner/svg.js';
import { kPlanTimeBudgetS, PlanTooSlowError } from '../../planner/plan-estimate.js';
import { checkDefaultOutput, runCommand, UsageError, type CliIo, type CommandSpec } from './args.js';

// Loads the planner is asked to simulate: at least 1 qps (it simulates 50 ms burst phases, and
// a level far below 1 qps walks millions of them per simulated request), at most 10^7 qps.
const kMinLevelQps = 1;
const kMaxQps = 10_000_000;

export const kPlanCommand: CommandSpec = {
  name: 'plan',
  description: 'Computes the gears (cascade, thresholds, batching per load range) that meet the p95 SLO on the lanes; see docs/planner.md.',
  flags: [
    { name: 'profile', kind: 'input-file', help: 'profile.json from `cascadeserve profile`', required: true },
    { name: 'slo-p95-ms', kind: 'number', value: 'MS', above: 0, max: 60_000, help: 'the p95 latency objective in milliseconds', required: true },
    { name: 'lanes', kind: 'integer', min: 1, max: 64, help: 'CPU lanes of the server', required: true },
    { name: 'objective', kind: 'choice', choices: ['accuracy', 'cost'], default: 'accuracy', help: 'most accurate gear per load, or fewest lanes for --min-accuracy' },
    { name: 'min-accuracy', kind: 'number', value: 'A', min: 0, max: 1, help: 'accuracy target on the validation set: a floor per gear (objective cost; objective accuracy without --load-histogram), load-weighted with --load-histogram; its cheapest cascade is the static gear' },
    { name: 'load-histogram', kind: 'input-file', help: 'expected loads for --min-accuracy (objective accuracy): [{"rateQps", "weight"}] (weight: the share of time at that rate; the target is met per request), {"histogram": [...]} or {"qps": [...]} (per-second trace)' },
    { name: 'gear-ranges', kind: 'choice', choices: ['sustained', 'utilization-cap'], default: 'sustained', help: 'a gear serves up to its sustained capacity (Poisson p95 within the SLO, utilization <= 0.95) or, as before #14, up to utilization 0.8 with a bursty p95 check' },
    { name: 'workload', kind: 'input-file', help: 'loads to serve: {"qps": [...]} or {"histogram": [{"qps", "weight"}]}' },
    { name: 'max-qps', kind: 'number', value: 'Q', min: kDefaultLoadLevels * kMinLevelQps, max: kMaxQps, help: `top of the grid of ${kDefaultLoadLevels} load levels, the lowest at Q/${kDefaultLoadLevels} (default: capacity of the cheapest cascade on all lanes under the utilization cap)` },
    { name: 'memory-mb', kind: 'number', value: 'M', above: 0, max: 16_777_216, help: 'model memory budget per lane in MiB (default: unlimited)' },
    { name: 'host-cores', kind: 'number', value: 'C', above: 0, max: 1024, help: 'CPU cores shared by the lanes and the HTTP work (with --host-us-per-request)' },
    { name: 'host-us-per-request', kind: 'number', value: 'U', min: 0, max: 1_000_000, help: 'host CPU microseconds per request outside the lanes (with --host-cores)' },
    { name: 'threads', kind: 'integer', value: 'T', min: 1, max: 64, help: `planner worker threads (default: min(4, cores) = ${Math.min(4, availableParallelism())})` },
    { name: 'out', kind: 'output-file', default: 'plan.json', help: 'the plan to write' },
    { name: 'svg', kind: 'output-file', help: 'also draw the gears as SVG' },
    { name: 'manifest', kind: 'input-file', help: "the manifest to check the profile's model files against (default: the profile's manifest.path)" },
  ],
  exitCodes: '0 plan written; 1 input error; 2 usage error; 3 plan written with unservable load levels (listed); 4 no level servable.',
};

/** workload.json: {"qps": number[]} (per-second trace) or {"histogram": [{"qps": x, "weight": w}]}. */
function readWorkload(path: string): number[] {
  let raw: { qps?: unknown; histogram?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as { qps?: unknown; histogram?: unknown };
  } catch (err) {
    throw new Error(`--workload ${path}: ${(err as Error).message}`);
  }
  const level = (q: unknown, field: string): number => {
    if (typeof q !== 'number' || !(q === 0 || (q >= kMinLevelQps && q <= kMaxQps))) throw new Error(`${path}: ${field}: expected 0 (idle) or a load from ${kMinLevelQps} to ${kMaxQps} qps, got ${JSON.stringify(q)}`);
    return q;
  };
  if (Array.isArray(raw.qps)) return raw.qps.map((q, i) => level(q, `qps[${i}]`));
  if (Array.isArray(raw.histogram)) return raw.histogram.map((h: { qps?: unknown }, i: number) => level(h?.qps, `histogram[${i}].qps`));
  throw new Error(`${path}: expected {"qps": number[]} or {"histogram": [{"qps", "weight"}]}`);
}

/** --load-histogram: bins {rateQps, weight}; a {"qps": [...]} trace is one bin of weight 1 per second. */
function readLoadHistogram(path: string): LoadBin[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`--load-histogram ${path}: ${(err as Error).message}`);
  }
  const obj = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { qps?: unknown; histogram?: unknown }) : undefined;
  const rate = (q: unknown, field: string): number => {
    if (typeof q !== 'number' || !(q === 0 || (q >= kMinLevelQps && q <= kMaxQps))) throw new Error(`--load-histogram ${path}: ${field}: expected 0 (idle) or a load from ${kMinLevelQps} to ${kMaxQps} qps, got ${JSON.stringify(q)}`);
    return q;
  };
  let bins: LoadBin[];
  if (obj && Array.isArray(obj.qps)) bins = obj.qps.map((q, i) => ({ rateQps: rate(q, `qps[${i}]`), weight: 1 }));
  else {
    const list = Array.isArray(raw) ? raw : obj && Array.isArray(obj.histogram) ? obj.histogram : undefined;
    if (!list) throw new Error(`--load-histogram ${path}: expected [{"rateQps", "weight"}], {"histogram": [...]} or {"qps": number[]}`);
    const at = Array.isArray(raw) ? '' : 'histogram';
    bins = list.map((b: { rateQps?: unknown; qps?: unknown; weight?: unknown } | null, i: number) => {
      const w = b?.weight;
      if (typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)) throw new Error(`--load-histogram ${path}: ${at}[${i}].weight: expected a positive number, got ${JSON.stringify(w)}`);
      return { rateQps: rate(b?.rateQps ?? b?.qps, `${at}[${i}].rateQps`), weight: w };
    });
  }
  if (bins.length === 0) throw new Error(`--load-histogram ${path}: no bins`);
  return bins;
}

export async function runPlanCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kPlanCommand, argv, io, async ({ values: v }) => {
    const num = (name: string) => v[name] as number | undefined;
    const hostCores = num('host-cores');
    const hostUs = num('host-us-per-request');
    if ((hostCores === undefined) !== (hostUs === undefined)) throw new UsageError('--host-cores and --host-us-per-request go together');
    const objective = (v.objective as 'accuracy' | 'cost' | undefined) ?? 'accuracy';
    if (objective === 'cost' && v['min-accuracy'] === undefined) throw new UsageError('--objective cost needs --min-accuracy');
    if (objective === 'cost' && v.workload === undefined && v['max-qps'] === undefined) throw new UsageError('--objective cost needs --workload or --max-qps');
    if (v['load-histogram'] !== undefined && objective !== 'accuracy') throw new UsageError('--load-histogram goes with --objective accuracy (objective cost takes --workload)');
    if (v['load-histogram'] !== undefined && v['min-accuracy'] === undefined) throw new UsageError('--load-histogram needs --min-accuracy (the target it weights)');
    const profilePath = v.profile as string;
    const out = (v.out as string | undefined) ?? 'plan.json';
    if (v.out === undefined) checkDefaultOutput('out', out);
    const svg = v.svg as string | undefined;
    const manifestArg = v.manifest as string | undefined;
    const mem = num('memory-mb');
    const opts: PlanOptions = {
      sloP95Ms: num('slo-p95-ms')!,
      lanes: num('lanes')!,
      objective,
      minAccuracy: num('min-accuracy'),
      maxQps: num('max-qps'),
      workload: v.workload ? readWorkload(v.workload as string) : undefined,
      ...(v['load-histogram'] !== undefined ? { loadHistogram: readLoadHistogram(v['load-histogram'] as string) } : {}),
      gearRanges: (v['gear-ranges'] as 'sustained' | 'utilization-cap' | undefined) ?? 'sustained',
      memoryBudgetBytesPerLane: mem === undefined ? Infinity : mem * 1024 * 1024,
      threads: num('threads') ?? Math.min(4, availableParallelism()),
      ...(hostCores !== undefined ? { hostCpu: { cores: hostCores, usPerRequest: hostUs! } } : {}),
      profilePath,
    };
    return planAndWrite(opts, profilePath, out, svg, manifestArg, io);
  });
}

async function planAndWrite(opts: PlanOptions, profilePath: string, out: string, svg: string | undefined, manifestArg: string | undefined, io: CliIo): Promise<number> {
  let text: string;
  try {
    text = readFileSync(profilePath, 'utf8');
  } catch (err) {
    throw new Error(`cannot read profile ${profilePath}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${profilePath} is not JSON: ${(err as Error).message}`);
  }
  const profile = validateProfile(raw);
  const manifestPath = manifestArg ? resolve(manifestArg) : manifestPathOf(profile, profilePath);
  if (existsSync(manifestPath)) {
    checkProfileAgainstManifest(profile, await loadManifest(manifestPath, { checkFiles: false }));
  } else if (manifestArg) {
    throw new Error(`cannot read manifest ${manifestArg}`);
  } else {
    io.stderr.write(`note: manifest ${manifestPath} not found; the profile's model files were not checked\n`);
  }
  let lastLine = '';
  const progress = (phase: string, done: number, total: number) => {
    if (io.stderr.isTTY) {
      const w = 30, f = Math.round((done / Math.max(1, total)) * w);
      io.stderr.write(`\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${phase} ${done}/${total}\x1b[K`);
    } else {
      const line = `${phase} ${Math.floor((done / Math.max(1, total)) * 4) * 25}%`;
      if (line !== lastLine) io.stderr.write(`${line}\n`);
      lastLine = line;
    }
  };
  // Inputs it could not plan within the budget here are refused before any work, with the estimate.
  let result: Awaited<ReturnType<typeof computePlan>>;
  try {
    result = await computePlan(profile, { timeBudgetS: kPlanTimeBudgetS, ...opts }, progress);
  } catch (e) {
    if (e instanceof PlanTooSlowError) throw new UsageError(e.message);
    throw e;
  }
  const { plan, stats } = result;
  if (io.stderr.isTTY) io.stderr.write('\n');
  // paths in plan.json are relative to the plan file (absolute when on another root)
  const rel = (p: string) => relative(dirname(resolve(out)), p) || p;
  plan.manifest.path = rel(manifestPath);
  plan.profile.path = rel(resolve(profilePath));
  validatePlan(plan);
  writeFileSync(out, JSON.stringify(plan, null, 2) + '\n');
  if (svg) writeFileSync(svg, planSvg(plan));
  io.stdout.write(`wrote ${out}: ${plan.gears.length} gear(s) on ${plan.lanes.length} lane(s), ${stats.candidatesEvaluated} cascades searched, frontier ${stats.frontierSize}, ${(stats.totalMs / 1000).toFixed(2)} s with ${stats.threads} thread(s)\n`);
  for (const g of plan.gears) {
    io.stdout.write(`  gear ${g.id}: ${g.minQps.toFixed(0)}-${g.maxQps.toFixed(0)} qps  ${g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join(' > ')}  acc ${g.expectedAccuracy.toFixed(4)}${g.heldoutAccuracy !== undefined ? ` (held-out ${g.heldoutAccuracy.toFixed(4)})` : ''}  p95 ${g.predictedP95Ms.toFixed(1)} ms${g.static ? '  (static)' : ''}\n`);
  }
  for (const u of plan.unservable) io.stderr.write(`cannot serve ${u.minQps.toFixed(0)}-${u.maxQps.toFixed(0)} qps: ${u.reason}\n`);
  const ao = plan.accuracyObjective;
  if (ao) {
    const how = ao.mode === 'load-weighted' ? `load-weighted accuracy ${ao.loadWeightedAccuracy!.toFixed(4)} over the histogram${ao.capacityScale !== undefined ? `, which can grow x${ao.capacityScale.toFixed(2)} before the target is missed` : ''}` : 'every gear meets it';
    io.stdout.write(`  accuracy target ${ao.target}: ${how}; static cascade: gear ${plan.staticGearId ?? 'none'}\n`);
    if (!ao.met) io.stderr.write(`cascadeserve plan: the accuracy target ${ao.target} is not met (${ao.mode === 'load-weighted' ? `load-weighted ${ao.loadWeightedAccuracy!.toFixed(4)}` : 'a gear below it'})\n`);
  }
  if (plan.gears.length === 0) {
    // With --max-qps the grid starts at maxQps/levels: say so, as the cause may be that start.
    const grid = opts.objective === 'accuracy' && opts.maxQps !== undefined ? `; the lowest load level planned was ${(plan.loadGrid.maxQps / plan.loadGrid.levels).toPrecision(4)} qps (--max-qps ${opts.maxQps} over ${plan.loadGrid.levels} levels), a lower --max-qps plans lower loads` : '';
    io.stderr.write(`cascadeserve plan: no gear meets the p95 SLO of ${opts.sloP95Ms} ms at any load level${grid}\n`);
    return 4;
  }
  return plan.unservable.length ? 3 : 0;
}
