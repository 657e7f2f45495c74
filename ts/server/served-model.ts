// A model as the protocol serves it: its name, input contract, engine, admission control,
// statistics and (for the cascade) its gear controller.
//
// Member models: each model of the manifest is also served alone under the name
// `<cascade>.<model>` (e.g. `fmnist.mlp`), the baselines of the evaluation. It cannot share
// the cascade's engine (an engine runs one gear at a time, and a member request would need a
// one-stage gear), so each member gets its own engine with a one-stage gear (threshold 0,
// batched as the plan batches that model), on the plan's lanes, created on the first request
// so that a server used only for the cascade loads no extra sessions.
import { performance } from 'node:perf_hooks';
import { CascadeEngine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/config.js';
import type { EngineStats } from '../engine/engine.js';
import { AdmissionController, CostEstimator } from './admission.js';
import type { InputContract } from './codec.js';
import { GearController, type GearSwitchEvent, type SwitchLogger } from './gear-controller.js';
import { HysteresisGearPolicy } from './gear-policy.js';
import { LoadMonitor, type LoadMonitorOptions } from './load-monitor.js';
import { ModelStats, type LiveFigures } from './model-stats.js';
import type { ServingGear, ServingPlan } from './plan-loader.js';

export interface ServedModelOptions {
  maxImagesPerRequest: number;
  maxInFlightItems: number;
  upSwitchHoldMs: number;
  loadMonitor: LoadMonitorOptions;
  /** How often the controller looks at the load without arrivals and samples engine costs. */
  tickMs: number;
  log: SwitchLogger;
  onSwitch?: (model: string, e: GearSwitchEvent) => void;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
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
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #outputIsLogits: Map<string, boolean>;
  /** Engine counters at the last cost sample. */
  #lastBusyUs = 0;
  #lastCompleted = 0;

  private constructor(name: string, kind: 'cascade' | 'member', plan: ServingPlan, engineOptions: EngineOptions, gears: ServingGear[], options: ServedModelOptions, stats?: ModelStats) {
    this.name = name;
    this.kind = kind;
    this.classes = plan.classes;
    this.plan = plan;
    this.#engineOptions = engineOptions;
    this.#gears = gears;
    this.#options = options;
    const itemElems = plan.itemShape.reduce((a, b) => a * b, 1);
    this.contract = {
      inputName: plan.manifest.input.name,
      itemShape: plan.itemShape,
      itemElems,
      uint8Scale: plan.manifest.input.preprocessing.replace(/\s/g, '') === 'pixel/255' ? 1 / 255 : 1,
      maxImagesPerRequest: options.maxImagesPerRequest,
    };
    // A reloaded model keeps its predecessor's statistics: the figures stay cumulative.
    this.stats = stats ?? new ModelStats(name);
    this.#monitor = new LoadMonitor(options.loadMonitor);
    const lanes = engineOptions.lanes?.length ?? 1;
    this.admission = new AdmissionController({ sloMs: plan.sloMs, parallelism: lanes, maxInFlightItems: options.maxInFlightItems }, new CostEstimator(gears[0].expectedCostUs));
    this.#outputIsLogits = new Map(engineOptions.models.map((m) => [m.name, (m.outputKind ?? 'logits') === 'logits']));
  }

  /** The cascade, with its engine created now (the server is ready when this resolves). */
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
    if (this.#closed) throw new Error('closed');
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

  metadata(): { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] } {
    const c = this.contract;
    return {
      name: this.name,
      versions: ['1'],
      platform: this.kind === 'cascade' ? 'cascadeserve_cascade' : 'onnxruntime_onnx',
      inputs: [{ name: c.inputName, datatype: 'FP32', shape: [-1, ...c.itemShape] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, this.classes] },
        { name: 'class', datatype: 'INT64', shape: [-1] },
        { name: 'certainty', datatype: 'FP32', shape: [-1] },
        { name: 'exit_stage', datatype: 'INT32', shape: [-1] },
      ],
    };
  }

  live(): LiveFigures {
    const engine = this.#engine;
    let executionCount = this.stats.closedExecutionCount;
    if (engine && !this.#closed) {
      const s = engine.stats();
      for (const q of s.queues) executionCount += q.batches;
    }
    const gear = this.#controller?.current ?? this.#gears[0];
    const now = performance.now();
    return {
      executionCount,
      pendingRequests: this.pendingRequests,
      backlogItems: engine?.inFlight ?? 0,
      gearId: engine?.gear.id ?? gear.id,
      gearIndex: gear.index,
      expectedAccuracy: gear.expectedAccuracy,
      arrivalRateQps: this.#controller ? this.#controller.rateQps(now) : this.#monitor.rateQps(now),
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
      const engine = await CascadeEngine.create(this.#engineOptions);
      if (this.#closed) {
        await engine.close();
        throw new Error('closed');
      }
      this.#engine = engine;
      if (this.kind === 'cascade') {
        this.#controller = new GearController({
          gears: this.#gears,
          engine,
          monitor: this.#monitor,
          policy: new HysteresisGearPolicy(this.#gears, {
            holdMs: this.#options.upSwitchHoldMs,
            sloMs: this.admission.sloUs / 1000,
            // Drained: no more than one first-stage batch of the running gear waiting.
            drainedBacklogItems: this.#gears[0].engine.stages[0].maxBatch,
          }),
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
    let busyUs = 0;
    let completed = 0;
    for (const l of s.lanes) busyUs += l.busyUs;
    for (const q of s.queues) completed += q.exits;
    this.admission.cost.observe(busyUs - this.#lastBusyUs, completed - this.#lastCompleted);
    if (completed - this.#lastCompleted >= 8) {
      this.#lastBusyUs = busyUs;
      this.#lastCompleted = completed;
    }
  }
}
