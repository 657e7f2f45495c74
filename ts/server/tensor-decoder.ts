// Typed, named inputs of a manifest-v2 model (token ids and masks, any of FP32, FP16, INT64,
// INT32, UINT8 and BOOL) -> what engine.submitTensors takes: one typed array per input holding
// the request's items, each padded by the client to the request's length on the dynamic axis,
// plus each item's own length (from the mask input when the manifest names one). Every error
// is a 400 whose message starts with the field path and names the input.
//
// The single-FP32-image models do not come here: codec.ts keeps its own fast path for them.
import { badRequest, tooLarge } from './errors.js';
import { clip, describe } from './text.js';

export type TensorDatatype = 'FP32' | 'FP16' | 'INT64' | 'INT32' | 'UINT8' | 'BOOL';
export const kTensorDatatypes: readonly TensorDatatype[] = ['FP32', 'FP16', 'INT64', 'INT32', 'UINT8', 'BOOL'];

/** One item's elements of an input, as submitTensors takes them (FP16 as its 16-bit patterns, BOOL as 0/1 bytes). */
export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface TensorInputSpec {
  name: string;
  datatype: TensorDatatype;
  /** One item without the batch axis; -1 marks the dynamic axis. */
  itemShape: number[];
  padValue: number;
  /** Integer inputs: the values (inclusive) every model accepts, e.g. token ids within the vocabulary (manifest inputs[i].range). */
  range?: { min: number; max: number };
  /**
   * An input the served model does not read (a member model served alone that takes a subset
   * of the cascade's inputs): a request may leave it out, and then it is filled with its pad
   * value; one that is given is checked like any other.
   */
  optional?: boolean;
}

/** What a typed-tensor model accepts, from its manifest. */
export interface TensorContract {
  inputs: TensorInputSpec[];
  /** Index of the dynamic axis in every item shape that has one; null: fixed shapes. */
  dynamicAxis: number | null;
  /** The input whose leading ones give each item's length (manifest maskInput), or null. */
  maskInput: string | null;
  /** The longest length on the dynamic axis the served models all run (manifest models[].maxLength); absent: no limit. */
  maxLength?: number;
}

/** The argument of engine.submitTensors (ENGINE API, COORD.md). */
export interface TensorSubmission {
  count: number;
  /** Input name -> `count` items, each padded to `length` on the dynamic axis. */
  tensors: Record<string, TensorData>;
  /** The request's length on the dynamic axis; absent without one. */
  length?: number;
  /** Each item's own length (<= length); absent without a dynamic axis. */
  lengths?: Int32Array;
}

/** An input tensor of the request, after the structural checks of codec.ts. */
export interface RequestTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, string | number | boolean>;
  data?: unknown;
}

const kBytesPerElement: Record<TensorDatatype, number> = { FP32: 4, FP16: 2, INT64: 8, INT32: 4, UINT8: 1, BOOL: 1 };
const kMaxFloat32 = 3.4028234663852886e38;
/** Largest finite float16; a value that would round beyond it is refused. */
const kMaxFloat16 = 65504;

const isTensorDatatype = (d: string): d is TensorDatatype => (kTensorDatatypes as readonly string[]).includes(d);

/**
 * Decodes the request's inputs (any order, each named exactly once) into a TensorSubmission.
 * `tail`: the binary extension's bytes after the JSON header, consumed by the inputs with
 * parameters.binary_data_size in the order the request lists them.
 */
