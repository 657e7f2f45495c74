// Reads a gear plan (plan.json, ts/contracts/plan-schema.ts) and the model-zoo manifest it names,
// and turns them into what the server runs: engine options for the cascade (lanes, placement,
// models, the plan's gears as engine gears) and for each member model served on its own.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { validatePlan, type Plan, type PlanGear } from '../contracts/plan-schema.js';
import { fillEngineConfig, fillGear, type EngineGear, type EngineLane, type EngineModel, type EngineOptions } from '../engine/config.js';
import { loadManifest, type Manifest, type ManifestInput, type ManifestModel } from '../contracts/manifest.js';
import { packageRoot } from '../contracts/package-root.js';
import type { TensorContract } from './tensor-decoder.js';

/** One plan gear with the engine's form of it and the figures the server reports. */
export interface ServingGear {
  /** Index in the plan's gear list: 0 = most accurate (lowest load), last = cheapest. */
  index: number;
  id: number;
  /** Serves arrival rates in (minQps, maxQps]. */
  minQps: number;
  maxQps: number;
  expectedAccuracy: number;
  /** The planner's expected compute per query, microseconds (sum over stages). */
  expectedCostUs: number;
  /** The plan's peak lane utilization at maxQps (0: unknown, e.g. a member model). */
  utilization?: number;
  /** The plan's optional capacity figures for the gear policy (ts/server/gear-policy.ts). */
  sustainedQps?: number;
  serviceRateQps?: number;
  burstBudgetItems?: number;
  engine: EngineGear;
}

export interface ServingPlan {
  planPath: string;
  plan: Plan;
  manifest: Manifest;
  /** The cascade's model name over the protocol: the manifest's name (e.g. 'fmnist'). */
  cascadeName: string;
  /** Ordered by load, as in the plan. */
  gears: ServingGear[];
  sloMs: number;
  /** Shape of one item without the batch axis (manifest input.shape; version 2: the first input's, -1 on the dynamic axis). */
  itemShape: number[];
  /**
   * A version 2 manifest's named typed inputs, as requests carry them; null for version 1's
   * single FP32 image input (the codec's fast path and engine.submit).
   */
  inputs: TensorContract | null;
  classes: number;
  /** Manifest models, cheapest first, by name. */
  members: ManifestModel[];
  /** Engine options for the cascade, starting in gear 0 (the most accurate). */
  cascadeOptions(): EngineOptions;
  /** Engine options serving one manifest model alone (a one-stage gear, threshold 0). */
  memberOptions(model: string): EngineOptions;
}

/** Batch bound for a member model served alone when no gear of the plan runs it. */
const kDefaultMemberMaxBatch = 32;

export class PlanLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanLoadError';
  }
}

/** Absolute path of the committed demo plan, models/fmnist/plan.json. */
export function defaultPlanPath(): string {
  return join(packageRoot(), 'models', 'fmnist', 'plan.json');
}

