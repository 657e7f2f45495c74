// CascadeEngine: the typed facade over the native cascade engine (native/engine). One
// crossing into C++ per submit() call (however many items) and one back per group of
// completed batches; each item's promise is settled from its row of the delivered numbers.
import { kResultRowFields, kStatusCodes } from '../contracts/enums.js';
import { loadBinding, type RawEngine, type RawResultsCallback, type RawEngineStats } from '../../bindings/binding.js';
import { CascadeServeError, fromNative, invalidArgument, withoutSourceLocations } from '../errors.js';
import { openRuntime } from '../runtime/runtime.js';
import { availableParallelism } from 'node:os';
import { WaitSpin } from './wait-spin.js';
import { fillEngineConfig, fillGear, itemElemsAt, kMaxBudgetUs, kMaxInt32, kMeasureCodes, kResultDetail, type CertaintyMeasure, type Datatype, type EngineGear, type EngineOptions, type RawEngineConfig, type RawEngineInput } from './config.js';

export type ItemStatus = 'ok' | 'timeout' | 'overloaded' | 'cancelled' | 'error';

// Item status by native StatusCode (ts/contracts/enums.ts, checked against the addon at load).
const kStatusNames: Record<number, ItemStatus> = { [kStatusCodes.ok]: 'ok', [kStatusCodes.runtime_error]: 'error', [kStatusCodes.overloaded]: 'overloaded', [kStatusCodes.timeout]: 'timeout', [kStatusCodes.cancelled]: 'cancelled' };

export interface ItemResult {
  status: ItemStatus;
  /** -1 unless status is 'ok'. */
  predictedClass: number;
  certainty: number;
  /** Stage index in the gear the item entered with. */
  exitStage: number;
  /** Name of the model that answered (or where the item ended). */
  model: string;
  queuedUs: number;
  computeUs: number;
  /** The answering model's output row, when asked for. */
  output?: Float32Array;
  /**
   * The answering model's certainty under every measure, in double, when asked for
   * (wantCertainties): the engine's own numbers, certainties[measure of the answering stage]
   * being the value its exit test compared against the threshold.
   */
  certainties?: Record<CertaintyMeasure, number>;
  /** ONNX Runtime's message, for status 'error'. */
  error?: string;
}

export interface SubmitOptions {
  /**
   * Time left to each item, in microseconds; a number for all or one per item. Each is
   * Infinity (no deadline, the default), 0 (already spent: the item times out without
   * running) or a positive number up to kMaxBudgetUs (24 hours); NaN, negative and longer
   * budgets are refused.
   */
  budgetUs?: number | Float64Array;
  /** An integer from 1 (the highest) to 2^31 - 1; default 1. */
  priority?: number;
  /** Return each answering model's output row. */
  wantOutput?: boolean;
  /** Return each answering model's certainty under every measure (ItemResult.certainties). */
  wantCertainties?: boolean;
}

const kMeasureNames = Object.keys(kMeasureCodes) as CertaintyMeasure[];

/** Why a budget is refused, or null when it is one the engine takes. */
function budgetProblem(b: number): string | null {
  if (typeof b !== 'number' || Number.isNaN(b)) return `must be a number, got ${String(b)}`;
  if (b < 0) return `must be >= 0 microseconds (0 = already spent), got ${b}`;
  if (b > kMaxBudgetUs && b !== Infinity) return `must be at most ${kMaxBudgetUs} microseconds (24 hours) or Infinity for none, got ${b}`;
  return null;
}

/** The typed array that carries each datatype (FP16 as its bits, BOOL as 0/1 bytes). */
export type TensorArray = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

const kArrayOf: Record<Datatype, { name: string; is: (a: unknown) => boolean }> = {
  FP32: { name: 'Float32Array', is: (a) => a instanceof Float32Array },
  FP16: { name: 'Uint16Array (float16 bits)', is: (a) => a instanceof Uint16Array },
  INT64: { name: 'BigInt64Array', is: (a) => a instanceof BigInt64Array },
  INT32: { name: 'Int32Array', is: (a) => a instanceof Int32Array },
  UINT8: { name: 'Uint8Array', is: (a) => a instanceof Uint8Array },
  BOOL: { name: 'Uint8Array (0 or 1)', is: (a) => a instanceof Uint8Array },
};

