// A model as the protocol serves it: its name, input contract, engine, admission control,
// statistics and (for the cascade) its gear controller.
//
// Member models: each model of the manifest is also served alone under the name
// `<cascade>.<model>` (e.g. `fmnist.mlp`), the baselines of the evaluation. It cannot share
// the cascade's engine (an engine runs one gear at a time, and a member request would need a
// one-stage gear), so each member gets its own engine with a one-stage gear (threshold 0,
// batched as the plan batches that model), on the plan's lanes, created on the first request
// so that a server used only for the cascade loads no extra sessions.
//
// Warm-up: an engine is warmed (ts/engine/warm-up.ts: every model of every gear, on every
// lane hosting it, at the gears' batch sizes) before it is used, so the cascade reports ready
// only once warm. The warm-up's runs are left out of the figures this model reports.
import { performance } from 'node:perf_hooks';
import { CascadeEngine } from '../engine/engine.js';
import { CascadeServeError } from '../errors.js';
import type { EngineOptions } from '../engine/config.js';
import type { EngineStats } from '../engine/engine.js';
import { kWarmUpLength, warmUp } from '../engine/warm-up.js';
import { AdmissionController, CostEstimator, type EngineTotals } from './admission.js';
import type { InputContract } from './codec.js';
import { GearController, type GearSwitchEvent, type SwitchLogger } from './gear-controller.js';
import { HostSpeedMonitor } from './host-speed.js';
import { BacklogGearPolicy, policyGears, type GearPolicy } from './gear-policy.js';
import { LoadMonitor, type LoadMonitorOptions } from './load-monitor.js';
import { accuracyBudgetOf } from './accuracy-budget.js';
import { ModelStats, type LiveFigures } from './model-stats.js';
import type { ServingGear, ServingPlan } from './plan-loader.js';
import { rowKind } from '../contracts/enums.js';

export interface ServedModelOptions {
  maxImagesPerRequest: number;
  /** Items accepted and not yet answered, at most (admission and the engine's stage queues); default inFlightBoundOf the plan. */
  maxInFlightItems?: number;
  /** How long the up-switch condition must hold (the server's default: the monitor window). */
  upSwitchHoldMs: number;
  /** The gear policy's overload horizon, ms (the server's option); default the plan's policy.overloadHorizonMs, else the policy's own (4 x the SLO). */
  overloadHorizonMs?: number;
  loadMonitor: LoadMonitorOptions;
  /** The gear policy follows the host's measured speed (host-speed.ts) when the plan has batch times. Default true. */
  hostSpeed?: boolean;
  /** The gear policy keeps the answers at the plan's load-weighted accuracy target on average (accuracy-budget.ts). Default true. */
  accuracyBudget?: boolean;
  /** The budget's window (accuracy-budget.ts windowMs); default the budget's own (60 s). */
  accuracyWindowMs?: number;
  /** Replaces the cascade's gear policy (the evaluation's oracle); default BacklogGearPolicy. */
  gearPolicy?: (gears: readonly ServingGear[], context: { sloMs: number; holdMs: number; lanes: number }) => GearPolicy;
  /** How often the controller looks at the load without arrivals and samples engine costs. */
  tickMs: number;
  /** Warm the engine up before it serves (see above). */
  warmUp: boolean;
  log: SwitchLogger;
  onSwitch?: (model: string, e: GearSwitchEvent) => void;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** The in-flight bound never goes below the server's old fixed default. */
export const kMinInFlightItems = 1024;
/** Nor above this: the bound guards memory (each item's input is held until it is answered). */
export const kMaxInFlightItems = 65536;

/**
 * The default bound on items in flight for a served model: the most items its cheapest gear
 * completes within one SLO on the plan's lanes (lanes x SLO / that gear's expected cost per
 * item), within [kMinInFlightItems, kMaxInFlightItems]. An item beyond it could not be answered
 * in time even by that gear, so refusing it at once loses nothing; a fixed 1024 refused items a
 * fast plan would have answered (at 100 ms and 35,000 QPS a gear queues 3,500 items within its
 * SLO; the evaluation's 100 ms cell lost items to that bound in every system alike).
 */
export function inFlightBoundOf(sloMs: number, lanes: number, gears: readonly Pick<ServingGear, 'expectedCostUs'>[]): number {
  let cheapestUs = Infinity;
  for (const g of gears) if (g.expectedCostUs > 0 && g.expectedCostUs < cheapestUs) cheapestUs = g.expectedCostUs;
  if (!Number.isFinite(cheapestUs) || !(sloMs > 0)) return kMinInFlightItems;
  return Math.min(kMaxInFlightItems, Math.max(kMinInFlightItems, Math.ceil((Math.max(1, lanes) * sloMs * 1000) / cheapestUs)));
}

export class ServedModel {
  readonly name: string;
  readonly kind: 'cascade' | 'member';
  readonly contract: InputContract;
  readonly stats: ModelStats;
  readonly admission: AdmissionController;
  readonly classes: number;
  /** The plan this model is served from (model configuration, reloads). */
  readonly plan: ServingPlan;
  /** Requests accepted and not yet answered. */
  pendingRequests = 0;
  #engineOptions: EngineOptions;
  #gears: ServingGear[];
  #options: ServedModelOptions;
  #engine: CascadeEngine | null = null;
  #creating: Promise<CascadeEngine> | null = null;
  #controller: GearController | null = null;
  #monitor: LoadMonitor;
  /** Items that failed for load, over the same window (recordLoadFailures; the gear policy reads it). */
  #failures: LoadMonitor;
  /** The host's speed against the plan's batch times (the gear policy reads it); null when the plan has none. */
  #speed: HostSpeedMonitor | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #outputIsLogits: Map<string, boolean>;
  /** Batches the warm-up ran: not executions of requests. */
  #warmUpBatches = 0;

