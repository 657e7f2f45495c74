// Split of each stage's work over the lanes hosting its model, by a linear program solved
// with HiGHS (the `highs` package, WebAssembly):
//   variables  x[s][l] >= 0  share of stage s's work on lane l (only where l hosts s's model)
//              U             the largest lane utilization
//   minimize   U
//   subject to sum_l x[s][l] = 1                        for every stage s
//              sum_s work[s][l] * x[s][l] - U <= 0       for every lane l
// Minimizing the peak utilization maximizes the headroom (cap - U) under the cap.

import highsDefault from 'highs';
import type { LegacyHighs } from 'highs';

// The package's types describe its CommonJS entry; under NodeNext the ESM default import
// is typed as the module object. At runtime the ESM entry's default is the loader itself.
type Loader = () => Promise<LegacyHighs>;
const highsLoader = ((highsDefault as unknown as { default?: Loader }).default ?? highsDefault) as unknown as Loader;
let highsPromise: Promise<LegacyHighs> | undefined;

export function loadHighs(): Promise<LegacyHighs> {
  highsPromise ??= highsLoader();
  return highsPromise;
}

export interface SplitInput {
  /** work[s][l]: lane-seconds per second if all of stage s ran on lane l (utilization units). */
  work: number[][];
  /** eligible[s][l]: lane l hosts stage s's model. */
  eligible: boolean[][];
  /** Utilization cap, e.g. 0.8. */
  cap: number;
}

export interface SplitResult {
  feasible: boolean;
  /** shares[s][l], each row sums to 1 (all zero when infeasible). */
  shares: number[][];
  /** Peak lane utilization U (Infinity when a stage has no eligible lane). */
  maxUtilization: number;
  headroom: number;
  laneUtilization: number[];
}

const fmt = (v: number) => (Math.abs(v) < 1e-15 ? '0' : v.toFixed(15).replace(/0+$/, '').replace(/\.$/, ''));

export function lpText(input: SplitInput): string {
  const { work, eligible } = input;
  const lanes = eligible[0]?.length ?? 0;
  const rows: string[] = [];
  const bounds: string[] = [' U >= 0'];
  work.forEach((_, s) => {
    const vars: string[] = [];
    for (let l = 0; l < lanes; l++) if (eligible[s][l]) vars.push(`x_${s}_${l}`);
    rows.push(` share_${s}: ${vars.join(' + ')} = 1`);
    for (const v of vars) bounds.push(` ${v} >= 0`);
  });
  for (let l = 0; l < lanes; l++) {
    const terms: string[] = [];
    work.forEach((w, s) => {
      if (eligible[s][l] && w[l] > 0) terms.push(`${fmt(w[l])} x_${s}_${l}`);
    });
    rows.push(` lane_${l}: ${terms.length ? terms.join(' + ') + ' - U' : '- U'} <= 0`);
  }
  return `Minimize\n obj: U\nSubject To\n${rows.join('\n')}\nBounds\n${bounds.join('\n')}\nEnd\n`;
}

export async function splitLoad(input: SplitInput): Promise<SplitResult> {
  const { work, eligible, cap } = input;
  const k = work.length;
  const lanes = eligible[0]?.length ?? 0;
  const zero = () => work.map(() => new Array<number>(lanes).fill(0));
  if (work.some((_, s) => !eligible[s].some(Boolean))) {
    return { feasible: false, shares: zero(), maxUtilization: Infinity, headroom: -Infinity, laneUtilization: new Array<number>(lanes).fill(NaN) };
  }
  // Fast path (exact): every lane hosts every stage and a stage costs the same on every lane
  // (homogeneous lanes, full replication: the planner's usual case). The peak utilization
  // cannot be below the mean, sum_s work[s] / lanes, and equal shares reach it; the spread
  // phase below would return the same equal shares (they maximize the smallest share).
  if (eligible.every((row) => row.every(Boolean)) && work.every((w) => w.every((x) => x === w[0]))) {
    const u = work.reduce((a, w) => a + w[0], 0) / lanes;
    const laneUtilization = new Array<number>(lanes).fill(u);
    return { feasible: u <= cap + 1e-9, shares: work.map(() => new Array<number>(lanes).fill(1 / lanes)), maxUtilization: u, headroom: cap - u, laneUtilization };
  }
  const highs = await loadHighs();
  const res = highs.solve(lpText(input), { output_flag: false });
  if (res.Status !== 'Optimal') throw new Error(`load-split LP not solved: HiGHS status "${res.Status}"`);
  // Phase 2: among splits within the optimal peak, spread work over every eligible lane
  // (maximize the smallest share) so that no replica idles because of a degenerate vertex.
  const uStar = Math.max(0, res.ObjectiveValue);
  const spread = highs.solve(spreadText(input, uStar * (1 + 1e-6) + 1e-12), { output_flag: false });
  const cols = (spread.Status === 'Optimal' ? spread.Columns : res.Columns) as Record<string, { Primal: number }>;
  const shares = zero();
  for (let s = 0; s < k; s++) {
    let sum = 0;
    for (let l = 0; l < lanes; l++) {
      if (!eligible[s][l]) continue;
      const v = Math.max(0, cols[`x_${s}_${l}`]?.Primal ?? 0);
      shares[s][l] = v;
      sum += v;
    }
    for (let l = 0; l < lanes; l++) shares[s][l] = sum > 0 ? shares[s][l] / sum : 0;
  }
  const laneUtilization = new Array<number>(lanes).fill(0);
  for (let s = 0; s < k; s++) for (let l = 0; l < lanes; l++) laneUtilization[l] += work[s][l] * shares[s][l];
  const maxUtilization = Math.max(0, ...laneUtilization);
  return { feasible: maxUtilization <= cap + 1e-9, shares, maxUtilization, headroom: cap - maxUtilization, laneUtilization };
}

function spreadText(input: SplitInput, uMax: number): string {
  const { work, eligible } = input;
  const lanes = eligible[0]?.length ?? 0;
  const rows: string[] = [];
  const bounds: string[] = [' m >= 0'];
  work.forEach((_, s) => {
    const vars: string[] = [];
    for (let l = 0; l < lanes; l++) if (eligible[s][l]) vars.push(`x_${s}_${l}`);
    rows.push(` share_${s}: ${vars.join(' + ')} = 1`);
    for (const v of vars) {
      bounds.push(` ${v} >= 0`);
      rows.push(` min_${v}: ${v} - m >= 0`);
    }
  });
  for (let l = 0; l < lanes; l++) {
    const terms: string[] = [];
    work.forEach((w, s) => {
      if (eligible[s][l] && w[l] > 0) terms.push(`${fmt(w[l])} x_${s}_${l}`);
    });
    if (terms.length) rows.push(` lane_${l}: ${terms.join(' + ')} <= ${fmt(uMax)}`);
  }
  return `Maximize\n obj: m\nSubject To\n${rows.join('\n')}\nBounds\n${bounds.join('\n')}\nEnd\n`;
}