/** Items for submitTensors: `count` items of every input, each padded to `length` on the dynamic axis. */
export interface TensorItems {
  count: number;
  /** One array per engine input, by name: count items, item after item, each item [..., length, ...]. */
  tensors: Record<string, TensorArray>;
  /** Extent of the dynamic axis in `tensors`; default: read from the arrays' sizes. Only with a dynamic axis. */
  length?: number;
  /** Each item's own length (1..length); only these positions are kept, the rest is padding. Default: all `length`. */
  lengths?: Int32Array;
}

/** What the engine expects of every item (engine.inputs). */
export interface EngineInputInfo {
  name: string;
  datatype: Datatype;
  /** One item's shape without the batch axis; -1 on the dynamic axis. */
  itemDims: number[];
  padValue: number;
  /** Index of the dynamic axis in itemDims, or null. */
  dynamicAxis: number | null;
}

export interface EngineStats extends RawEngineStats {
  /** Requests accepted and not yet answered. */
  inFlight: number;
}

type Settle = (r: ItemResult) => void;

const isCount = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= kMaxInt32;
const describe = (a: unknown) => (ArrayBuffer.isView(a) ? a.constructor.name : a === null ? 'null' : typeof a);

/**
 * The per-call argument arrays of submit(), reused from call to call: the native call reads
 * them before it returns, and fresh typed arrays per call were a measurable share of the
 * per-item cost (each is an allocation and a garbage-collector object).
 */
class SubmitScratch {
  tickets = new Float64Array(0);
  budgets = new Float64Array(0);
  priorities = new Int32Array(0);
  detail = new Uint8Array(0);
  accepted = new Uint8Array(0);
  #capacity = 0;
  #tickets = new Float64Array(0);
  #budgets = new Float64Array(0);
  #priorities = new Int32Array(0);
  #bytes = new Uint8Array(0);

  /** Views of exactly n entries (the native side takes the item count from their lengths). */
  take(n: number): this {
    if (n === this.tickets.length) return this;
    if (n > this.#capacity) {
      this.#capacity = Math.max(n, 2 * this.#capacity, 64);
      this.#tickets = new Float64Array(this.#capacity);
      this.#budgets = new Float64Array(this.#capacity);
      this.#priorities = new Int32Array(this.#capacity);
      this.#bytes = new Uint8Array(2 * this.#capacity);
    }
    this.tickets = this.#tickets.subarray(0, n);
    this.budgets = this.#budgets.subarray(0, n);
    this.priorities = this.#priorities.subarray(0, n);
    this.detail = this.#bytes.subarray(0, n);
    this.accepted = this.#bytes.subarray(this.#capacity, this.#capacity + n);
    return this;
  }
}

/**
 * options.waitSpinUs: the default (a small model's answer at low load comes well within it) and
 * the most accepted (a longer spin only burns a core while a large model runs).
 */
const kDefaultWaitSpinUs = 200;
const kMaxWaitSpinUs = 10_000;

export class CascadeEngine {
  #raw: RawEngine | null;
  #config: RawEngineConfig;
  #pending = new Map<number, Settle>();
  #scratch = new SubmitScratch();
  #nextTicket = 1;
  #closed = false;
  #gear: EngineGear;
  #waitSpin: WaitSpin;

  private constructor(raw: RawEngine, config: RawEngineConfig, gear: EngineGear, waitSpinUs: number) {
    this.#raw = raw;
    this.#config = config;
    this.#gear = gear;
    // A lane of N intra-op threads keeps N cores busy while it runs; the spin takes one more.
    const laneThreads = config.lanes.reduce((s, l) => s + (l.kind === 'cuda' ? 1 : l.intraOpThreads), 0);
    this.#waitSpin = new WaitSpin(laneThreads < availableParallelism() ? waitSpinUs : 0, () => this.#pending.size, loadBinding().binding.yieldThread);
  }

