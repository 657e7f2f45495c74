// `npm run bench:planner [-- --quick] [-- --record]`: planning time for the zoo (5 models, up to 3 stages, 64
// thresholds per stage, 64 load levels) on one thread and with Piscina workers, alternating
// the two so that a busy stretch of the shared machine hits both; medians over repetitions
// and their ratio (the workers' speed-up); beside them the plan command's own estimate of its
// running time (planner/plan-estimate.ts), the calibration check of that estimate.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { computePlan, planWorkOf } from '../planner/compute-plan.js';
import { estimatePlanSeconds } from '../planner/plan-estimate.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { median, table, writeResult } from './stats.js';

export async function runPlannerBench(o: { quick: boolean; record?: boolean }): Promise<{ text: string; path: string }> {
  const profile = validateProfile(JSON.parse(readFileSync(join(packageRoot(), 'models', 'fmnist', 'profile.json'), 'utf8')));
  const reps = o.quick ? 2 : 5;
  const workers = Math.max(2, Math.min(4, availableParallelism()));
  // the committed plan's settings (npm run plan:zoo)
  const base = { sloP95Ms: 10, lanes: 1, maxQps: 25000, loadLevels: 64, thresholds: 64, maxStages: 3 };
  const runs: Record<'single' | 'workers', { totalMs: number; searchMs: number; assignMs: number }[]> = { single: [], workers: [] };
  for (let r = 0; r < reps; r++) {
    for (const mode of ['single', 'workers'] as const) {
      const { stats } = await computePlan(profile, { ...base, threads: mode === 'single' ? 1 : workers, searchOnWorkers: mode === 'workers' });
      runs[mode].push({ totalMs: stats.totalMs, searchMs: stats.searchMs, assignMs: stats.assignMs });
    }
  }
  const med = (mode: 'single' | 'workers', k: 'totalMs' | 'searchMs' | 'assignMs') => median(runs[mode].map((x) => x[k]));
  const speedUp = med('single', 'totalMs') / med('workers', 'totalMs');
  const planWork = (threads: number) => planWorkOf(profile, { ...base, maxGears: 24, sim: { requests: 3000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50 }, objective: 'accuracy', memoryBudgetBytesPerLane: Infinity, threads });
  const estimate = { single: estimatePlanSeconds(planWork(1)), workers: estimatePlanSeconds(planWork(workers)) };
  const rows = (['single', 'workers'] as const).map((m) => [m === 'single' ? '1 thread' : `${workers} Piscina workers`, (med(m, 'totalMs') / 1000).toFixed(2), (med(m, 'searchMs') / 1000).toFixed(2), (med(m, 'assignMs') / 1000).toFixed(2), runs[m].map((x) => (x.totalMs / 1000).toFixed(2)).join(' '), `${estimate[m].totalS.toFixed(2)} (${estimate[m].searchS.toFixed(2)} + ${estimate[m].assignS.toFixed(2)})`]);
  const text = [
    `zoo plan (5 models, 3 stages, 64 thresholds, 64 load levels), ${reps} runs each, alternating; medians on ${availableParallelism()} CPU(s)`,
    table(['mode', 'total s', 'search s', 'assignment s', 'runs (s)', 'estimated s (search + assignment)'], rows),
    `workers' speed-up (median total, 1 thread / workers): ${speedUp.toFixed(2)}x`,
  ].join('\n');
  const path = writeResult('planner', { reps, workers, runs, speedUp, estimate }, o.record ?? false);
  return { text, path };
}
