// The capacity search for one system and one seed: the largest trace scale (mean QPS) at
// which the trial passes (p95 <= SLO and the accuracy of the answers given >= target).
// Centred on a prediction (the simulator's, made on the tuning seeds, or the capacity the
// earlier seeds found): the first trial at the centre, then steps of the bracket's full width
// (bracket^2, 1.21x) in the direction the outcome points until it flips, so a prediction off
// by up to 1.21x either way costs two trials. The search before session 35 tried just below
// the centre and then just above it, which covered only 1.21x around the centre and spent four
// trials whenever a seed's capacity lay outside it, as it did in most recorded searches. After
// three such steps the scale moves by x1.5 (the prediction was far off), then bisects until
// the capacity is known as closely as the bracket (or trials run out). When no scale down to
// `floorQps` passes, the result is "below" the lowest scale tried.
// The load generator's limit: with `lagLimitMs`, a trial that passes while the generator's own
// lag (p95 of actual - scheduled send) is above it does not count as a pass: the requests came
// later and smoother than the trace, so what passed was not the trace at that scale. The scale
// becomes the search's ceiling, and the capacity is "at least" the largest passing scale below
// it once the two are within the bracket. A failing trial fails whatever the lag. A search
// whose every pass had the generator lagging beyond the limit measured nothing: the seed is
// returned as unmeasured (not as a capacity, not as "below"), and the rest of the evaluation
// goes on; on a loaded machine one such search used to end the whole run.
import type { SwitchRecord } from './engine-replay.js';
import type { TrialSummary } from './measure.js';

export interface Trial {
  seed: number;
  scale: number;
  pass: boolean;
  s: TrialSummary;
  switches: number;
  /** The trial's gear switches (time, from, to, measured load, backlog, reason), first 100. */
  switchLog?: SwitchRecord[];
  /**
   * With confirmation (CellSpec.confirm): every trial run at this scale, in order; `pass` is
   * their majority and `s` the summary of the first trial that voted with it.
   */
  votes?: { pass: boolean; p95Ms: number; accuracy: number; failed: number }[];
}

export interface SeedCapacity {
  seed: number;
  /** Largest passing scale (mean QPS); null: none passed. */
  capacity: number | null;
  /** When none passed: every scale tried down to this one failed. */
  belowQps?: number;
  /** Nothing was measured: every pass had the generator lagging beyond the limit (capacity null, no belowQps). */
  unmeasured?: boolean;
  /** The ceiling passed: the capacity is at least this (the load generator's limit). */
  atLeast?: boolean;
  /** The scale at which the generator lagged beyond lagLimitMs in a passing trial (the ceiling it set). */
  generatorBoundQps?: number;
  trials: Trial[];
}

export interface SearchOptions {
  centerQps: number;
  /**
   * Fewest trials (2 = the outcome's flip only, within bracket^2; 3 = one bisection more).
   * Past them the search still bisects while the capacity is known only to within more than
   * bracket^2 (the prediction was far off and the scale moved by x1.5), up to maxTrials.
   */
  trials: number;
  /** Most trials in all (expansion when the prediction is off). */
  maxTrials: number;
  floorQps: number;
  ceilingQps: number;
  /** Half the width of one step, as a ratio (a step is bracket^2). Default 1.1. */
  bracket?: number;
  /** A passing trial whose generator lag p95 exceeds this (ms) sets the ceiling instead (above). Default: no limit. */
  lagLimitMs?: number;
}

/** Steps of the bracket's full width before the search moves by x1.5 instead. */
const kBracketSteps = 3;

export async function searchCapacity(seed: number, tryScale: (scale: number) => Promise<Trial>, o: SearchOptions): Promise<SeedCapacity> {
  const b = o.bracket ?? 1.1;
  const trials: Trial[] = [];
  let lo = 0; // largest passing
  let hi = Infinity; // smallest failing
  let bound = Infinity; // smallest scale whose pass the generator's lag voided
  const clamp = (x: number) => Math.min(o.ceilingQps, bound, Math.max(o.floorQps, x));
  const boundField = () => (Number.isFinite(bound) ? { generatorBoundQps: bound } : {});
  let scale = clamp(o.centerQps);
  while (trials.length < o.maxTrials) {
    const t = await tryScale(scale);
    trials.push(t);
    if (t.pass && o.lagLimitMs !== undefined && t.s.lagP95Ms > o.lagLimitMs) bound = Math.min(bound, scale);
    else if (t.pass) lo = Math.max(lo, scale);
    else hi = Math.min(hi, scale);
    if (lo >= o.ceilingQps) return { seed, capacity: lo, atLeast: true, trials, ...boundField() };
    // the search's upper end: a failure, or the generator's limit
    const top = Math.min(hi, bound);
    if (top <= o.floorQps) break;
    // bracket-wide steps for the first moves, x1.5 once the prediction proved far off
    const step = trials.length <= kBracketSteps ? b * b : 1.5;
    if (top === Infinity) scale = clamp(lo * step);
    else if (lo === 0) scale = clamp(top / step);
    else {
      // Below the generator's limit, everything tried passed: stop once within the bracket.
      // Else the capacity is known to within one step: bisect on to the bracket's precision.
      if (top / lo <= b * b * 1.001 && (bound < hi || trials.length >= o.trials)) break;
      if (top / lo < 1.06) break;
      scale = Math.sqrt(lo * top);
    }
  }
  if (bound < hi) {
    if (lo > 0) return { seed, capacity: lo, atLeast: true, trials, ...boundField() };
    // Every pass had the generator lagging beyond the limit: nothing was measured.
    return { seed, capacity: null, unmeasured: true, trials, generatorBoundQps: bound };
  }
  return lo > 0 ? { seed, capacity: lo, trials, ...boundField() } : { seed, capacity: null, belowQps: hi, trials, ...boundField() };
}

/**
 * Trials at one scale until a majority of `confirm` (odd) agrees: with 3, a third trial only
 * when the first two disagree. The result is the first trial that voted with the majority,
 * every vote attached (Trial.votes).
 */
export async function majorityAt(scale: number, confirm: number, one: (scale: number) => Promise<Trial>): Promise<Trial> {
  const need = Math.floor(confirm / 2) + 1;
  const votes: Trial[] = [];
  const count = (pass: boolean) => votes.filter((v) => v.pass === pass).length;
  while (count(true) < need && count(false) < need) votes.push(await one(scale));
  const pass = count(true) >= need;
  const decided = votes.find((v) => v.pass === pass)!;
  return { ...decided, votes: votes.map((v) => ({ pass: v.pass, p95Ms: v.s.p95Ms, accuracy: v.s.accuracy, failed: v.s.failed })) };
}