  static async create(options: EngineOptions): Promise<CascadeEngine> {
    const config = fillEngineConfig(options);
    const gear = fillGear(options.gear, config, 'options.gear');
    const waitSpinUs = options.waitSpinUs ?? kDefaultWaitSpinUs;
    if (typeof waitSpinUs !== 'number' || !(waitSpinUs >= 0 && waitSpinUs <= kMaxWaitSpinUs)) throw invalidArgument('options.waitSpinUs', `must be a number from 0 to ${kMaxWaitSpinUs} (microseconds), got ${String(waitSpinUs)}`);
    const runtime = openRuntime(options.runtimeLibrary);
    const { binding } = loadBinding();
    let engine: CascadeEngine | undefined;
    const onResults: RawResultsCallback = (count, rows, outputOffset, outputs, certainties, errors) => {
      if (engine) engine.#settle(count, rows, outputOffset, outputs, certainties, errors);
    };
    try {
      const raw = await binding.createEngine(runtime, config, gear, onResults);
      engine = new CascadeEngine(raw, config, options.gear, waitSpinUs);
      return engine;
    } catch (err) {
      throw fromNative(err, 'cannot create the engine');
    }
  }

  /**
   * Floats per item for submit(): the elements of the engine's one FP32 input; 0 when the
   * engine takes other inputs (several, not FP32, or with a dynamic axis: use submitTensors).
   */
  get itemElems(): number {
    const inputs = this.#config.inputs;
    if (inputs.length !== 1 || inputs[0].datatype !== 'FP32' || inputs[0].dynamicAxis >= 0) return 0;
    return itemElemsAt(inputs[0], 1);
  }

  /** The inputs every item carries (shared by all models), for codecs. */
  get inputs(): EngineInputInfo[] {
    return this.#config.inputs.map((i) => ({ name: i.name, datatype: i.datatype, itemDims: [...i.itemDims], padValue: i.padValue, dynamicAxis: i.dynamicAxis >= 0 ? i.dynamicAxis : null }));
  }

  get modelNames(): string[] {
    return this.#config.models.map((m) => m.name);
  }

