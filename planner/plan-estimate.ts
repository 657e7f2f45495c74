// How long computePlan will run, estimated from its inputs before the work starts, so that the
// plan command can refuse at once (with the estimate) what it could not finish in its budget.
//
// The two parts that grow with the inputs:
// - the cascade search: its 3-stage cascades dominate, each scored over a threshold grid
//   (thresholds^2 pairs per certainty measure) and then refined cell by cell near the
//   frontier, a cell holding (items / thresholds)^2 pairs, so its work grows with the square
//   of the validation items;
// - the gear assignment: simulations of `requests` requests each, for every candidate cascade
//   (a binary search over the load levels) and every load level, a few batch sizes each; a
//   simulated request costs more with more lanes (each event visits every lane).
// The constants below were fitted to measured runs on the project's 2-core machine (the zoo's
// profile, 5000 items and 5 models, at 1 to 64 lanes; the search alone at 1250 to 20000
// items): benchmarks/planner-bench.ts prints the estimate beside the measured time. They err
// on the high side: an estimate is CPU time of an idle core, and a loaded machine takes longer.

/** Wall-clock budget of the plan command (seconds): it refuses inputs estimated above it. */
export const kPlanTimeBudgetS = 60;

/** Fitted constants (see the header). */
export const kPlanCostModel = {
  /** CPU µs per scored candidate cascade (threshold pair) in the search. */
  usPerCandidate: 1.0,
  /** Refined grid cells per 3-stage cascade and measure (near-frontier cells: 10 for the zoo, up to 60 seen). */
  refineCellsPer3Stage: 20,
  /** CPU µs per simulated request at one lane; times (1 + lanes / lanesPerDoubling). */
  usPerSimulatedRequest: 1.5,
  lanesPerDoubling: 32,
  /** Simulations per batching choice (a choice tries batch sizes until one meets the SLO; 2 per config). */
  simulationsPerChoice: 2,
  /** Seconds to start the worker pool and clone the context to it. */
  poolStartS: 0.5,
};

export interface PlanWork {
  /** Validation items in the profile. */
  items: number;
  models: number;
  maxStages: number;
  /** Thresholds per stage in the search grid. */
  thresholds: number;
  /** Certainty measures searched. */
  measures: number;
  /** Frontier cascades considered as gears (at most maxGears); before the search: maxGears. */
  gearCandidates: number;
  /** Load levels of the grid. */
  levels: number;
  lanes: number;
  /** Simulated requests per simulation. */
  requests: number;
  /** Simulations per batching choice: 2 (Poisson and bursty, the default) or 1 (sim.burstCheck false). */
  simulationsPerChoice?: number;
  /** Stages of the longest candidate. */
  stages: number;
  /** Gear assignments run: 1, or the lane counts tried by objective "cost". */
  assignments: number;
  /** Worker threads (the search runs on the calling thread, the assignment on the workers). */
  threads: number;
  /** Cores of this machine. */
  cores: number;
}

export interface PlanEstimate {
  searchS: number;
  assignS: number;
  totalS: number;
  /** Candidate cascades the search scores (estimated). */
  candidates: number;
  /** Simulations the assignment runs (estimated). */
  simulations: number;
}

const choose = (n: number, k: number): number => {
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return Math.max(0, Math.round(r));
};

/** Estimated seconds of the search and the assignment (see the header). */
export function estimatePlanSeconds(w: PlanWork): PlanEstimate {
  const c = kPlanCostModel;
  const G = Math.min(w.thresholds, w.items);
  const s2 = w.maxStages >= 2 ? choose(w.models, 2) : 0;
  const s3 = w.maxStages >= 3 ? choose(w.models, 3) : 0;
  const cell = w.items / Math.max(1, G);
  const candidates = w.models + w.measures * (s2 * (G + 2 * w.items) + s3 * (G * G + c.refineCellsPer3Stage * cell * cell + w.items));
  const searchS = (candidates * c.usPerCandidate) / 1e6;
  // Per assignment: the capacity of every candidate (binary search over the levels), then each level.
  const choices = w.gearCandidates * Math.ceil(Math.log2(w.levels + 1)) + 2 * w.levels;
  const simulations = choices * (w.simulationsPerChoice ?? c.simulationsPerChoice) * w.assignments;
  const perRequestUs = c.usPerSimulatedRequest * (1 + w.lanes / c.lanesPerDoubling) * (0.5 + w.stages / 6);
  const parallel = Math.max(1, Math.min(w.threads, w.cores));
  const assignS = (simulations * w.requests * perRequestUs) / 1e6 / parallel + (w.threads > 1 ? c.poolStartS : 0);
  return { searchS, assignS, totalS: searchS + assignS, candidates, simulations };
}

/** Lane counts objective "cost" assigns gears for: a binary search over 1..lanes (half of its steps fail fast on capacity). */
export function costObjectiveAssignments(lanes: number): number {
  return 1 + Math.ceil(Math.ceil(Math.log2(Math.max(1, lanes)) + 1) / 2);
}

/** Thrown by computePlan (with timeBudgetS) when the estimate is over the budget; nothing was computed past the check. */
export class PlanTooSlowError extends Error {
  readonly estimate: PlanEstimate;
  readonly work: PlanWork;
  readonly budgetS: number;
  constructor(estimate: PlanEstimate, work: PlanWork, budgetS: number) {
    const fmt = (s: number) => (s >= 100 ? s.toFixed(0) : s.toPrecision(2));
    const searchHeavy = estimate.searchS >= estimate.assignS;
    const advice = searchHeavy
      ? `the search grows with the square of the profile's validation items (${w(work.items)}) and with the cube of its models (${work.models}): profile fewer validation items (data.split.validationFraction in the manifest) or fewer models`
      : `the gear assignment simulates ${work.levels} load levels x up to ${work.gearCandidates} candidate cascades on ${work.lanes} lane(s)${work.assignments > 1 ? ` for ${work.assignments} lane counts (--objective cost)` : ''}, ${w(work.requests)} requests each: use fewer --lanes${work.assignments > 1 ? ' or --objective accuracy' : ''}${work.threads < work.cores ? ` or more --threads (${work.threads} of ${work.cores} cores now)` : ''}`;
    super(`planning would take about ${fmt(estimate.totalS)} s here (search ${fmt(estimate.searchS)} s, gear assignment ${fmt(estimate.assignS)} s), over the ${budgetS} s limit; ${advice}`);
    this.name = 'PlanTooSlowError';
    this.estimate = estimate;
    this.work = work;
    this.budgetS = budgetS;
  }
}

const w = (n: number) => n.toLocaleString('en-US');
