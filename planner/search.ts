// Exhaustive cascade search over a quantile threshold grid, plus the Pareto frontier and
// the paper's random-sampling baseline (used by the tests to compare against).
//
// Every ordered subsequence of the models sorted cheapest first, up to maxStages stages;
// one certainty measure per cascade (all three measures are searched); per stage a grid of
// at most G thresholds (quantiles of that model's certainty). Each image's certainty is
// mapped once to a bucket b = #{grid values <= c}, so "exit at threshold j" is "b > j".
// A 2-D histogram over (b1, b2) with prefix sums then scores every threshold pair of a
// 3-stage cascade in O(G1 * G2) after one O(n) pass: exact counts, no sampling.
//
// Refinement (on by default): a quantile grid puts ~n/G images between neighbouring
// thresholds, so a threshold between two grid values (e.g. one of the paper's uniform
// values, where the grid is sparse in certainty: the low-certainty tail, and the mid range
// of confident models) can beat both neighbours by a few images. After the grid pass,
// (1) 2-stage cascades are re-scored at full resolution (a threshold at every distinct
// certainty value: O(n) per cascade, so their frontier is exact), and (2) for 3-stage
// cascades, every grid cell next to a grid candidate within `refineTolerance` accuracy of
// the grid frontier is re-scored at full resolution (every distinct certainty value inside
// the cell, both stages: O(n + cell²) per cell). Only refined candidates not dominated by
// the grid frontier are kept. Threshold indices in Candidates (j1, j2) are indices into
// SearchData.fine (every distinct value); the grid is a subset of it.

import type { CascadeSpec, ValidationColumns } from './cascade-eval.js';
import { evalCascade } from './cascade-eval.js';
import type { CertaintyMeasure } from '../ts/contracts/profile-schema.js';
import { kCertaintyMeasures } from '../ts/contracts/profile-schema.js';
import { mulberry32 } from './prng.js';

export const kDefaultThresholds = 64;
export const kDefaultMaxStages = 3;
/** Refinement tolerance in validation images (see the header). */
export const kDefaultRefineImages = 6;

/** Serializable (structured-clone friendly) input of the search, also sent to workers. */
export interface SearchData {
  n: number;
  costUs: Float64Array;
  correct: Uint8Array[];
  /** grid[mu][m]: sorted unique thresholds; bucket[mu][m][i] = #{grid <= certainty_i}. */
  grid: Float64Array[][];
  bucket: Uint8Array[][];
  measures: CertaintyMeasure[];
  /** fine[mu][m]: a threshold at every distinct certainty value (sorted, halfway placed). */
  fine: Float64Array[][];
  /** rank[mu][m][i] = #{fine <= certainty_i}: exit at fine threshold k iff rank > k. */
  rank: Int32Array[][];
  /** gridFine[mu][m][j]: index in fine of grid[mu][m][j]. */
  gridFine: Int32Array[][];
  /** Refinement pass (see the header); accuracy tolerance as a fraction (default kDefaultRefineImages images). */
  refine: boolean;
  refineTolerance: number;
}

export interface Candidates {
  accuracy: Float64Array;
  costUs: Float64Array;
  subseq: Int32Array; // index into the subsequence list
  measure: Uint8Array; // index into SearchData.measures
  j1: Int32Array; // index into SearchData.fine of the threshold after stage 0 (-1 if none)
  j2: Int32Array; // same after stage 1 (-1 if none)
  evaluated: number; // how many candidates were scored (before any frontier filter)
}

export interface FrontierPoint {
  spec: CascadeSpec;
  accuracy: number;
  expectedCostUs: number;
}

export interface SearchOptions {
  /** Refinement pass (default true). */
  refine?: boolean;
  /** Grid candidates within this accuracy (fraction) of the grid frontier get their cells refined (default kDefaultRefineImages images). */
  refineTolerance?: number;
}