  get gear(): EngineGear {
    return this.#gear;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Submits `inputs.length / itemElems` items in one crossing. Each promise settles exactly
   * once with the item's result; refused items ('overloaded') settle at once. Never rejects.
   */
  submit(inputs: Float32Array, options: SubmitOptions = {}): Promise<ItemResult>[] {
    const raw = this.#open();
    if (!(inputs instanceof Float32Array)) throw invalidArgument('inputs', 'must be a Float32Array');
    const per = this.itemElems;
    if (per === 0) throw invalidArgument('inputs', `this engine takes the inputs ${this.#config.inputs.map((i) => `${i.name} (${i.datatype} ${JSON.stringify(i.itemDims)})`).join(', ')}: submit them with submitTensors`);
    if (inputs.length === 0 || inputs.length % per !== 0) {
      throw invalidArgument('inputs', `must hold a positive multiple of ${per} floats (one item), got ${inputs.length}`);
    }
    return this.#enqueue(raw, inputs.length / per, options, (tickets, budgets, priorities, detail, accepted) => raw.submit(tickets, inputs, budgets, priorities, detail, accepted));
  }

  /**
   * Submits `items.count` items of typed inputs in one crossing. Each item keeps only its own
   * `lengths[i]` positions of the dynamic axis; batch assembly pads every batch to its longest
   * item with each input's padValue. Promises as for submit().
   */
  submitTensors(items: TensorItems, options: SubmitOptions = {}): Promise<ItemResult>[] {
    const raw = this.#open();
    const { count, arrays, length, lengths } = this.#checkTensors(items);
    return this.#enqueue(raw, count, options, (tickets, budgets, priorities, detail, accepted) => raw.submitTensors(tickets, arrays, length, lengths, budgets, priorities, detail, accepted));
  }

  #open(): RawEngine {
    const raw = this.#raw;
    if (!raw || this.#closed) throw new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
    return raw;
  }

  /** Validates submitTensors' items against the engine's inputs; errors name the tensor. */
  #checkTensors(items: TensorItems): { count: number; arrays: TensorArray[]; length: number; lengths: Int32Array } {
    if (items === null || typeof items !== 'object') throw invalidArgument('items', 'must be an object');
    const count = items.count;
    if (!isCount(count)) throw invalidArgument('items.count', `must be an integer from 1 to ${kMaxInt32}, got ${String(count)}`);
    const tensors = items.tensors;
    if (tensors === null || typeof tensors !== 'object') throw invalidArgument('items.tensors', 'must be an object of typed arrays by input name');
    const inputs = this.#config.inputs;
    const expected = inputs.map((i) => i.name).join(', ');
    for (const name of Object.keys(tensors)) {
      if (!inputs.some((i) => i.name === name)) throw invalidArgument(`items.tensors[${JSON.stringify(name)}]`, `is not an input of the engine (inputs: ${expected})`);
    }
    const arrays = inputs.map((input) => {
      const at = `items.tensors[${JSON.stringify(input.name)}]`;
      const a = Object.hasOwn(tensors, input.name) ? tensors[input.name] : undefined;
      if (a === undefined) throw invalidArgument(at, `is missing: every item carries the inputs ${expected}`);
      if (!kArrayOf[input.datatype].is(a)) throw invalidArgument(at, `must be a ${kArrayOf[input.datatype].name} for ${input.datatype}, got ${describe(a)}`);
      return a;
    });
    const dynamic = inputs.findIndex((i) => i.dynamicAxis >= 0);
    let length = 1;
    if (dynamic < 0) {
      if (items.length !== undefined) throw invalidArgument('items.length', 'must be absent: the engine\'s inputs have no dynamic axis');
      if (items.lengths !== undefined) throw invalidArgument('items.lengths', 'must be absent: the engine\'s inputs have no dynamic axis');
    } else if (items.length !== undefined) {
      length = items.length;
      if (!isCount(length)) throw invalidArgument('items.length', `must be an integer from 1 to ${kMaxInt32}, got ${String(length)}`);
    } else {
      // Read from the first dynamic input's size: count items of static * length elements.
      const per = count * itemElemsAt(inputs[dynamic], 1);
      length = arrays[dynamic].length / per;
      if (!isCount(length)) {
        throw invalidArgument(`items.tensors[${JSON.stringify(inputs[dynamic].name)}]`, `holds ${arrays[dynamic].length} elements, not ${count} items of ${JSON.stringify(inputs[dynamic].itemDims)} for any length; give items.length`);
      }
    }
    inputs.forEach((input, k) => {
      const want = count * itemElemsAt(input, length);
      if (arrays[k].length !== want) {
        const shape = input.itemDims.map((d) => (d === -1 ? length : d));
        throw invalidArgument(`items.tensors[${JSON.stringify(input.name)}]`, `must hold ${want} elements (${count} items of ${JSON.stringify(shape)}), got ${arrays[k].length}`);
      }
    });
    let lengths: Int32Array;
    if (items.lengths === undefined) {
      lengths = new Int32Array(dynamic < 0 ? 0 : count).fill(length);
    } else {
      lengths = items.lengths;
      if (!(lengths instanceof Int32Array) || lengths.length !== count) throw invalidArgument('items.lengths', `must be an Int32Array of ${count} entries (one per item)`);
      for (let i = 0; i < count; i++) {
        if (!(lengths[i] >= 1 && lengths[i] <= length)) throw invalidArgument(`items.lengths[${i}]`, `must be from 1 to ${length} (items.length), got ${lengths[i]}`);
      }
    }
    return { count, arrays, length: dynamic < 0 ? 0 : length, lengths };
  }