  private constructor(name: string, kind: 'cascade' | 'member', plan: ServingPlan, engineOptions: EngineOptions, gears: ServingGear[], options: ServedModelOptions, stats?: ModelStats) {
    this.name = name;
    this.kind = kind;
    this.classes = plan.classes;
    this.plan = plan;
    const lanes = engineOptions.lanes?.length ?? 1;
    const maxInFlightItems = options.maxInFlightItems ?? inFlightBoundOf(plan.sloMs, lanes, gears);
    // The engine's stage-0 queue holds no fewer than admission lets in: otherwise it refuses
    // what admission accepted (both were 1024 before the bound followed the plan).
    this.#engineOptions = { ...engineOptions, maxQueueSizePerStage: Math.max(engineOptions.maxQueueSizePerStage ?? 0, maxInFlightItems) };
    this.#gears = gears;
    this.#options = options;
    // A dynamic axis (-1) counts as one element in itemElems: only the fast path reads it.
    const itemElems = plan.itemShape.reduce((a, b) => a * Math.max(1, b), 1);
    this.contract = {
      inputName: plan.manifest.input.name,
      itemShape: plan.itemShape,
      itemElems,
      uint8Scale: plan.inputs === null && plan.manifest.input.preprocessing.replace(/\s/g, '') === 'pixel/255' ? 1 / 255 : 1,
      maxImagesPerRequest: options.maxImagesPerRequest,
    };
    if (plan.inputs !== null) {
      // The shortest limit of the models this one runs: an item may reach any of them.
      const limits = engineOptions.models.flatMap((m) => plan.members.find((x) => x.name === m.name)?.maxLength ?? []);
      this.contract.tensors = limits.length > 0 ? { ...plan.inputs, maxLength: Math.min(...limits) } : plan.inputs;
      if (kind === 'member') {
        // A member alone needs only the inputs its model reads; the others may be left out.
        const reads = new Set(engineOptions.models.flatMap((m) => plan.members.find((x) => x.name === m.name)?.inputs ?? []));
        this.contract.tensors = { ...this.contract.tensors, inputs: this.contract.tensors.inputs.map((x) => (reads.has(x.name) ? x : { ...x, optional: true })) };
      }
    }
    // A reloaded model keeps its predecessor's statistics: the figures stay cumulative.
    this.stats = stats ?? new ModelStats(name);
    this.#monitor = new LoadMonitor(options.loadMonitor);
    this.#failures = new LoadMonitor(options.loadMonitor);
    // An idle cost estimate returns to the plan's over the load window: the horizon over
    // which the server judges the load (admission.ts).
    this.admission = new AdmissionController({ sloMs: plan.sloMs, parallelism: lanes, maxInFlightItems }, new CostEstimator(gears[0].expectedCostUs, undefined, Math.max(...gears.map((g) => g.expectedCostUs)), this.#monitor.options.windowMs));
    this.#outputIsLogits = new Map(engineOptions.models.map((m) => [m.name, rowKind(m.outputKind ?? 'logits') === 'logits']));
  }

  /** The cascade, with its engine created and warmed now (the server is ready when this resolves). */
  static async cascade(plan: ServingPlan, options: ServedModelOptions, stats?: ModelStats): Promise<ServedModel> {
    const m = new ServedModel(plan.cascadeName, 'cascade', plan, plan.cascadeOptions(), plan.gears, options, stats);
    await m.engine();
    return m;
  }

  /** One manifest model alone; its engine is created on first use. */
  static member(plan: ServingPlan, model: string, options: ServedModelOptions, stats?: ModelStats): ServedModel {
    const engineOptions = plan.memberOptions(model);
    // A single gear serving any load; its expected cost seeds admission until measured: the
    // plan's cost of a one-stage gear of this model, else its most accurate gear's.
    const solo = plan.gears.find((g) => g.engine.stages.length === 1 && g.engine.stages[0].model === model);
    const gear: ServingGear = {
      index: 0,
      id: 0,
      minQps: 0,
      maxQps: Infinity,
      expectedAccuracy: plan.members.find((m) => m.name === model)?.accuracy?.validation ?? NaN,
      expectedCostUs: (solo ?? plan.gears[0]).expectedCostUs,
      engine: engineOptions.gear,
    };
    return new ServedModel(`${plan.cascadeName}.${model}`, 'member', plan, engineOptions, [gear], options, stats);
  }

  /** The engine, created on first call. */
  async engine(): Promise<CascadeEngine> {
    if (this.#engine) return this.#engine;
    if (this.#closed) throw closedError(this.name);
    this.#creating ??= this.#create();
    return this.#creating;
  }

  /** The engine if it exists (no creation): the request path's fast check. */
  get engineIfReady(): CascadeEngine | null {
    return this.#engine;
  }

  /** The gears this model switches between (one for a member model), plan order. */
  get gears(): readonly ServingGear[] {
    return this.#gears;
  }

  /** The gear running now (the first gear before the engine exists). */
  get currentGear(): ServingGear {
    return this.#controller?.current ?? this.#gears[0];
  }

  /** Engine options: the models, lanes and starting gear this model runs with. */
  get engineOptions(): EngineOptions {
    return this.#engineOptions;
  }

  get gearController(): GearController | null {
    return this.#controller;
  }

  /** Ready to answer: the cascade once its engine exists; a member whenever not closed. */
  get ready(): boolean {
    return !this.#closed && (this.kind === 'member' || this.#engine !== null);
  }

  get outputIsLogits(): (model: string) => boolean {
    return (model) => this.#outputIsLogits.get(model) ?? true;
  }

  /** Records arrivals (load monitor, gear policy); the member models have one gear. */
  onArrival(items: number): void {
    if (this.#controller) this.#controller.onArrival(items);
    else this.#monitor.record(items, performance.now());
  }

  /**
   * Items of one request that failed for load: refused at admission for it (not for their
   * size), or past their deadline. The caller counts only requests whose deadline was the
   * plan's SLO or longer: a client's own tight timeout is not load.
   */
  recordLoadFailures(items: number): void {
    if (items > 0) this.#failures.record(items, performance.now());
  }

  metadata(): { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] } {
    const c = this.contract;
    return {
      name: this.name,
      versions: ['1'],
      platform: this.kind === 'cascade' ? 'cascadeserve_cascade' : 'onnxruntime_onnx',
      // Every input it reads with its datatype; -1 for the batch axis and the dynamic axis.
      inputs: c.tensors ? c.tensors.inputs.filter((s) => !s.optional).map((s) => ({ name: s.name, datatype: s.datatype, shape: [-1, ...s.itemShape] })) : [{ name: c.inputName, datatype: 'FP32', shape: [-1, ...c.itemShape] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, this.classes] },
        { name: 'class', datatype: 'INT64', shape: [-1] },
        { name: 'certainty', datatype: 'FP32', shape: [-1] },
        { name: 'exit_stage', datatype: 'INT32', shape: [-1] },
        { name: 'model', datatype: 'BYTES', shape: [-1] },
      ],
    };
  }

  live(): LiveFigures {
    const engine = this.#engine;
    let executionCount = this.stats.closedExecutionCount;
    const padding: LiveFigures['padding'] = [];
    if (engine && !this.#closed) {
      const s = engine.stats();
      for (const q of s.queues) executionCount += q.batches;
      executionCount -= this.#warmUpBatches;
      if (this.contract.tensors?.dynamicAxis != null) {
        const names = engine.modelNames;
        for (const q of s.queues) {
          const name = names[q.model];
          const p = padding.find((x) => x.model === name) ?? padding[padding.push({ model: name, itemPositions: 0, paddedPositions: 0 }) - 1];
          p.itemPositions += q.itemPositions;
          p.paddedPositions += q.paddedPositions;
        }
      }
    }
    const gear = this.#controller?.current ?? this.#gears[0];
    const now = performance.now();
    const inGears = this.#controller?.gearSeconds(now) ?? { belowTop: 0, cheapest: 0 };
    return {
      executionCount,
      pendingRequests: this.pendingRequests,
      backlogItems: engine?.inFlight ?? 0,
      gearId: engine?.gear.id ?? gear.id,
      gearIndex: gear.index,
      expectedAccuracy: gear.expectedAccuracy,
      arrivalRateQps: this.#controller ? this.#controller.rateQps(now) : this.#monitor.rateQps(now),
      arrivalsTotal: this.#monitor.totalItems,
      gearCount: this.#gears.length,
      topGearCapacityQps: this.#gears[0].maxQps,
      planCapacityQps: this.#gears[this.#gears.length - 1].maxQps,
      belowTopGearSeconds: inGears.belowTop,
      cheapestGearSeconds: inGears.cheapest,
      sloP95Seconds: this.admission.sloUs / 1e6,
      padding,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const engine = this.#engine ?? (this.#creating ? await this.#creating.catch(() => null) : null);
    if (engine) {
      // Batches run by a closed engine stay counted (nv_inference_exec_count is cumulative).
      try {
        for (const q of engine.stats().queues) this.stats.closedExecutionCount += q.batches;
      } catch {
        // an engine that cannot report any more has nothing to add
      }
    }
    await engine?.close();
  }

  async #create(): Promise<CascadeEngine> {
    try {
      // The policy checks its options: before the engine, so a bad one leaves no lanes running.
      const policy = this.kind === 'cascade' ? this.#policy() : null;
      const engine = await CascadeEngine.create(this.#engineOptions);
      try {
        // Not longer than the models run (a position table): the warm-up would fail the start.
        const maxLength = this.contract.tensors?.maxLength;
        if (!this.#closed && this.#options.warmUp) await warmUp(engine, this.#engineOptions, this.#gears.map((g) => g.engine), Math.min(kWarmUpLength, maxLength ?? Infinity));
      } catch (e) {
        await engine.close();
        throw e;
      }
      if (this.#closed) {
        await engine.close();
        throw closedError(this.name);
      }
      const warm = engine.stats();
      for (const q of warm.queues) this.#warmUpBatches += q.batches;
      // The cost estimate's first sample starts after the warm-up: its runs are no request's.
      this.admission.cost.sample(engineTotals(warm), performance.now());
      this.#engine = engine;
      if (policy) {
        this.#speed = this.#hostSpeed();
        this.#speed?.sample(warm, performance.now());
        this.#controller = new GearController({
          gears: this.#gears,
          engine,
          monitor: this.#monitor,
          failures: this.#failures,
          ...(this.#speed ? { speed: this.#speed } : {}),
          policy,
          cost: this.admission.cost,
          stats: this.stats,
          log: this.#options.log,
          onSwitch: (e) => this.#options.onSwitch?.(this.name, e),
        });
      }
      this.#timer = setInterval(() => this.#tick(), this.#options.tickMs);
      this.#timer.unref();
      return engine;
    } finally {
      this.#creating = null;
    }
  }

  /** The cascade's gear policy: the injected one, else the backlog policy on the plan's figures. */
  #policy(): GearPolicy {
    const sloMs = this.admission.sloUs / 1000;
    const holdMs = this.#options.upSwitchHoldMs;
    const lanes = this.#engineOptions.lanes?.length ?? 1;
    if (this.#options.gearPolicy) return this.#options.gearPolicy(this.#gears, { sloMs, holdMs, lanes });
    const gears = policyGears(this.#gears.map((g) => ({ ...g, stages: g.engine.stages.map((st) => ({ maxBatch: st.maxBatch, maxQueueDelayUs: st.maxQueueDelayUs ?? 0 })) })), sloMs, lanes);
    // the monitor's recent window: the policy tells a ramp from that window's noise
    const overloadHorizonMs = this.#options.overloadHorizonMs ?? this.plan.plan.policy?.overloadHorizonMs;
    const of = this.#options.accuracyBudget === false ? undefined : accuracyBudgetOf(this.plan.plan);
    const budget = of && this.#options.accuracyWindowMs !== undefined ? { ...of, windowMs: this.#options.accuracyWindowMs } : of;
    return new BacklogGearPolicy(gears, { sloMs, holdMs, recentMs: this.#monitor.options.recentMs, ...(overloadHorizonMs !== undefined ? { overloadHorizonMs } : {}), ...(budget ? { accuracyBudget: budget } : {}) });
  }

  /** Periodic: the policy looks at the load without arrivals; the cost estimate is sampled. */
  #tick(): void {
    const engine = this.#engine;
    if (!engine || this.#closed) return;
    this.#controller?.evaluate();
    let s: EngineStats;
    try {
      s = engine.stats();
    } catch {
      return;
    }
    const now = performance.now();
    this.admission.cost.sample(engineTotals(s), now);
    this.#speed?.sample(s, now);
  }

  /** The host speed monitor, when the plan carries the batch times of every model the engine runs. */
  #hostSpeed(): HostSpeedMonitor | null {
    if (this.#options.hostSpeed === false) return null;
    const byName = new Map(this.plan.plan.models.map((m) => [m.name, m.batchTimesUs]));
    const times = this.#engineOptions.models.map((m) => byName.get(m.name));
    if (times.some((t) => !t || t.length === 0)) return null;
    return new HostSpeedMonitor(times.map((t) => ({ batch: t!.map((r) => r.batch), p50Us: t!.map((r) => r.p50Us) })));
  }
}

/** The engine counters the cost estimate samples: lane busy time, items answered by an exit, items in flight. */
function engineTotals(s: EngineStats): EngineTotals {
  let busyUs = 0;
  let completed = 0;
  for (const l of s.lanes) busyUs += l.busyUs;
  for (const q of s.queues) completed += q.exits;
  return { busyUs, completed, inFlight: s.inFlight };
}

/** The catalogue's code for "closed" (503 over HTTP, like a closed engine), not a bare Error (500). */
function closedError(model: string): CascadeServeError {
  return new CascadeServeError('ERR_CS_CLOSED', `model '${model}' is closed`);
}