export function prepareSearch(cols: ValidationColumns, thresholds = kDefaultThresholds, measures: CertaintyMeasure[] = [...kCertaintyMeasures], opts: SearchOptions = {}): SearchData {
  if (!(thresholds >= 1 && thresholds <= 254)) throw new RangeError('thresholds per stage must be in 1..254');
  const grid: Float64Array[][] = [];
  const bucket: Uint8Array[][] = [];
  const fine: Float64Array[][] = [];
  const rank: Int32Array[][] = [];
  const gridFine: Int32Array[][] = [];
  for (const mu of measures) {
    const g: Float64Array[] = [];
    const b: Uint8Array[] = [];
    const f: Float64Array[] = [];
    const r: Int32Array[] = [];
    const gf: Int32Array[] = [];
    for (const c of cols.certainty[mu]) {
      const sorted = Float64Array.from(c).sort();
      // A threshold for every distinct value v: halfway (as a float32) between v and the next
      // smaller certainty value. The same images exit as with v itself, but no image lies on
      // the boundary, so a last-ulp difference in a recomputed output row cannot flip its route.
      const fv: number[] = [];
      const firstOf: number[] = []; // sorted index of each distinct value's first occurrence
      for (let i = 0; i < cols.n; i++) {
        if (i > 0 && sorted[i] === sorted[i - 1]) continue;
        const v = sorted[i];
        let t = v;
        if (i > 0) {
          const mid = Math.fround((sorted[i - 1] + v) / 2);
          if (mid > sorted[i - 1] && mid <= v) t = mid;
        }
        fv.push(t);
        firstOf.push(i);
      }
      const fineT = Float64Array.from(fv);
      // grid: quantiles (j + 0.5) / G, as fine indices (deduplicated)
      const gIdx: number[] = [];
      let d = 0;
      for (let j = 0; j < thresholds; j++) {
        const idx = Math.min(cols.n - 1, Math.floor(((j + 0.5) * cols.n) / thresholds));
        while (d + 1 < firstOf.length && firstOf[d + 1] <= idx) d++;
        if (gIdx.length === 0 || d > gIdx[gIdx.length - 1]) gIdx.push(d);
      }
      const gv = Float64Array.from(gIdx, (k) => fineT[k]);
      const bv = new Uint8Array(cols.n);
      const rv = new Int32Array(cols.n);
      for (let i = 0; i < cols.n; i++) {
        rv[i] = upperBound(fineT, c[i]);
        bv[i] = upperBound(gv, c[i]);
      }
      g.push(gv);
      b.push(bv);
      f.push(fineT);
      r.push(rv);
      gf.push(Int32Array.from(gIdx));
    }
    grid.push(g);
    bucket.push(b);
    fine.push(f);
    rank.push(r);
    gridFine.push(gf);
  }
  return { n: cols.n, costUs: cols.costUs, correct: cols.correct, grid, bucket, measures, fine, rank, gridFine, refine: opts.refine ?? true, refineTolerance: opts.refineTolerance ?? kDefaultRefineImages / cols.n };
}

/** Number of values in the sorted array `a` that are <= x. */
function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The thresholds (values) of candidate i. */
export function candidateThresholds(data: SearchData, models: number[], c: Candidates, i: number): number[] {
  const mu = c.measure[i];
  const out: number[] = [];
  if (models.length >= 2) out.push(data.fine[mu][models[0]][c.j1[i]]);
  if (models.length >= 3) out.push(data.fine[mu][models[1]][c.j2[i]]);
  return out;
}

/** Model indices sorted cheapest first, then all ordered subsequences of 1..maxStages models. */
export function enumerateSubsequences(costUs: ArrayLike<number>, maxStages = kDefaultMaxStages): number[][] {
  const order = Array.from({ length: costUs.length }, (_, i) => i).sort((a, b) => costUs[a] - costUs[b] || a - b);
  const out: number[][] = [];
  const rec = (start: number, cur: number[]) => {
    if (cur.length > 0) out.push([...cur]);
    if (cur.length === maxStages) return;
    for (let i = start; i < order.length; i++) rec(i + 1, [...cur, order[i]]);
  };
  rec(0, []);
  return out;
}