  /** Tickets, budgets, priorities and detail for n items, one crossing (`send`), and the items' promises. */
  #enqueue(raw: RawEngine, n: number, options: SubmitOptions, send: (tickets: Float64Array, budgets: Float64Array, priorities: Int32Array, detail: Uint8Array, accepted: Uint8Array) => void): Promise<ItemResult>[] {
    // Validated before the scratch arrays are touched, so a refused call changes nothing.
    let own: Float64Array | null = null;
    let budget = Infinity;
    if (options.budgetUs instanceof Float64Array) {
      if (options.budgetUs.length !== n) throw invalidArgument('options.budgetUs', `must have one entry per item (${n})`);
      own = options.budgetUs;
      for (let i = 0; i < n; i++) {
        const problem = budgetProblem(own[i]);
        if (problem) throw invalidArgument(`options.budgetUs[${i}]`, problem);
      }
    } else {
      budget = options.budgetUs ?? Infinity;
      const problem = budgetProblem(budget);
      if (problem) throw invalidArgument('options.budgetUs', problem);
    }
    const priority = options.priority ?? 1;
    // Bounded so that the Int32Array below holds it as given (2^32 + 1 would wrap to 1).
    if (!Number.isInteger(priority) || priority < 1 || priority > kMaxInt32) throw invalidArgument('options.priority', `must be an integer from 1 to ${kMaxInt32}, got ${String(priority)}`);
    const x = this.#scratch.take(n);
    const tickets = x.tickets;
    for (let i = 0; i < n; i++) tickets[i] = this.#nextTicket++;
    const budgets = own ?? x.budgets.fill(budget);
    const priorities = x.priorities.fill(priority);
    const detail = x.detail.fill((options.wantOutput ? kResultDetail.output : 0) | (options.wantCertainties ? kResultDetail.certainties : 0));
    const accepted = x.accepted;
    try {
      send(tickets, budgets, priorities, detail, accepted);
    } catch (err) {
      throw fromNative(err);
    }
    const idle = this.#pending.size === 0;
    const promises: Promise<ItemResult>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      if (accepted[i]) {
        promises[i] = new Promise<ItemResult>((resolve) => this.#pending.set(tickets[i], resolve));
      } else {
        promises[i] = Promise.resolve({ status: 'overloaded', predictedClass: -1, certainty: 0, exitStage: -1, model: this.#config.models[0].name, queuedUs: 0, computeUs: 0 });
      }
    }
    // The loop is held open from the first item in flight until #settle finds none: one
    // crossing per idle-to-busy change, not one per submit.
    if (idle && this.#pending.size > 0) {
      raw.setRef(true);
      this.#waitSpin.onIdleSubmit();
    }
    return promises;
  }

  /** One item. */
  infer(input: Float32Array, options: SubmitOptions = {}): Promise<ItemResult> {
    return this.submit(input, options)[0];
  }

  /** Switches to another gear at once; items already queued keep the gear they entered with. */
  setGear(gear: EngineGear): void {
    const raw = this.#open();
    const filled = fillGear(gear, this.#config);
    try {
      raw.setGear(filled);
    } catch (err) {
      throw fromNative(err);
    }
    this.#gear = gear;
  }

  stats(): EngineStats {
    const raw = this.#raw;
    if (!raw || this.#closed) throw new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
    return { ...raw.stats(), inFlight: this.#pending.size };
  }

  /** Holds batching (tests, and the warm-up's exact batch sizes): items queue but no batch forms until resume(). */
  pause(): void {
    this.#raw?.pause();
  }

  resume(): void {
    this.#raw?.resume();
  }

  /** Stops the engine; items not yet run settle as 'cancelled'. Resolves once all have settled. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waitSpin.stop();
    const raw = this.#raw;
    this.#raw = null;
    if (!raw) return;
    const drained = this.#pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#onDrained = resolve));
    raw.close();
    await drained;
  }

  #onDrained: (() => void) | null = null;

  #settle(count: number, rows: Float64Array, outputOffset: Int32Array | undefined, outputs: Float32Array | undefined, certainties: Float64Array | undefined, errors: Record<number, string> | undefined) {
    const names = this.#config.models;
    const F = kResultRowFields;
    for (let i = 0, at = 0; i < count; i++, at += F.width) {
      const ticket = rows[at + F.ticket];
      const settle = this.#pending.get(ticket);
      if (!settle) continue; // cannot happen: the engine completes each ticket once
      this.#pending.delete(ticket);
      const m = rows[at + F.model];
      const r: ItemResult = {
        status: kStatusNames[rows[at + F.status]] ?? 'error',
        predictedClass: rows[at + F.predictedClass],
        certainty: rows[at + F.certainty],
        exitStage: rows[at + F.exitStage],
        model: m >= 0 ? names[m].name : names[0].name,
        queuedUs: rows[at + F.queuedUs],
        computeUs: rows[at + F.computeUs],
      };
      if (outputOffset !== undefined && outputs !== undefined) {
        const a = outputOffset[i];
        const b = outputOffset[i + 1];
        if (b > a) r.output = outputs.subarray(a, b);
      }
      if (certainties !== undefined && !Number.isNaN(certainties[i * kMeasureNames.length])) {
        const c = i * kMeasureNames.length;
        r.certainties = { max_prob: 0, margin: 0, entropy: 0 };
        for (const mu of kMeasureNames) r.certainties[mu] = certainties[c + kMeasureCodes[mu]];
      }
      const message = errors?.[i];
      if (message !== undefined) r.error = withoutSourceLocations(message);
      settle(r);
    }
    this.#waitSpin.onSettled(this.#pending.size);
    if (this.#pending.size === 0) {
      this.#raw?.setRef(false);
      if (this.#onDrained) {
        this.#onDrained();
        this.#onDrained = null;
      }
    }
  }
}