export function decodeTensorInputs(inputs: RequestTensor[], tail: Buffer | undefined, contract: TensorContract, maxItems: number): TensorSubmission {
  const specs = new Map(contract.inputs.map((s) => [s.name, s]));
  const names = contract.inputs.map((s) => s.name).join(', ');
  const seen = new Map<string, number>();
  inputs.forEach((input, i) => {
    if (!specs.has(input.name)) throw badRequest(`inputs[${i}].name: unknown input '${clip(input.name, 64)}'; this model takes ${names}`);
    const before = seen.get(input.name);
    if (before !== undefined) throw badRequest(`inputs[${i}].name: input '${input.name}' is given twice (also inputs[${before}])`);
    seen.set(input.name, i);
  });
  for (const s of contract.inputs) {
    if (!seen.has(s.name) && !s.optional) throw badRequest(`inputs: missing input '${s.name}'; this model takes ${contract.inputs.filter((x) => !x.optional).map((x) => x.name).join(', ')}`);
  }

  // Shapes and datatypes first, all of them, so that the items and the length agree before
  // any data is read.
  let count = -1;
  let length = -1;
  let countFrom = '';
  let lengthFrom = '';
  inputs.forEach((input, i) => {
    const spec = specs.get(input.name)!;
    const at = `inputs[${i}]`;
    if (input.datatype !== spec.datatype) throw badRequest(`${at}.datatype: input '${spec.name}' is ${spec.datatype}, got '${clip(input.datatype, 32)}'`);
    const expected = `[N,${spec.itemShape.map((d) => (d < 0 ? 'L' : String(d))).join(',')}]`;
    const shape = input.shape;
    const fixedOk = shape.length === spec.itemShape.length + 1 && spec.itemShape.every((d, k) => d < 0 || shape[k + 1] === d);
    if (!fixedOk || shape[0] < 1) {
      throw badRequest(`${at}.shape: input '${spec.name}' expects ${expected} with N >= 1${expected.includes('L') ? ' and L >= 1' : ''}, got [${clip(shape.join(','), 80)}]`);
    }
    if (count < 0) {
      count = shape[0];
      countFrom = spec.name;
    } else if (shape[0] !== count) {
      throw badRequest(`${at}.shape[0]: input '${spec.name}' has ${shape[0]} items but input '${countFrom}' has ${count}`);
    }
    const axis = spec.itemShape.indexOf(-1);
    if (axis >= 0) {
      const l = shape[axis + 1];
      if (l < 1) throw badRequest(`${at}.shape[${axis + 1}]: input '${spec.name}' needs a length >= 1 on its dynamic axis, got ${l}`);
      // Longer items fail in ONNX Runtime (a position table they overrun): refused here, not run.
      if (contract.maxLength !== undefined && l > contract.maxLength) {
        throw badRequest(`${at}.shape[${axis + 1}]: input '${spec.name}' has length ${l}, longer than the ${contract.maxLength} positions this model runs (cascade.json models[].maxLength)`);
      }
      if (length < 0) {
        length = l;
        lengthFrom = spec.name;
      } else if (l !== length) {
        throw badRequest(`${at}.shape[${axis + 1}]: input '${spec.name}' has length ${l} but input '${lengthFrom}' has length ${length}; every input of a request has the same length`);
      }
    }
  });
  if (count > maxItems) throw tooLarge(`inputs[0].shape: ${count} items in one request, the server accepts at most ${maxItems}`);

  const tensors: Record<string, TensorData> = {};
  let tailAt = 0;
  let binaryInputs = 0;
  inputs.forEach((input, i) => {
    const spec = specs.get(input.name)!;
    const at = `inputs[${i}]`;
    const elems = input.shape.reduce((a, b) => a * b, 1);
    // Allocated only once the request is known to carry that many values (checked below): a
    // shape alone, say [1, 2^31], must not make the server reserve gigabytes.
    let out: TensorData;
    const binarySize = input.parameters?.binary_data_size;
    if (binarySize !== undefined) {
      if (input.data !== undefined) throw badRequest(`${at}: input '${spec.name}' has both data and parameters.binary_data_size`);
      if (!tail) throw badRequest(`${at}.parameters.binary_data_size: binary data needs the Inference-Header-Content-Length header`);
      const bytes = elems * kBytesPerElement[spec.datatype];
      if (binarySize !== bytes) {
        throw badRequest(`${at}.parameters.binary_data_size: input '${spec.name}' needs ${bytes} bytes for shape [${input.shape.join(',')}] ${spec.datatype}, got ${clip(String(binarySize), 32)}`);
      }
      if (tailAt + bytes > tail.length) {
        throw badRequest(`${at}.parameters.binary_data_size: input '${spec.name}' needs ${bytes} bytes from offset ${tailAt} but only ${tail.length - tailAt} follow`);
      }
      out = allocate(spec.datatype, elems);
      fillFromBytes(tail.subarray(tailAt, tailAt + bytes), spec, out, at);
      if (spec.range) checkRange(out, spec, spec.range, at);
      tailAt += bytes;
      binaryInputs++;
    } else {
      if (input.data === undefined) throw badRequest(`${at}.data: input '${spec.name}' has no data (or give parameters.binary_data_size with binary data)`);
      const values = countJsonValues(input.data, spec, `${at}.data`, input.shape.length);
      if (values !== elems) throw badRequest(`${at}.data: input '${spec.name}' needs ${elems} values for its shape, got ${values}`);
      out = allocate(spec.datatype, elems);
      fillFromJson(input.data as unknown[], spec, out, `${at}.data`);
      if (spec.range) checkRange(out, spec, spec.range, `${at}.data`);
    }
    tensors[spec.name] = out;
  });
  // Inputs this model does not read, left out: its pad value at the request's length (1 when
  // no given input has the dynamic axis).
  if (seen.size < contract.inputs.length) {
    if (length < 0 && contract.dynamicAxis !== null) length = 1;
    for (const spec of contract.inputs) {
      if (seen.has(spec.name)) continue;
      const elems = count * spec.itemShape.reduce((a, d) => a * (d < 0 ? length : d), 1);
      const out = allocate(spec.datatype, elems);
      if (spec.padValue !== 0) fillWith(out, spec.padValue);
      tensors[spec.name] = out;
    }
  }
  const tailLength = tail?.length ?? 0;
  if (tailAt !== tailLength) {
    throw badRequest(
      binaryInputs === 0
        ? `inputs: ${tailLength} bytes follow the JSON header but no input has parameters.binary_data_size`
        : `inputs: the inputs' binary_data_size add up to ${tailAt} bytes but ${tailLength} follow the JSON header`,
    );
  }

  const submission: TensorSubmission = { count, tensors };
  if (length > 0) {
    submission.length = length;
    submission.lengths = itemLengths(inputs, tensors, contract, count, length);
  }
  return submission;
}