class CandidateBuffer {
  #cap = 1024;
  #len = 0;
  evaluated = 0;
  acc = new Float64Array(this.#cap);
  cost = new Float64Array(this.#cap);
  sub = new Int32Array(this.#cap);
  mu = new Uint8Array(this.#cap);
  j1 = new Int32Array(this.#cap);
  j2 = new Int32Array(this.#cap);
  push(acc: number, cost: number, sub: number, mu: number, j1: number, j2: number): void {
    this.evaluated++;
    if (this.#len === this.#cap) this.#grow();
    const i = this.#len++;
    this.acc[i] = acc;
    this.cost[i] = cost;
    this.sub[i] = sub;
    this.mu[i] = mu;
    this.j1[i] = j1;
    this.j2[i] = j2;
  }
  #grow(): void {
    this.#cap *= 2;
    const g = <T extends Float64Array | Int32Array | Uint8Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(this.#cap);
      b.set(a);
      return b;
    };
    this.acc = g(this.acc, Float64Array);
    this.cost = g(this.cost, Float64Array);
    this.sub = g(this.sub, Int32Array);
    this.mu = g(this.mu, Uint8Array);
    this.j1 = g(this.j1, Int32Array);
    this.j2 = g(this.j2, Int32Array);
  }
  finish(): Candidates {
    const n = this.#len;
    return {
      accuracy: this.acc.slice(0, n),
      costUs: this.cost.slice(0, n),
      subseq: this.sub.slice(0, n),
      measure: this.mu.slice(0, n),
      j1: this.j1.slice(0, n),
      j2: this.j2.slice(0, n),
      evaluated: this.evaluated,
    };
  }
}

/** Scores every candidate of the given subsequences (ids into `subseqs`), then refines (see the header). */
export function searchSubsequences(data: SearchData, subseqs: number[][], ids: number[]): Candidates {
  const out = new CandidateBuffer();
  const n = data.n;
  for (const id of ids) {
    const seq = subseqs[id];
    for (let mu = 0; mu < data.measures.length; mu++) {
      if (seq.length === 1) {
        if (mu !== 0) continue; // a single model does not depend on the measure
        let r = 0;
        const ca = data.correct[seq[0]];
        for (let i = 0; i < n; i++) r += ca[i];
        out.push(r / n, data.costUs[seq[0]], id, mu, -1, -1);
      } else if (seq.length === 2) {
        const [a] = seq;
        score2(data, seq, id, mu, { bucket: data.bucket[mu][a], idx: data.gridFine[mu][a] }, out, null);
      } else if (seq.length === 3) {
        const [a, b] = seq;
        score3(data, seq, id, mu, { bucket: data.bucket[mu][a], idx: data.gridFine[mu][a] }, { bucket: data.bucket[mu][b], idx: data.gridFine[mu][b] }, out, null);
      } else {
        throw new RangeError('search supports at most 3 stages');
      }
    }
  }
  if (data.refine) refine(data, subseqs, ids, out);
  return out.finish();
}

/** One stage's thresholds: idx[j] = fine index of local threshold j; exit at j iff bucket > j. */
interface Axis {
  bucket: ArrayLike<number>;
  idx: Int32Array;
}

/**
 * Keeps a refined candidate only if the grid frontier (cost ascending, accuracy ascending)
 * does not dominate it; the scoring loops walk it with a pointer (cost never decreases
 * along a row).
 */
type Keep = { cost: Float64Array; acc: Float64Array } | null;
const kEps = 1e-12;

function refine(data: SearchData, subseqs: number[][], ids: number[], out: CandidateBuffer): void {
  const grid = out.finish();
  const front = paretoIndices(grid.accuracy, grid.costUs);
  const fCost = Float64Array.from(front, (i) => grid.costUs[i]);
  const fAcc = Float64Array.from(front, (i) => grid.accuracy[i]);
  const bestAt = (cost: number): number => {
    let lo = 0;
    let hi = fCost.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fCost[mid] <= cost) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? fAcc[lo - 1] : -Infinity;
  };
  const eps = kEps;
  const keep: Keep = { cost: fCost, acc: fAcc };
  const n = data.n;
  const local = (rank: Int32Array, lo: number, hi: number, buf: Int32Array): Axis => {
    const w = hi - lo;
    for (let i = 0; i < n; i++) {
      const u = rank[i] - lo;
      buf[i] = u < 0 ? 0 : u > w ? w : u;
    }
    const idx = new Int32Array(w);
    for (let j = 0; j < w; j++) idx[j] = lo + j;
    return { bucket: buf, idx };
  };
  const buf1 = new Int32Array(n);
  const buf2 = new Int32Array(n);
  // 2-stage cascades: every distinct certainty value
  for (const id of ids) {
    const seq = subseqs[id];
    if (seq.length !== 2) continue;
    for (let mu = 0; mu < data.measures.length; mu++) {
      const a = seq[0];
      score2(data, seq, id, mu, local(data.rank[mu][a], 0, data.fine[mu][a].length, buf1), out, keep);
    }
  }
  // 3-stage cascades: the cells around grid candidates near the grid frontier. Cell c of a
  // stage = fine indices (gridFine[c-1], gridFine[c]] (c = 0: from 0; c = G: up to the last).
  const tol = data.refineTolerance;
  const cells = new Map<string, [number, number, number, number]>();
  const cellOf = (gf: Int32Array, k: number): number => {
    let lo = 0;
    let hi = gf.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (gf[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return lo; // gf[lo] === k for a grid candidate
  };
  for (let i = 0; i < grid.accuracy.length; i++) {
    if (grid.j2[i] < 0) continue;
    if (grid.accuracy[i] < bestAt(grid.costUs[i]) - tol - eps) continue;
    const id = grid.subseq[i];
    const mu = grid.measure[i];
    const [a, b] = subseqs[id];
    const c1 = cellOf(data.gridFine[mu][a], grid.j1[i]);
    const c2 = cellOf(data.gridFine[mu][b], grid.j2[i]);
    for (const d1 of [c1, c1 + 1]) for (const d2 of [c2, c2 + 1]) cells.set(`${id},${mu},${d1},${d2}`, [id, mu, d1, d2]);
  }
  const range = (gf: Int32Array, L: number, c: number): [number, number] => [c === 0 ? 0 : gf[c - 1] + 1, c >= gf.length ? L : gf[c] + 1];
  // sorted by (cascade, measure, stage-1 cell): stage 1's local buckets are computed once per run
  const list = [...cells.values()].sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || x[3] - y[3]);
  let ax1: Axis | null = null;
  let key1 = '';
  for (const [id, mu, d1, d2] of list) {
    const seq = subseqs[id];
    const [a, b] = seq;
    const [lo1, hi1] = range(data.gridFine[mu][a], data.fine[mu][a].length, d1);
    const [lo2, hi2] = range(data.gridFine[mu][b], data.fine[mu][b].length, d2);
    if (hi1 <= lo1 || hi2 <= lo2) continue;
    const k1 = `${id},${mu},${d1}`;
    if (k1 !== key1 || ax1 === null) {
      ax1 = local(data.rank[mu][a], lo1, hi1, buf1);
      key1 = k1;
    }
    score3(data, seq, id, mu, ax1, local(data.rank[mu][b], lo2, hi2, buf2), out, keep);
  }
}

function score2(d: SearchData, [a, b]: number[], id: number, mu: number, ax: Axis, out: CandidateBuffer, keep: Keep): void {
  const B1 = ax.bucket;
  const G1 = ax.idx.length;
  const cnt = new Float64Array(G1 + 1);
  const ca = new Float64Array(G1 + 1);
  const cb = new Float64Array(G1 + 1);
  const Ca = d.correct[a];
  const Cb = d.correct[b];
  for (let i = 0; i < d.n; i++) {
    const v = B1[i];
    cnt[v]++;
    ca[v] += Ca[i];
    cb[v] += Cb[i];
  }
  let totalCa = 0;
  for (let v = 0; v <= G1; v++) totalCa += ca[v];
  let preCnt = 0;
  let preCa = 0;
  let preCb = 0;
  let p = 0;
  for (let j = 0; j < G1; j++) {
    preCnt += cnt[j];
    preCa += ca[j];
    preCb += cb[j];
    const acc = (totalCa - preCa + preCb) / d.n;
    const cost = d.costUs[a] + (preCnt / d.n) * d.costUs[b];
    if (keep !== null) {
      while (p < keep.cost.length && keep.cost[p] <= cost) p++;
      if (!(acc > (p > 0 ? keep.acc[p - 1] : -Infinity) + kEps)) continue;
    }
    out.push(acc, cost, id, mu, ax.idx[j], -1);
  }
}

function score3(d: SearchData, [a, b, c]: number[], id: number, mu: number, ax1: Axis, ax2: Axis, out: CandidateBuffer, keep: Keep): void {
  const B1 = ax1.bucket;
  const B2 = ax2.bucket;
  const G1 = ax1.idx.length;
  const G2 = ax2.idx.length;
  const W = G2 + 1;
  const cnt = new Float64Array((G1 + 1) * W);
  const cbH = new Float64Array((G1 + 1) * W);
  const ccH = new Float64Array((G1 + 1) * W);
  const rowCa = new Float64Array(G1 + 1);
  const Ca = d.correct[a];
  const Cb = d.correct[b];
  const Cc = d.correct[c];
  for (let i = 0; i < d.n; i++) {
    const v1 = B1[i];
    const k = v1 * W + B2[i];
    cnt[k]++;
    cbH[k] += Cb[i];
    ccH[k] += Cc[i];
    rowCa[v1] += Ca[i];
  }
  let totalCa = 0;
  for (let v = 0; v <= G1; v++) totalCa += rowCa[v];
  const rCnt = new Float64Array(W);
  const rCb = new Float64Array(W);
  const rCc = new Float64Array(W);
  let preCa = 0;
  let reach2 = 0;
  const ka = d.costUs[a];
  const kb = d.costUs[b];
  const kc = d.costUs[c];
  let pRow = 0; // frontier pointer at (j1, j2 = 0); that cost never decreases with j1
  for (let j1 = 0; j1 < G1; j1++) {
    // images with bucket1 <= j1 continue to stage 1
    const row = j1 * W;
    let rowCbTotal = 0;
    for (let v2 = 0; v2 < W; v2++) {
      rCnt[v2] += cnt[row + v2];
      rCb[v2] += cbH[row + v2];
      rCc[v2] += ccH[row + v2];
      reach2 += cnt[row + v2];
    }
    preCa += rowCa[j1];
    for (let v2 = 0; v2 < W; v2++) rowCbTotal += rCb[v2];
    const exit1 = totalCa - preCa;
    let preCnt = 0;
    let preCb = 0;
    let preCc = 0;
    let p = pRow;
    for (let j2 = 0; j2 < G2; j2++) {
      preCnt += rCnt[j2];
      preCb += rCb[j2];
      preCc += rCc[j2];
      const acc = (exit1 + (rowCbTotal - preCb) + preCc) / d.n;
      const cost = ka + (reach2 / d.n) * kb + (preCnt / d.n) * kc;
      if (keep !== null) {
        while (p < keep.cost.length && keep.cost[p] <= cost) p++;
        if (j2 === 0) pRow = p;
        if (!(acc > (p > 0 ? keep.acc[p - 1] : -Infinity) + kEps)) continue;
      }
      out.push(acc, cost, id, mu, ax1.idx[j1], ax2.idx[j2]);
    }
  }
}

/** Indices of the Pareto frontier (min cost, max accuracy), sorted by cost ascending. */
export function paretoIndices(accuracy: ArrayLike<number>, costUs: ArrayLike<number>): number[] {
  const idx = Array.from({ length: accuracy.length }, (_, i) => i);
  idx.sort((x, y) => costUs[x] - costUs[y] || accuracy[y] - accuracy[x]);
  const out: number[] = [];
  let best = -Infinity;
  for (const i of idx) {
    if (accuracy[i] > best) {
      out.push(i);
      best = accuracy[i];
    }
  }
  return out;
}

/** Keeps only the frontier members of a candidate set (workers return these). */
export function frontierOf(c: Candidates): Candidates {
  const keep = paretoIndices(c.accuracy, c.costUs);
  const pick = <T extends Float64Array | Int32Array | Uint8Array>(a: T): T => {
    const b = new (a.constructor as new (n: number) => T)(keep.length);
    keep.forEach((k, i) => (b[i] = a[k]));
    return b;
  };
  return {
    accuracy: pick(c.accuracy),
    costUs: pick(c.costUs),
    subseq: pick(c.subseq),
    measure: pick(c.measure),
    j1: pick(c.j1),
    j2: pick(c.j2),
    evaluated: c.evaluated,
  };
}

export function mergeCandidates(parts: Candidates[]): Candidates {
  const total = parts.reduce((s, p) => s + p.accuracy.length, 0);
  const cat = <T extends Float64Array | Int32Array | Uint8Array>(get: (p: Candidates) => T, C: new (n: number) => T): T => {
    const out = new C(total);
    let o = 0;
    for (const p of parts) {
      out.set(get(p), o);
      o += get(p).length;
    }
    return out;
  };
  return {
    accuracy: cat((p) => p.accuracy, Float64Array),
    costUs: cat((p) => p.costUs, Float64Array),
    subseq: cat((p) => p.subseq, Int32Array),
    measure: cat((p) => p.measure, Uint8Array),
    j1: cat((p) => p.j1, Int32Array),
    j2: cat((p) => p.j2, Int32Array),
    evaluated: parts.reduce((s, p) => s + p.evaluated, 0),
  };
}

export function toFrontierPoints(data: SearchData, subseqs: number[][], c: Candidates): FrontierPoint[] {
  const keep = paretoIndices(c.accuracy, c.costUs);
  return keep.map((i) => {
    const models = subseqs[c.subseq[i]];
    const thresholds = candidateThresholds(data, models, c, i);
    return { spec: { models: [...models], thresholds, measure: data.measures[c.measure[i]] }, accuracy: c.accuracy[i], expectedCostUs: c.costUs[i] };
  });
}

/** Single-threaded search: all subsequences, frontier. */
export function searchFrontier(data: SearchData, maxStages = kDefaultMaxStages): { frontier: FrontierPoint[]; evaluated: number } {
  const subseqs = enumerateSubsequences(data.costUs, maxStages);
  const c = searchSubsequences(data, subseqs, subseqs.map((_, i) => i));
  return { frontier: toFrontierPoints(data, subseqs, c), evaluated: c.evaluated };
}

/**
 * The paper's baseline (authors' code): random cascades of 2-3 models (cheapest first),
 * thresholds drawn from 20 evenly spaced values in (0, 1), a random measure; each scored
 * exactly by replaying the validation results.
 */
export function randomSampling(cols: ValidationColumns, samples: number, seed: number, measures: CertaintyMeasure[] = [...kCertaintyMeasures], onGrid?: SearchData): FrontierPoint[] {
  const rnd = mulberry32(seed);
  const order = Array.from(cols.costUs, (_, i) => i).sort((a, b) => cols.costUs[a] - cols.costUs[b] || a - b);
  const values = Array.from({ length: 20 }, (_, i) => (i + 0.5) / 20);
  const out: FrontierPoint[] = [];
  for (let s = 0; s < samples; s++) {
    const k = Math.min(order.length, rnd() < 0.5 ? 2 : 3);
    const pool = [...order];
    const chosen: number[] = [];
    for (let i = 0; i < k; i++) chosen.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0]);
    chosen.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    const measure = measures[Math.floor(rnd() * measures.length)];
    const mu = onGrid ? onGrid.measures.indexOf(measure) : -1;
    // onGrid: thresholds drawn from the search's own grid (a completeness check)
    const pickT = (m: number) => (onGrid ? onGrid.grid[mu][m][Math.floor(rnd() * onGrid.grid[mu][m].length)] : values[Math.floor(rnd() * values.length)]);
    const spec: CascadeSpec = { models: chosen, thresholds: chosen.slice(0, -1).map(pickT), measure };
    const e = evalCascade(cols, spec);
    out.push({ spec, accuracy: e.accuracy, expectedCostUs: e.expectedCostUs });
  }
  return out;
}
