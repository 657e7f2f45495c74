// Exact evaluation of one cascade on the cached validation results of a profile.
// A cascade runs models[0] on every image; after stage s (< k-1) the image exits with
// stage s's prediction when certainty_s >= thresholds[s], otherwise it goes on to stage
// s+1. The last stage always answers. Shared by the planner and the server's plan checks.

import type { CertaintyMeasure, Profile, ProfileLane } from '../ts/contracts/profile-schema.js';
import { perImageCostUs, timingFor } from '../ts/contracts/profile-schema.js';

export interface CascadeSpec {
  /** Indices into profile.models, in stage order. */
  models: number[];
  /** thresholds[s] gates the exit after stage s; length models.length - 1. */
  thresholds: number[];
  measure: CertaintyMeasure;
}

export interface CascadeEval {
  accuracy: number;
  /** reach[s] = fraction of queries that run stage s (reach[0] = 1). */
  reach: number[];
  /** sum_s reach[s] * perImageCostUs(model s). */
  expectedCostUs: number;
}

/** Columnar view of a profile's validation results, typed arrays for fast scans. */
export interface ValidationColumns {
  n: number;
  correct: Uint8Array[]; // per model
  certainty: Record<CertaintyMeasure, Float64Array[]>; // per measure, per model
  costUs: Float64Array; // per model, perImageCostUs for the planning lane kind
}

/**
 * Columns of the validation half (or, with half = 'heldout', of the held-out half).
 * Certainties are read as float32 values (Math.fround): the profiler stores the engine's
 * certainty rounded down to float32 (9 significant digits in JSON), so thresholds taken
 * from these values compare exactly as in the engine (see ts/tools/profiler.ts).
 */
export function columnsOf(profile: Profile, lane: ProfileLane = profile.lanes[0], half: 'validation' | 'heldout' = 'validation'): ValidationColumns {
  const res = profile.models.map((m) => {
    const r = half === 'validation' ? m.validation : m.heldout;
    if (!r) throw new RangeError(`model "${m.name}" has no ${half} results in the profile`);
    return r;
  });
  const n = res[0].count;
  const mk = (mu: CertaintyMeasure) => res.map((r) => Float64Array.from(r.certainty[mu], Math.fround));
  return {
    n,
    correct: res.map((r) => Uint8Array.from(r.correct)),
    certainty: { max_prob: mk('max_prob'), margin: mk('margin'), entropy: mk('entropy') },
    costUs: Float64Array.from(profile.models.map((m) => perImageCostUs(timingFor(m, lane)))),
  };
}

function checkSpec(cols: ValidationColumns, spec: CascadeSpec): void {
  const k = spec.models.length;
  if (k < 1) throw new RangeError('cascade must have at least one stage');
  if (spec.thresholds.length !== k - 1) throw new RangeError(`cascade with ${k} stages needs ${k - 1} thresholds, got ${spec.thresholds.length}`);
  for (const m of spec.models) if (!(m >= 0 && m < cols.correct.length)) throw new RangeError(`cascade model index ${m} out of range`);
}

/** Stage (0-based) at which each validation image exits. */
export function exitStages(cols: ValidationColumns, spec: CascadeSpec): Uint8Array {
  checkSpec(cols, spec);
  const k = spec.models.length;
  const out = new Uint8Array(cols.n).fill(k - 1);
  const cert = spec.models.map((m) => cols.certainty[spec.measure][m]);
  for (let i = 0; i < cols.n; i++) {
    for (let s = 0; s < k - 1; s++) {
      if (cert[s][i] >= spec.thresholds[s]) {
        out[i] = s;
        break;
      }
    }
  }
  return out;
}

export function evalCascade(cols: ValidationColumns, spec: CascadeSpec): CascadeEval {
  const k = spec.models.length;
  const exits = exitStages(cols, spec);
  const exitCount = new Float64Array(k);
  let right = 0;
  for (let i = 0; i < cols.n; i++) {
    const s = exits[i];
    exitCount[s]++;
    right += cols.correct[spec.models[s]][i];
  }
  const reach: number[] = [];
  let remaining = cols.n;
  let cost = 0;
  for (let s = 0; s < k; s++) {
    reach.push(remaining / cols.n);
    cost += (remaining / cols.n) * cols.costUs[spec.models[s]];
    remaining -= exitCount[s];
  }
  return { accuracy: right / cols.n, reach, expectedCostUs: cost };
}
