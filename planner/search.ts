// Exhaustive cascade search over a quantile threshold grid, plus the Pareto frontier and
// the paper's random-sampling baseline (used by the tests to compare against).
//
// Every ordered subsequence of the models sorted cheapest first, up to maxStages stages;
// one certainty measure per cascade (all three measures are searched); per stage a grid of
// at most G thresholds (quantiles of that model's certainty). Each image's certainty is
// mapped once to a bucket b = #{grid values <= c}, so "exit at threshold j" is "b > j".
// A 2-D histogram over (b1, b2) with prefix sums then scores every threshold pair of a
// 3-stage cascade in O(G1 * G2) after one O(n) pass: exact counts, no sampling.

import type { CascadeSpec, ValidationColumns } from './cascade-eval.js';
import { evalCascade } from './cascade-eval.js';
import type { CertaintyMeasure } from './profile-schema.js';
import { kCertaintyMeasures } from './profile-schema.js';
import { mulberry32 } from './prng.js';

export const kDefaultThresholds = 64;
export const kDefaultMaxStages = 3;

/** Serializable (structured-clone friendly) input of the search, also sent to workers. */
export interface SearchData {
  n: number;
  costUs: Float64Array;
  correct: Uint8Array[];
  /** grid[mu][m]: sorted unique thresholds; bucket[mu][m][i] = #{grid <= certainty_i}. */
  grid: Float64Array[][];
  bucket: Uint8Array[][];
  measures: CertaintyMeasure[];
}

export interface Candidates {
  accuracy: Float64Array;
  costUs: Float64Array;
  subseq: Int32Array; // index into the subsequence list
  measure: Uint8Array; // index into SearchData.measures
  j1: Int16Array; // threshold index after stage 0 (-1 if none)
  j2: Int16Array; // threshold index after stage 1 (-1 if none)
  evaluated: number; // how many candidates were scored (before any frontier filter)
}

export interface FrontierPoint {
  spec: CascadeSpec;
  accuracy: number;
  expectedCostUs: number;
}

export function prepareSearch(cols: ValidationColumns, thresholds = kDefaultThresholds, measures: CertaintyMeasure[] = [...kCertaintyMeasures]): SearchData {
  if (!(thresholds >= 1 && thresholds <= 254)) throw new RangeError('thresholds per stage must be in 1..254');
  const grid: Float64Array[][] = [];
  const bucket: Uint8Array[][] = [];
  for (const mu of measures) {
    const g: Float64Array[] = [];
    const b: Uint8Array[] = [];
    for (const c of cols.certainty[mu]) {
      const sorted = Float64Array.from(c).sort();
      const vals: number[] = [];
      for (let j = 0; j < thresholds; j++) {
        const idx = Math.min(cols.n - 1, Math.floor(((j + 0.5) * cols.n) / thresholds));
        const v = sorted[idx];
        // The threshold sits halfway (as a float32) between v and the next smaller certainty
        // value: the same images exit as with v itself, but no image lies on the boundary,
        // so a last-ulp difference in a recomputed output row cannot flip its route.
        let first = idx;
        while (first > 0 && sorted[first - 1] === v) first--;
        let t = v;
        if (first > 0) {
          const mid = Math.fround((sorted[first - 1] + v) / 2);
          if (mid > sorted[first - 1] && mid <= v) t = mid;
        }
        if (vals.length === 0 || t > vals[vals.length - 1]) vals.push(t);
      }
      const gv = Float64Array.from(vals);
      const bv = new Uint8Array(cols.n);
      for (let i = 0; i < cols.n; i++) {
        // binary search: number of grid values <= c[i]
        let lo = 0;
        let hi = gv.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (gv[mid] <= c[i]) lo = mid + 1;
          else hi = mid;
        }
        bv[i] = lo;
      }
      g.push(gv);
      b.push(bv);
    }
    grid.push(g);
    bucket.push(b);
  }
  return { n: cols.n, costUs: cols.costUs, correct: cols.correct, grid, bucket, measures };
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
  j1 = new Int16Array(this.#cap);
  j2 = new Int16Array(this.#cap);
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
    const g = <T extends Float64Array | Int32Array | Uint8Array | Int16Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(this.#cap);
      b.set(a);
      return b;
    };
    this.acc = g(this.acc, Float64Array);
    this.cost = g(this.cost, Float64Array);
    this.sub = g(this.sub, Int32Array);
    this.mu = g(this.mu, Uint8Array);
    this.j1 = g(this.j1, Int16Array);
    this.j2 = g(this.j2, Int16Array);
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

/** Scores every candidate of the given subsequences (ids into `subseqs`). */
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
        score2(data, seq, id, mu, out);
      } else if (seq.length === 3) {
        score3(data, seq, id, mu, out);
      } else {
        throw new RangeError('search supports at most 3 stages');
      }
    }
  }
  return out.finish();
}

function score2(d: SearchData, [a, b]: number[], id: number, mu: number, out: CandidateBuffer): void {
  const B1 = d.bucket[mu][a];
  const G1 = d.grid[mu][a].length;
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
  for (let j = 0; j < G1; j++) {
    preCnt += cnt[j];
    preCa += ca[j];
    preCb += cb[j];
    const acc = (totalCa - preCa + preCb) / d.n;
    const cost = d.costUs[a] + (preCnt / d.n) * d.costUs[b];
    out.push(acc, cost, id, mu, j, -1);
  }
}

function score3(d: SearchData, [a, b, c]: number[], id: number, mu: number, out: CandidateBuffer): void {
  const B1 = d.bucket[mu][a];
  const B2 = d.bucket[mu][b];
  const G1 = d.grid[mu][a].length;
  const G2 = d.grid[mu][b].length;
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
    for (let j2 = 0; j2 < G2; j2++) {
      preCnt += rCnt[j2];
      preCb += rCb[j2];
      preCc += rCc[j2];
      const acc = (exit1 + (rowCbTotal - preCb) + preCc) / d.n;
      const cost = ka + (reach2 / d.n) * kb + (preCnt / d.n) * kc;
      out.push(acc, cost, id, mu, j1, j2);
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
  const pick = <T extends Float64Array | Int32Array | Uint8Array | Int16Array>(a: T): T => {
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
  const cat = <T extends Float64Array | Int32Array | Uint8Array | Int16Array>(get: (p: Candidates) => T, C: new (n: number) => T): T => {
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
    j1: cat((p) => p.j1, Int16Array),
    j2: cat((p) => p.j2, Int16Array),
    evaluated: parts.reduce((s, p) => s + p.evaluated, 0),
  };
}

export function toFrontierPoints(data: SearchData, subseqs: number[][], c: Candidates): FrontierPoint[] {
  const keep = paretoIndices(c.accuracy, c.costUs);
  return keep.map((i) => {
    const models = subseqs[c.subseq[i]];
    const mu = c.measure[i];
    const thresholds: number[] = [];
    if (models.length >= 2) thresholds.push(data.grid[mu][models[0]][c.j1[i]]);
    if (models.length >= 3) thresholds.push(data.grid[mu][models[1]][c.j2[i]]);
    return { spec: { models: [...models], thresholds, measure: data.measures[mu] }, accuracy: c.accuracy[i], expectedCostUs: c.costUs[i] };
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
