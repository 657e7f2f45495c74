// Selection margin for accuracy targets, estimated on the validation half alone.
//
// The cheapest cascade that meets a target on the validation half overstates its accuracy
// there: among hundreds of candidates, the one chosen is likely one whose thresholds happen to
// suit those very images (the winner's curse), so on fresh images it falls short of the
// target. A target held with a margin covers that shortfall; this module sizes the margin
// without looking at the held-out half. Split the validation half in two at random, choose on
// one half exactly as the full choice is made (cheapest frontier cascade with accuracy >= best
// single model - drop), and measure on the other half how far the choice's lead over the best
// single model fell (targets are defined relative to the best model on the images judged). The
// margin is the mean shortfall over the splits, scaled from half to full size by 1/sqrt(2):
// the noise a choice is selected on shrinks as 1/sqrt(images).
import { evalCascade, type CascadeSpec, type ValidationColumns } from './cascade-eval.js';
import { mulberry32 } from './prng.js';
import { kDefaultMaxStages, prepareSearch, searchFrontier } from './search.js';

export interface SelectionMarginOptions {
  /** Random halvings of the validation half. Default 8. */
  splits?: number;
  /** Seed of the first halving (split s uses seed + s). Default 1. */
  seed?: number;
  /** Longest cascade searched. Default kDefaultMaxStages. */
  maxStages?: number;
}

export interface SelectionSplit {
  /** Accuracy lead of the choice over the best single model on the half it was chosen on. */
  leadChosen: number;
  /** The same lead on the other half. */
  leadFresh: number;
  /** leadChosen - leadFresh (fraction). */
  shortfall: number;
  spec: CascadeSpec;
}

export interface SelectionMargin {
  /** Margin to add to a validation target (fraction, >= 0). */
  margin: number;
  drop: number;
  seed: number;
  splits: SelectionSplit[];
}

/** The rows `idx` of every column (a half of the validation data). */
export function subsetColumns(cols: ValidationColumns, idx: readonly number[]): ValidationColumns {
  const pick = <T extends Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
    const out = make(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = a[idx[i]];
    return out;
  };
  const certainty = {} as ValidationColumns['certainty'];
  for (const [measure, perModel] of Object.entries(cols.certainty) as [keyof ValidationColumns['certainty'], Float64Array[]][]) {
    certainty[measure] = perModel.map((a) => pick(a, (n) => new Float64Array(n)));
  }
  return { n: idx.length, correct: cols.correct.map((a) => pick(a, (n) => new Uint8Array(n))), certainty, costUs: cols.costUs };
}

/** Accuracy of the best single model on these columns. */
export function bestSingleAccuracy(cols: ValidationColumns): number {
  let best = 0;
  for (let m = 0; m < cols.correct.length; m++) best = Math.max(best, evalCascade(cols, { models: [m], thresholds: [], measure: 'max_prob' }).accuracy);
  return best;
}

/** A seeded random permutation of 0..n-1 (Fisher-Yates). */
function permutation(n: number, seed: number): number[] {
  const rnd = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** One halving: choose on `chosen`, judge on `fresh`. */
export function selectionSplit(chosen: ValidationColumns, fresh: ValidationColumns, drop: number, maxStages = kDefaultMaxStages): SelectionSplit {
  const { frontier } = searchFrontier(prepareSearch(chosen), maxStages);
  const bestChosen = bestSingleAccuracy(chosen);
  const byCost = [...frontier].sort((a, b) => a.expectedCostUs - b.expectedCostUs);
  // As the evaluation chooses: the cheapest meeting the target, else the most accurate.
  const pick = byCost.find((p) => p.accuracy >= bestChosen - drop - 1e-12) ?? [...frontier].sort((a, b) => b.accuracy - a.accuracy)[0];
  const leadChosen = evalCascade(chosen, pick.spec).accuracy - bestChosen;
  const leadFresh = evalCascade(fresh, pick.spec).accuracy - bestSingleAccuracy(fresh);
  return { leadChosen, leadFresh, shortfall: leadChosen - leadFresh, spec: pick.spec };
}

export function selectionMargin(val: ValidationColumns, drop: number, options: SelectionMarginOptions = {}): SelectionMargin {
  const splits = options.splits ?? 8;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(splits) || splits < 1) throw new RangeError(`splits must be a positive integer, got ${String(options.splits)}`);
  if (!(drop >= 0 && drop < 1)) throw new RangeError(`drop must be in [0, 1), got ${String(drop)}`);
  if (val.n < 4) throw new RangeError(`the validation half has ${val.n} images; halving needs at least 4`);
  const out: SelectionSplit[] = [];
  for (let s = 0; s < splits; s++) {
    const p = permutation(val.n, seed + s);
    const half = val.n >> 1;
    out.push(selectionSplit(subsetColumns(val, p.slice(0, half)), subsetColumns(val, p.slice(half)), drop, options.maxStages));
  }
  const mean = out.reduce((a, x) => a + x.shortfall, 0) / out.length;
  return { margin: Math.max(0, mean / Math.SQRT2), drop, seed, splits: out };
}
