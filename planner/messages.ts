// Types shared by the planner's main thread and its Piscina workers (type-only module).

import type { CascadeSpec } from './cascade-eval.js';
import type { Candidates, SearchData } from './search.js';

/** One frontier cascade considered as a gear, with its exact validation route. */
export interface GearCascade {
  spec: CascadeSpec;
  accuracy: number;
  expectedCostUs: number;
  reach: number[];
  /** Stage at which each validation image exits. */
  exitStage: Uint8Array;
}

export interface ModelTable {
  name: string;
  memoryBytes: number;
  /** Measured batch sizes (ascending) and their p50 batch times (µs). */
  batch: number[];
  p50Us: number[];
}

export interface SimSettings {
  requests: number;
  seed: number;
  burstAmplitude: number;
  burstPhaseMs: number;
  /**
   * Also require the p95 under bursty (MMPP) arrivals (absent = true: plans before #14).
   * Off for ranges by sustained capacity: bursts are the switching policy's job (burst budget).
   */
  burstCheck?: boolean;
}

/** Everything a worker needs to evaluate gears; structured-clone friendly. */
/**
 * CPU spent outside the lanes (HTTP, codec, event loop; on a test bed also the load generator)
 * on the same cores as the lanes: at q QPS it takes q * usPerRequest / 1e6 cores, and the lanes
 * share what is left of `cores`. Absent: the lanes have their cores to themselves.
 */
export interface HostCpu {
  cores: number;
  usPerRequest: number;
}

export interface PlanContext {
  /** Candidate gears, most accurate first. */
  cascades: GearCascade[];
  models: ModelTable[];
  lanes: number;
  /** hosts[model][lane]: lane holds a replica of the model. */
  hosts: boolean[][];
  sloUs: number;
  cap: number;
  /** Fraction of the SLO that queue delays of all stages may use together. */
  delayFraction: number;
  batchSizes: number[];
  sim: SimSettings;
  hostCpu?: HostCpu;
}

export interface BatchConfig {
  maxBatch: number[];
  maxQueueDelayUs: number[];
}

export interface LevelEval extends BatchConfig {
  ok: boolean;
  cascade: number;
  qps: number;
  laneShares: number[][];
  p95Ms: number;
  p95PoissonMs: number;
  p95BurstyMs: number;
  /** LP-predicted peak lane utilization. */
  utilization: number;
  /** Mean lane utilization observed in the Poisson simulation. */
  simUtilization: number;
  reason?: string;
}

export type WorkerTask =
  | { kind: 'search'; data: SearchData; subseqs: number[][]; ids: number[] }
  | { kind: 'evalLevel'; ctx: PlanContext; cascade: number; qps: number; config?: BatchConfig }
  /** Coarse tasks: one context clone per chunk instead of per cascade / level. */
  | { kind: 'maxLevels'; ctx: PlanContext; cascades: number[]; levels: number[] }
  | { kind: 'evalLevels'; ctx: PlanContext; items: { cascade: number; qps: number }[] };

export type WorkerResult =
  | { kind: 'search'; candidates: Candidates; ms: number }
  | { kind: 'evalLevel'; eval: LevelEval }
  | { kind: 'maxLevels'; results: { maxLevel: number; evals: LevelEval[] }[] }
  | { kind: 'evalLevels'; evals: LevelEval[] };