/** Each item's length: its leading nonzero mask values when the manifest names a mask input, else the request's length. */
function itemLengths(inputs: RequestTensor[], tensors: Record<string, TensorData>, contract: TensorContract, count: number, length: number): Int32Array {
  const lengths = new Int32Array(count).fill(length);
  const mask = contract.maskInput;
  const spec = mask === null ? undefined : contract.inputs.find((s) => s.name === mask);
  // A mask the request leaves out (an input this model does not read): the request's length.
  if (!spec || contract.dynamicAxis === null || !inputs.some((t) => t.name === spec.name)) return lengths;
  const data = tensors[spec.name];
  const itemElems = data.length / count;
  // Elements between two positions of the dynamic axis (the axes after it).
  const stride = spec.itemShape.slice(contract.dynamicAxis + 1).reduce((a, b) => a * b, 1);
  const index = inputs.findIndex((t) => t.name === spec.name);
  for (let item = 0; item < count; item++) {
    const base = item * itemElems;
    let n = 0;
    while (n < length && Number(data[base + n * stride]) !== 0) {
      // Any other value would reach the models as it is and change their answers.
      const v = Number(data[base + n * stride]);
      if (v !== 1) throw badRequest(`inputs[${index}].data: item ${item} of mask input '${spec.name}' is ${v} at position ${n}: a mask holds 1 (a position of the item) or 0 (padding)`);
      n++;
    }
    if (n === 0) throw badRequest(`inputs[${index}].data: item ${item} of mask input '${spec.name}' starts with 0: every item needs at least one position (leading ones give its length)`);
    // A one after the padding would be dropped silently (the item is cut at its first 0).
    for (let p = n + 1; p < length; p++) {
      if (Number(data[base + p * stride]) !== 0) {
        throw badRequest(`inputs[${index}].data: item ${item} of mask input '${spec.name}' is nonzero at position ${p} after a 0 at position ${n}: a mask is ones followed by zeros (padding at the end)`);
      }
    }
    lengths[item] = n;
  }
  return lengths;
}

/** Every element set to `value` (a pad value: within the datatype, as the manifest checks). */
function fillWith(out: TensorData, value: number): void {
  if (out instanceof BigInt64Array) out.fill(BigInt(value));
  else if (out instanceof Uint16Array) out.fill(float16Bits(value)); // FP16 bits
  else out.fill(value);
}

function allocate(datatype: TensorDatatype, elems: number): TensorData {
  switch (datatype) {
    case 'FP32':
      return new Float32Array(elems);
    case 'FP16':
      return new Uint16Array(elems);
    case 'INT64':
      return new BigInt64Array(elems);
    case 'INT32':
      return new Int32Array(elems);
    case 'UINT8':
    case 'BOOL':
      return new Uint8Array(elems);
  }
}

/** Little-endian bytes into `out` (copied: the tail's offset is rarely aligned), refusing values the datatype cannot hold. */
function fillFromBytes(bytes: Buffer, spec: TensorInputSpec, out: TensorData, at: string): void {
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  const name = spec.name;
  switch (spec.datatype) {
    case 'FP32': {
      const f = out as Float32Array;
      for (let i = 0; i < f.length; i++) {
        const v = f[i];
        if (v - v !== 0) throw badRequest(`${at}: element ${i} of input '${name}' is ${String(v)}; FP32 inputs must be finite`);
      }
      return;
    }
    case 'FP16': {
      const h = out as Uint16Array;
      for (let i = 0; i < h.length; i++) {
        if ((h[i] & 0x7c00) === 0x7c00) throw badRequest(`${at}: element ${i} of input '${name}' is ${h[i] & 0x3ff ? 'NaN' : 'an infinity'}; FP16 inputs must be finite`);
      }
      return;
    }
    case 'BOOL': {
      const b = out as Uint8Array;
      for (let i = 0; i < b.length; i++) {
        if (b[i] > 1) throw badRequest(`${at}: element ${i} of input '${name}' is the byte ${b[i]}; a BOOL is 0 or 1`);
      }
      return;
    }
    default:
      return; // every bit pattern is a value of INT64, INT32 and UINT8
  }
}