export async function loadServingPlan(planPath: string): Promise<ServingPlan> {
  const abs = resolve(planPath);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    throw new PlanLoadError(`cannot read plan ${abs}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PlanLoadError(`plan ${abs} is not valid JSON: ${(e as Error).message}`);
  }
  const plan = validatePlan(raw);
  if (plan.gears.length === 0) throw new PlanLoadError(`plan ${abs} has no gears: the planner found no servable load level`);
  const manifest = await loadManifest(resolveManifestPath(plan.manifest.path, abs));
  const byName = new Map(manifest.models.map((m) => [m.name, m]));
  for (const [i, m] of plan.models.entries()) {
    if (!byName.has(m.name)) throw new PlanLoadError(`models[${i}].name: '${m.name}' is not a model of the manifest ${manifest.path}`);
  }

  const itemDims = [...manifest.input.shape];
  const inputs = manifest.version === 1 ? null : tensorContract(manifest);
  const byInput = new Map(manifest.inputs.map((i) => [i.name, i]));
  const engineModel = (m: ManifestModel): EngineModel =>
    inputs === null
      ? { name: m.name, path: m.file, input: m.input, output: m.output, itemDims, classes: manifest.output.classes, outputKind: m.outputKind }
      : {
          name: m.name,
          path: m.file,
          // The model's own inputs, as the manifest describes them.
          inputs: m.inputs.map((name) => engineInput(byInput.get(name)!)),
          output: m.output,
          classes: manifest.output.classes,
          outputKind: m.outputKind,
          padInvariant: m.padInvariant,
        };
  const lanes: EngineLane[] = plan.lanes.map((l) => ({ kind: l.kind, intraOpThreads: l.intraOpThreads }));

  const gears: ServingGear[] = plan.gears.map((g: PlanGear, index) => ({
    index,
    id: g.id,
    minQps: g.minQps,
    maxQps: g.maxQps,
    expectedAccuracy: g.expectedAccuracy,
    expectedCostUs: g.expectedCostUs,
    utilization: g.utilization,
    ...optionalCapacity(g),
    engine: {
      id: g.id,
      stages: g.stages.map((s) => ({
        model: s.model,
        threshold: s.threshold,
        measure: s.measure,
        maxBatch: s.maxBatch,
        maxQueueDelayUs: s.maxQueueDelayUs,
        laneWeights: [...s.laneShares],
      })),
    },
  }));

  // Items carry every manifest input; a model may take a subset (models[].inputs).
  const itemInputs = inputs === null ? {} : { inputs: manifest.inputs.map(engineInput) };
  const cascadeOptions = (): EngineOptions => ({
    ...itemInputs,
    models: plan.models.map((m) => engineModel(byName.get(m.name)!)),
    lanes,
    placement: { ...plan.placement },
    gear: gears[0].engine,
  });
  // Every gear is checked now, by the engine's own validation, rather than when the load
  // first asks for it: a gear the engine would refuse fails the start, naming its field.
  try {
    const config = fillEngineConfig(cascadeOptions());
    for (const g of gears) fillGear(g.engine, config, `gears[${g.index}]`);
  } catch (e) {
    throw new PlanLoadError(`plan ${abs}: ${(e as Error).message}`);
  }

  // A member model served alone batches as the plan batches it (the largest bound any gear
  // gives it), or kDefaultMemberMaxBatch when no gear uses it.
  const memberMaxBatch = (model: string): number => {
    let best = 0;
    for (const g of plan.gears) for (const s of g.stages) if (s.model === model) best = Math.max(best, s.maxBatch);
    return best || kDefaultMemberMaxBatch;
  };

  return {
    planPath: abs,
    plan,
    manifest,
    cascadeName: manifest.name,
    gears,
    sloMs: plan.slo.p95Ms,
    itemShape: itemDims,
    inputs,
    classes: manifest.output.classes,
    members: manifest.models,
    cascadeOptions,
    memberOptions: (model: string) => {
      const m = byName.get(model);
      if (!m) throw new PlanLoadError(`'${model}' is not a model of the manifest`);
      // Every lane of the plan hosts it: the baselines get the same hardware as the cascade.
      return {
        ...itemInputs,
        models: [engineModel(m)],
        lanes,
        gear: { id: 0, stages: [{ model, threshold: 0, maxBatch: memberMaxBatch(model), maxQueueDelayUs: 0 }] },
      };
    },
  };
}

/** The optional capacity fields of a plan gear (plans before #14 lack them; 0 = unknown). */
function optionalCapacity(g: PlanGear): Pick<ServingGear, 'sustainedQps' | 'serviceRateQps' | 'burstBudgetItems'> {
  const out: Pick<ServingGear, 'sustainedQps' | 'serviceRateQps' | 'burstBudgetItems'> = {};
  if (g.sustainedQps !== undefined && g.sustainedQps > 0) out.sustainedQps = g.sustainedQps;
  if (g.serviceRateQps !== undefined && g.serviceRateQps > 0) out.serviceRateQps = g.serviceRateQps;
  if (g.burstBudgetItems !== undefined) out.burstBudgetItems = g.burstBudgetItems;
  return out;
}

/** What requests to a version 2 manifest's cascade carry: every input, the dynamic axis, the mask input. */
function tensorContract(manifest: Manifest): TensorContract {
  return {
    inputs: manifest.inputs.map((i) => ({ name: i.name, datatype: i.datatype, itemShape: [...i.shape], padValue: i.padValue, ...(i.range ? { range: { ...i.range } } : {}) })),
    dynamicAxis: manifest.inputs.find((i) => i.dynamicAxis !== null)?.dynamicAxis ?? null,
    maskInput: manifest.maskInput,
  };
}

function engineInput(i: ManifestInput): NonNullable<EngineModel['inputs']>[number] {
  return { name: i.name, datatype: i.datatype, itemDims: [...i.shape], padValue: i.padValue };
}

/**
 * The plan's manifest.path: absolute, or relative to the plan's directory (as the planner
 * writes it). Nothing else is tried: a manifest found elsewhere (the working directory, say)
 * would be another cascade than the one the plan was made for.
 */
function resolveManifestPath(path: string, planPath: string): string {
  const abs = resolve(dirname(planPath), path);
  if (!existsSync(abs)) {
    const how = isAbsolute(path) ? '' : ` (relative to the plan's directory)`;
    throw new PlanLoadError(`plan ${planPath}: manifest.path '${path}' names ${abs}${how}, which does not exist`);
  }
  return abs;
}
