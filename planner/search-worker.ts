// Piscina worker entry: search shards and gear evaluations. Also called in-process by the
// single-threaded executor, so both paths run the same code.

import { chooseBatching, evaluateConfig } from './batching.js';
import type { LevelEval, PlanContext, WorkerResult, WorkerTask } from './messages.js';
import { frontierOf, searchSubsequences } from './search.js';

/** Highest level index at which `cascade` meets the SLO (binary search, feasibility assumed monotone in load). */
export async function maxFeasibleLevel(ctx: PlanContext, cascade: number, levels: number[]): Promise<{ maxLevel: number; evals: LevelEval[] }> {
  const evals: LevelEval[] = [];
  let lo = -1; // known feasible (or -1)
  let hi = levels.length; // known infeasible (or length)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const e = await chooseBatching(ctx, cascade, levels[mid]);
    evals.push(e);
    if (e.ok) lo = mid;
    else hi = mid;
  }
  return { maxLevel: lo, evals };
}

export default async function handle(task: WorkerTask): Promise<WorkerResult> {
  switch (task.kind) {
    case 'search': {
      const t0 = performance.now();
      const c = frontierOf(searchSubsequences(task.data, task.subseqs, task.ids));
      return { kind: 'search', candidates: c, ms: performance.now() - t0 };
    }
    case 'maxLevels': {
      const results = [];
      for (const c of task.cascades) results.push(await maxFeasibleLevel(task.ctx, c, task.levels));
      return { kind: 'maxLevels', results };
    }
    case 'evalLevels': {
      const evals = [];
      for (const it of task.items) evals.push(await chooseBatching(task.ctx, it.cascade, it.qps));
      return { kind: 'evalLevels', evals };
    }
    case 'evalLevel': {
      const e = task.config ? await evaluateConfig(task.ctx, task.cascade, task.qps, task.config) : await chooseBatching(task.ctx, task.cascade, task.qps);
      return { kind: 'evalLevel', eval: e };
    }
  }
}