/**
 * Refuses a value outside the input's range, here rather than in the engine: a token id past
 * the vocabulary makes ONNX Runtime fail the whole batch, other clients' items included.
 */
function checkRange(data: TensorData, spec: TensorInputSpec, range: { min: number; max: number }, at: string): void {
  const bad = (k: number): never => {
    throw badRequest(`${at}: element ${k} of input '${spec.name}' is ${String(data[k])}, outside the range the models accept: [${range.min}, ${range.max}]`);
  };
  if (data instanceof BigInt64Array) {
    const lo = BigInt(range.min);
    const hi = BigInt(range.max);
    for (let k = 0; k < data.length; k++) if (data[k] < lo || data[k] > hi) bad(k);
    return;
  }
  const { min, max } = range;
  for (let k = 0; k < data.length; k++) if (data[k] < min || data[k] > max) bad(k);
}

/** The values of JSON `data` (flat or nested as the shape), refusing what is not an array or nests deeper than the shape. */
function countJsonValues(data: unknown, spec: TensorInputSpec, at: string, maxDepth: number): number {
  if (!Array.isArray(data)) throw badRequest(`${at}: input '${spec.name}' expects an array, got ${data === null ? 'null' : typeof data}`);
  let n = 0;
  const walk = (a: unknown[], depth: number): void => {
    // Nesting deeper than the shape has dimensions is refused before it can exhaust the stack.
    if (depth > maxDepth) throw badRequest(`${at}: input '${spec.name}' is nested deeper than the shape's ${maxDepth} dimensions`);
    for (const v of a) {
      if (Array.isArray(v)) walk(v, depth + 1);
      else n++;
    }
  };
  walk(data, 1);
  return n;
}

/** JSON `data`, already counted (countJsonValues), into `out`, each value checked against the datatype. */
function fillFromJson(data: unknown[], spec: TensorInputSpec, out: TensorData, at: string): void {
  const put = elementWriter(spec, out, at);
  let k = 0;
  const walk = (a: unknown[]): void => {
    for (const v of a) {
      if (Array.isArray(v)) walk(v);
      else put(v, k++);
    }
  };
  walk(data);
}

type Put = (v: unknown, k: number) => void;

function elementWriter(spec: TensorInputSpec, out: TensorData, at: string): Put {
  const name = spec.name;
  const refuse = (v: unknown, k: number, what: string): never => {
    throw badRequest(`${at}: element ${k} of input '${name}' is ${describe(v)}, expected ${what}`);
  };
  const integer = (lo: number, hi: number, what: string, target: Int32Array | Uint8Array): Put => (v, k) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) refuse(v, k, what);
    target[k] = v as number;
  };
  switch (spec.datatype) {
    case 'FP32': {
      const f = out as Float32Array;
      return (v, k) => {
        if (typeof v !== 'number' || !(v >= -kMaxFloat32 && v <= kMaxFloat32)) refuse(v, k, 'a finite number in the FP32 range');
        f[k] = v as number;
      };
    }
    case 'FP16': {
      const h = out as Uint16Array;
      return (v, k) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) refuse(v, k, 'a finite number');
        const bits = float16Bits(v as number);
        if ((bits & 0x7c00) === 0x7c00) refuse(v, k, `a number within the FP16 range (+-${kMaxFloat16})`);
        h[k] = bits;
      };
    }
    case 'INT64': {
      const b = out as BigInt64Array;
      return (v, k) => {
        // JSON numbers: exact only up to 2^53, beyond which a token id would silently change.
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
          // An integer beyond it arrives already rounded: say so rather than quote a number
          // the client never sent as if it had.
          if (typeof v === 'number' && Number.isInteger(v)) {
            throw badRequest(`${at}: element ${k} of input '${name}' lies beyond +-(2^53 - 1), where a JSON number loses precision (it reads as ${BigInt(v)}); send such INT64 values in the binary extension`);
          }
          refuse(v, k, 'an integer (a JSON number within +-(2^53 - 1))');
        }
        b[k] = BigInt(v as number);
      };
    }
    case 'INT32':
      return integer(-(2 ** 31), 2 ** 31 - 1, 'an integer in the INT32 range', out as Int32Array);
    case 'UINT8':
      return integer(0, 255, 'an integer in [0, 255]', out as Uint8Array);
    case 'BOOL': {
      const u = out as Uint8Array;
      return (v, k) => {
        if (v === true || v === 1) u[k] = 1;
        else if (v === false || v === 0) u[k] = 0;
        else refuse(v, k, 'true or false (or 1 or 0)');
      };
    }
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half-precision bit pattern nearest to `value` (ties to even); overflow gives an infinity's pattern. */
export function float16Bits(value: number): number {
  f32[0] = value; // rounds to float32 first, as ONNX Runtime's own converters take float input
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa rounds into the exponent, up to the infinity's pattern.
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}
