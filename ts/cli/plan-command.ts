// `cascadeserve plan --profile profile.json --slo-p95-ms X --lanes N [--objective accuracy|cost]
//   [--min-accuracy A] [--workload w.json] [--max-qps Q] [--memory-mb M] [--host-cores C --host-us-per-request U] [--threads T]
//   [--out plan.json] [--svg plan.svg]`
// The profile's model files are checked (sha256) against the manifest it names (or
// --manifest); a mismatch is an input error naming the model and file.
// Exit codes: 0 plan written (every level servable), 1 usage or input error,
// 3 plan written but some load levels cannot be served (listed), 4 no level servable.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifest } from '../contracts/manifest.js';
import { checkProfileAgainstManifest, manifestPathOf } from '../tools/profile-check.js';
import { computePlan, type PlanOptions } from '../../planner/compute-plan.js';
import { validatePlan } from '../contracts/plan-schema.js';
import { validateProfile } from '../contracts/profile-schema.js';
import { planSvg } from '../../planner/svg.js';

export interface CommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  isTTY: boolean;
}

const kUsage = 'usage: cascadeserve plan --profile profile.json --slo-p95-ms X --lanes N [--objective accuracy|cost] [--min-accuracy A] [--workload workload.json] [--max-qps Q] [--memory-mb M] [--threads T] [--out plan.json] [--svg plan.svg] [--manifest cascade.json]\n';

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${v}"`);
  return n;
}

/** workload.json: {"qps": number[]} (per-second trace) or {"histogram": [{"qps": x, "weight": w}]}. */
function readWorkload(path: string): number[] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { qps?: unknown; histogram?: unknown };
  if (Array.isArray(raw.qps) && raw.qps.every((q) => typeof q === 'number' && q >= 0)) return raw.qps as number[];
  if (Array.isArray(raw.histogram)) {
    return raw.histogram.map((h: { qps?: unknown }, i: number) => {
      if (typeof h?.qps !== 'number' || !(h.qps >= 0)) throw new Error(`${path}: histogram[${i}].qps: expected a non-negative number`);
      return h.qps;
    });
  }
  throw new Error(`${path}: expected {"qps": number[]} or {"histogram": [{"qps", "weight"}]}`);
}

export async function runPlanCommand(argv: string[], io: CommandIo): Promise<number> {
  let opts: PlanOptions;
  let out: string, svg: string | undefined, profilePath: string, manifestArg: string | undefined;
  try {
    const { values: v } = parseArgs({
      args: argv,
      options: {
        profile: { type: 'string' }, 'slo-p95-ms': { type: 'string' }, lanes: { type: 'string' },
        objective: { type: 'string' }, 'min-accuracy': { type: 'string' }, workload: { type: 'string' },
        'max-qps': { type: 'string' }, 'memory-mb': { type: 'string' }, threads: { type: 'string' },
        'host-cores': { type: 'string' }, 'host-us-per-request': { type: 'string' },
        out: { type: 'string' }, svg: { type: 'string' }, manifest: { type: 'string' }, help: { type: 'boolean' },
      },
    });
    if (v.help) {
      io.stdout.write(kUsage);
      return 0;
    }
    if (!v.profile || !v['slo-p95-ms'] || !v.lanes) throw new Error('--profile, --slo-p95-ms and --lanes are required');
    if (v.objective !== undefined && v.objective !== 'accuracy' && v.objective !== 'cost') throw new Error('--objective must be "accuracy" or "cost"');
    profilePath = v.profile;
    out = v.out ?? 'plan.json';
    svg = v.svg;
    manifestArg = v.manifest;
    const mem = num(v['memory-mb'], '--memory-mb');
    const hostCores = num(v['host-cores'], '--host-cores');
    const hostUs = num(v['host-us-per-request'], '--host-us-per-request');
    if ((hostCores === undefined) !== (hostUs === undefined)) throw new Error('--host-cores and --host-us-per-request go together');
    opts = {
      sloP95Ms: num(v['slo-p95-ms'], '--slo-p95-ms')!,
      lanes: num(v.lanes, '--lanes')!,
      objective: (v.objective as 'accuracy' | 'cost' | undefined) ?? 'accuracy',
      minAccuracy: num(v['min-accuracy'], '--min-accuracy'),
      maxQps: num(v['max-qps'], '--max-qps'),
      workload: v.workload ? readWorkload(v.workload) : undefined,
      memoryBudgetBytesPerLane: mem === undefined ? Infinity : mem * 1024 * 1024,
      threads: num(v.threads, '--threads') ?? Math.min(4, availableParallelism()),
      ...(hostCores !== undefined ? { hostCpu: { cores: hostCores, usPerRequest: hostUs! } } : {}),
      profilePath,
    };
  } catch (err) {
    io.stderr.write(`cascadeserve plan: ${(err as Error).message}\n${kUsage}`);
    return 1;
  }
  try {
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
      if (io.isTTY) {
        const w = 30, f = Math.round((done / Math.max(1, total)) * w);
        io.stderr.write(`\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${phase} ${done}/${total}\x1b[K`);
      } else {
        const line = `${phase} ${Math.floor((done / Math.max(1, total)) * 4) * 25}%`;
        if (line !== lastLine) io.stderr.write(`${line}\n`);
        lastLine = line;
      }
    };
    const { plan, stats } = await computePlan(profile, opts, progress);
    if (io.isTTY) io.stderr.write('\n');
    // paths in plan.json are relative to the plan file (absolute when on another root)
    const rel = (p: string) => relative(dirname(resolve(out)), p) || p;
    plan.manifest.path = rel(manifestPath);
    plan.profile.path = rel(resolve(profilePath));
    validatePlan(plan);
    writeFileSync(out, JSON.stringify(plan, null, 2) + '\n');
    if (svg) writeFileSync(svg, planSvg(plan));
    io.stdout.write(`wrote ${out}: ${plan.gears.length} gear(s) on ${plan.lanes.length} lane(s), ${stats.candidatesEvaluated} cascades searched, frontier ${stats.frontierSize}, ${(stats.totalMs / 1000).toFixed(2)} s with ${stats.threads} thread(s)\n`);
    for (const g of plan.gears) {
      io.stdout.write(`  gear ${g.id}: ${g.minQps.toFixed(0)}-${g.maxQps.toFixed(0)} qps  ${g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join(' > ')}  acc ${g.expectedAccuracy.toFixed(4)}${g.heldoutAccuracy !== undefined ? ` (held-out ${g.heldoutAccuracy.toFixed(4)})` : ''}  p95 ${g.predictedP95Ms.toFixed(1)} ms\n`);
    }
    for (const u of plan.unservable) io.stderr.write(`cannot serve ${u.minQps.toFixed(0)}-${u.maxQps.toFixed(0)} qps: ${u.reason}\n`);
    if (plan.gears.length === 0) {
      io.stderr.write(`cascadeserve plan: no gear meets the p95 SLO of ${opts.sloP95Ms} ms at any load level\n`);
      return 4;
    }
    return plan.unservable.length ? 3 : 0;
  } catch (err) {
    io.stderr.write(`cascadeserve plan: ${(err as Error).message}\n`);
    return 1;
  }
}
