// benchmarks/results/eval-summary.json: the machine-readable summary of an evaluation (issue
// 14 item 6), the only source of the README's evaluation tables (report.ts renders them).
// The keys the issue names ({seeds: {tuning, reported}, rows: [{target, sloMs, trace, view,
// capacity: {system: {median, min, max}}}], fixedHardware: [{trace, sloMs, view, systems:
// {system: {accuracy, p95Ms, failed}}}]}) are always there with those meanings; the rest
// (per-seed capacities, "below X", gear-weighted accuracy, SLO-violation rates, the generator's
// lag, what ran and what did not, the machine's load) are additions beside them.
import type { CellResult, CellSystem, FixedResult } from './cell.js';
import { median } from './measure.js';

export const kCapacitySystems = ['cascadeserve', 'static', 'staticBest', 'dynamic', 'msplus', 'oracle'] as const;
export type CapacitySystem = (typeof kCapacitySystems)[number];

export interface Capacity {
  /** Median over the reported seeds of the largest passing scale (mean QPS); a seed where no scale passed counts 0. */
  median: number;
  min: number;
  max: number;
  /** Present when some seed found no passing scale: every scale tried down to this failed. */
  below?: number;
  /** Some seed passed at the generator's ceiling: the capacity is at least that. */
  atLeast?: boolean;
  /**
   * Seeds where nothing was measured (every pass had the load generator lagging beyond its
   * limit), left out of median, min and max; when every seed was, median, min and max are 0
   * and there is no `below`.
   */
  unmeasured?: number;
}

export interface SystemDetail {
  description: string;
  objectiveUsed?: string;
  predictedQps: number;
  /** Engine view: the switching simulator's capacity on the tuning seeds, where the first seed's search started (absent before session 36). */
  simulatedQps?: number;
  planScaleQps?: number;
  /** A switched plan's overload horizon, chosen on the tuning seeds (benchmarks/eval/horizon.ts), ms. */
  overloadHorizonMs?: number;
  /** Capacity per reported seed (null: none passed, see belowQps; or not measured, see unmeasuredSeeds). */
  perSeed: (number | null)[];
  belowQps?: number;
  unmeasuredSeeds?: number[];
  trials: number;
  /** Medians over seeds of the trial at each seed's capacity. */
  atCapacity: { accuracy: number; target: number; gearAccuracy: number; p95Ms: number; violationRate: number; lagP95Ms: number; switches: number } | null;
}

export interface SummaryRow {
  target: number;
  sloMs: number;
  trace: string;
  view: 'http' | 'engine';
  /** null: the system was not run in this cell (see meta.notRun). */
  capacity: Record<CapacitySystem, Capacity | null>;
  /** MS+'s own top gear held fixed (the property: MS+ is never below it). */
  msplusTop: Capacity | null;
  headline: boolean;
  dayMs: number;
  seeds: number[];
  frozenAt: string;
  /** The commit this cell was measured at, when it differs from meta.commit (kept from an earlier run by --add). */
  commit?: string;
  /** The CPU model of the machine it was measured on, when it differs from meta.machine.cpuModel (as commit). */
  cpuModel?: string;
  /** Margin added to the validation target of every system (fraction; planner/selection-margin.ts). */
  selectionMargin: number;
  detail: Partial<Record<CellSystem, SystemDetail>>;
}

export interface FixedSystemSummary {
  /** Median over seeds of the accuracy of the answers given (failures wrong). */
  accuracy: number;
  p95Ms: number;
  /** Failed requests summed over the seeds' trials (of `requests`). */
  failed: number;
  requests: number;
  gearAccuracy: number;
  violationRate: number;
  accuracyMin: number;
  accuracyMax: number;
  p95MinMs: number;
  p95MaxMs: number;
  description: string;
}

export interface SummaryFixed {
  trace: string;
  sloMs: number;
  view: 'http' | 'engine';
  systems: Partial<Record<CellSystem, FixedSystemSummary>>;
  scaleQps: number;
  /** scaleQps as a multiple of the base scale: the first at which the most accurate cascade missed the SLO at the peak on a tuning seed. */
  scaleStep: number;
  peakQps: number;
  dayMs: number;
  seeds: number[];
  tuningChecks: FixedResult['tuningChecks'];
  /** As SummaryRow.commit. */
  commit?: string;
  /** As SummaryRow.cpuModel. */
  cpuModel?: string;
}

export interface SummaryMeta {
  createdAt: string;
  quick: boolean;
  complete: boolean;
  commit: string;
  machine: { cpus: number; cpuModel: string };
  /** 1-minute load average of the machine, sampled during the run. */
  loadAverage: { min: number; median: number; max: number; samples: number };
  wallS: number;
  bestHeld: number;
  bestVal: number;
  sizing: string[];
  notRun: string[];
  calibration: Record<string, unknown>;
}

export interface Summary {
  seeds: { tuning: number[]; reported: number[] };
  rows: SummaryRow[];
  fixedHardware: SummaryFixed[];
  meta: SummaryMeta;
}

