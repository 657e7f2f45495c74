// Gear assignment over a load grid.
// objective "accuracy": at each load level the most accurate candidate cascade whose
//   best batching meets the p95 SLO (candidates sorted most accurate first; the chosen
//   index never decreases with load, so accuracy is non-increasing in load by construction).
// objective "cost": the fewest lanes for which every required load level is served by a
//   cascade with accuracy >= the floor (see compute-plan.ts, which loops over lane counts).
// Phase A (parallel over cascades): highest feasible level per cascade by binary search.
// Phase B (parallel over levels): evaluate the chosen cascade per level; a sequential
// fix-up walks to cheaper cascades where a level's evaluation fails.

import type { LevelEval, PlanContext } from './messages.js';
import type { Executor } from './parallel.js';

export interface LevelAssignment {
  level: number;
  qps: number;
  /** Evaluation of the chosen gear, or null when no candidate meets the SLO. */
  eval: LevelEval | null;
  /** Why the level cannot be served (from the cheapest candidate's evaluation). */
  reason?: string;
}

export type Progress = (phase: string, done: number, total: number) => void;

/** `pins`: level index -> cascade assigned there whatever the others (the static cascade at its own capacity). */
export async function assignGears(ctx: PlanContext, levels: number[], exec: Executor, onProgress?: Progress, pins?: Map<number, number>): Promise<LevelAssignment[]> {
  const C = ctx.cascades.length;
  let done = 0;
  const total = C + levels.length;
  const tick = (phase: string) => onProgress?.(phase, ++done, total);
  // Coarse chunks (2 per worker, dealt round-robin so costly and cheap items mix): one
  // structured clone of the context per chunk instead of one per cascade or level.
  const chunksOf = <T>(xs: T[]): T[][] => {
    const n = Math.max(1, Math.min(xs.length, exec.threads <= 1 ? 1 : exec.threads * 2));
    return Array.from({ length: n }, (_, j) => xs.filter((_, i) => i % n === j)).filter((c) => c.length > 0);
  };
  // Phase A
  const phaseA: { maxLevel: number; evals: LevelEval[] }[] = new Array(C);
  await Promise.all(
    chunksOf(ctx.cascades.map((_, c) => c)).map(async (cs) => {
      const r = await exec.run({ kind: 'maxLevels', ctx, cascades: cs, levels });
      if (r.kind !== 'maxLevels') throw new Error('unexpected worker result');
      cs.forEach((c, j) => {
        phaseA[c] = r.results[j];
        tick('gear capacities');
      });
    }),
  );
  const maxLevel = phaseA.map((r) => r.maxLevel);
  const known = new Map<string, LevelEval>();
  phaseA.forEach((r) => r.evals.forEach((e) => known.set(`${e.cascade}@${e.qps}`, e)));
  // Initial guess per level: most accurate cascade reaching it, monotone in load.
  const guess: number[] = [];
  let ptr = 0;
  for (let i = 0; i < levels.length; i++) {
    let c = ptr;
    while (c < C && maxLevel[c] < i) c++;
    guess.push(c);
    if (c < C) ptr = c;
  }
  // Phase B
  const evalAt = async (c: number, qps: number): Promise<LevelEval> => {
    const hit = known.get(`${c}@${qps}`);
    if (hit) return hit;
    const r = await exec.run({ kind: 'evalLevel', ctx, cascade: c, qps });
    if (r.kind !== 'evalLevel') throw new Error('unexpected worker result');
    known.set(`${c}@${qps}`, r.eval);
    return r.eval;
  };
  const todo = levels.map((q, i) => ({ cascade: guess[i], qps: q })).filter((it) => it.cascade < C && !known.has(`${it.cascade}@${it.qps}`));
  levels.forEach((_, i) => {
    if (!todo.some((it) => it.qps === levels[i])) tick('batching per load level');
  });
  await Promise.all(
    chunksOf(todo).map(async (items) => {
      const r = await exec.run({ kind: 'evalLevels', ctx, items });
      if (r.kind !== 'evalLevels') throw new Error('unexpected worker result');
      r.evals.forEach((e) => {
        known.set(`${e.cascade}@${e.qps}`, e);
        tick('batching per load level');
      });
    }),
  );
  const first = levels.map((q, i) => (guess[i] < C ? known.get(`${guess[i]}@${q}`)! : null));
  // Sequential fix-up keeps the chosen index non-decreasing.
  const out: LevelAssignment[] = [];
  let floor = 0;
  for (let i = 0; i < levels.length; i++) {
    const pin = pins?.get(i);
    if (pin !== undefined) {
      const e = await evalAt(pin, levels[i]);
      if (e.ok) {
        out.push({ level: i, qps: levels[i], eval: e });
        floor = pin;
        continue;
      }
    }
    let c = Math.max(floor, guess[i]);
    let e = c === guess[i] ? first[i] : c < C ? await evalAt(c, levels[i]) : null;
    while (e && !e.ok && c + 1 < C) {
      c++;
      e = await evalAt(c, levels[i]);
    }
    if (e && e.ok) {
      out.push({ level: i, qps: levels[i], eval: e });
      floor = c;
    } else {
      const cheapest = await evalAt(C - 1, levels[i]);
      out.push({ level: i, qps: levels[i], eval: null, reason: cheapest.reason ?? 'no candidate cascade meets the SLO' });
    }
  }
  return out;
}