function capacityOf(c: CellResult, s: CellSystem): Capacity | null {
  const r = c.systems[s];
  if (!r) return null;
  const below = r.belowQps !== undefined ? { below: r.belowQps } : {};
  const unmeasured = r.unmeasuredSeeds?.length ? { unmeasured: r.unmeasuredSeeds.length } : {};
  if (r.median === null) return { median: 0, min: 0, max: 0, ...below, ...unmeasured };
  return { median: r.median, min: r.min!, max: r.max!, ...below, ...(r.seeds.some((x) => x.atLeast) ? { atLeast: true } : {}), ...unmeasured };
}

function detailOf(c: CellResult, s: CellSystem): SystemDetail | undefined {
  const r = c.systems[s];
  if (!r) return undefined;
  const at = r.seeds.flatMap((x) => (x.capacity === null ? [] : x.trials.filter((t) => t.scale === x.capacity && t.pass)));
  const med = (f: (t: (typeof at)[number]) => number) => median(at.map(f));
  return {
    description: r.description,
    ...(r.objectiveUsed ? { objectiveUsed: r.objectiveUsed } : {}),
    predictedQps: r.predictedQps,
    ...(r.simulatedQps ? { simulatedQps: r.simulatedQps } : {}),
    ...(r.planScaleQps ? { planScaleQps: r.planScaleQps } : {}),
    ...(r.policy ? { overloadHorizonMs: r.policy.overloadHorizonMs } : {}),
    perSeed: r.seeds.map((x) => x.capacity),
    ...(r.belowQps !== undefined ? { belowQps: r.belowQps } : {}),
    ...(r.unmeasuredSeeds?.length ? { unmeasuredSeeds: r.unmeasuredSeeds } : {}),
    trials: r.seeds.reduce((a, x) => a + x.trials.reduce((b, t) => b + (t.votes?.length ?? 1), 0), 0),
    atCapacity: at.length ? { accuracy: med((t) => t.s.accuracy), target: med((t) => t.s.target ?? NaN), gearAccuracy: med((t) => t.s.gearAccuracy), p95Ms: med((t) => t.s.p95Ms), violationRate: med((t) => t.s.violationRate), lagP95Ms: med((t) => t.s.lagP95Ms), switches: med((t) => t.switches) } : null,
  };
}

export function buildSummary(cells: CellResult[], fixed: FixedResult[], tuning: readonly number[], meta: SummaryMeta): Summary {
  const reported = [...new Set([...cells.flatMap((c) => c.seeds), ...fixed.flatMap((f) => f.seeds)])].sort((a, b) => a - b);
  return {
    seeds: { tuning: [...tuning], reported },
    rows: cells.map((c) => ({
      target: c.target,
      sloMs: c.sloMs,
      trace: c.trace,
      view: c.view,
      capacity: Object.fromEntries(kCapacitySystems.map((s) => [s, capacityOf(c, s)])) as Record<CapacitySystem, Capacity | null>,
      msplusTop: capacityOf(c, 'msplusTop'),
      headline: c.headline,
      dayMs: c.dayMs,
      seeds: c.seeds,
      frozenAt: c.frozenAt,
      ...(c.commit && c.commit !== meta.commit ? { commit: c.commit } : {}),
      ...(c.cpuModel && c.cpuModel !== meta.machine.cpuModel ? { cpuModel: c.cpuModel } : {}),
      selectionMargin: c.selectionMargin,
      detail: Object.fromEntries((Object.keys(c.systems) as CellSystem[]).map((s) => [s, detailOf(c, s)])),
    })),
    fixedHardware: fixed.map((f) => ({
      trace: f.trace,
      sloMs: f.sloMs,
      view: f.view,
      systems: Object.fromEntries(
        Object.entries(f.systems).map(([k, v]) => [k, { accuracy: v.accuracy, p95Ms: v.p95Ms, failed: v.failed, requests: v.requests, gearAccuracy: v.gearAccuracy, violationRate: v.violationRate, accuracyMin: v.accuracyMin, accuracyMax: v.accuracyMax, p95MinMs: v.p95MinMs, p95MaxMs: v.p95MaxMs, description: v.description }]),
      ),
      scaleQps: f.scaleQps,
      scaleStep: f.scaleStep ?? 1,
      peakQps: f.peakQps,
      dayMs: f.dayMs,
      seeds: f.seeds,
      tuningChecks: f.tuningChecks,
      ...(f.commit && f.commit !== meta.commit ? { commit: f.commit } : {}),
      ...(f.cpuModel && f.cpuModel !== meta.machine.cpuModel ? { cpuModel: f.cpuModel } : {}),
    })),
    meta,
  };
}

/** JSON with Infinity kept as the string "Infinity" (a failed trial's p95). */
export const summaryJson = (s: unknown) => JSON.stringify(s, (_, v) => (v === Infinity ? 'Infinity' : v), 1) + '\n';
export const parseSummary = (text: string): Summary => JSON.parse(text, (_, v) => (v === 'Infinity' ? Infinity : v)) as Summary;
