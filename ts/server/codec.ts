// Open Inference Protocol tensors <-> the engine's items, in both encodings: JSON (nested or
// flat `data`) and Triton's binary tensor extension (the JSON header's length in
// Inference-Header-Content-Length, raw little-endian bytes after it). A model with one fixed
// FP32 input (the zoo's images) is decoded here into one Float32Array for engine.submit (the
// fast path); a model with named typed inputs and a dynamic axis goes through
// tensor-decoder.ts into what engine.submitTensors takes. Validation is strict and every
// message names the field as the client wrote it.
import { kMaxBudgetUs } from '../engine/config.js';
import type { ItemResult } from '../engine/engine.js';
import { badRequest, tooLarge } from './errors.js';
import { decodeTensorInputs, type TensorContract, type TensorSubmission } from './tensor-decoder.js';
import { clip, describe } from './text.js';

export { clip };

export type ParameterValue = string | number | boolean;
export type Parameters = Record<string, ParameterValue>;

export interface InferInputTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Parameters;
  data?: unknown;
}

export interface InferRequestBody {
  id?: string;
  parameters?: Parameters;
  inputs: InferInputTensor[];
  outputs?: { name: string; parameters?: Parameters }[];
}

/** What a served model accepts, from the manifest. */
export interface InputContract {
  inputName: string;
  /** One item without the batch axis, e.g. [1, 28, 28]. */
  itemShape: number[];
  itemElems: number;
  /** Multiplier for UINT8 data: 1/255 when the manifest's preprocessing is pixel/255. */
  uint8Scale: number;
  maxImagesPerRequest: number;
  /**
   * Present for a model of named typed inputs (manifest v2: several inputs, other datatypes,
   * a dynamic axis): requests are decoded for engine.submitTensors, and the fields above
   * describe its first input only.
   */
  tensors?: TensorContract;
}

/** The outputs a response can carry; the first is the default. */
export const kOutputNames = ['probabilities', 'class', 'certainty', 'exit_stage', 'model'] as const;
export type OutputName = (typeof kOutputNames)[number];
export const kOutputDatatype: Record<OutputName, 'FP32' | 'INT64' | 'INT32' | 'BYTES'> = { probabilities: 'FP32', class: 'INT64', certainty: 'FP32', exit_stage: 'INT32', model: 'BYTES' };

export interface DecodedRequest {
  id?: string;
  items: number;
  /** The fast path's items (one fixed FP32 input); empty when `tensors` carries them. */
  inputs: Float32Array;
  /** The items of a typed-tensor model, for engine.submitTensors; null on the fast path. */
  tensors: TensorSubmission | null;
  /** Microseconds; undefined = the server's default (the SLO). */
  timeoutUs?: number;
  /** 1 is the highest. */
  priority: number;
  outputs: { name: OutputName; binary: boolean }[];
}

const kBytesPerElement = new Map<string, number>([
  ['FP32', 4],
  ['UINT8', 1],
]);

/** Priorities above this (1 is the highest) are served at this level. */
export const kLowestPriority = 16;

/** Largest finite float32; a JSON number beyond it would become an infinity in the tensor. */
const kMaxFloat32 = 3.4028234663852886e38;

/**
 * Decodes a request body (after JSON parsing). The route validates the body against
 * kInferRequestSchema first, but the decoder does not rely on it: any value gives either a
 * DecodedRequest or an HttpError (4xx) naming the field, never another exception.
 */
export function decodeInferRequest(body: InferRequestBody, binaryTail: Buffer | undefined, contract: InputContract): DecodedRequest {
  checkStructure(body);
  let decoded: DecodedRequest;
  if (contract.tensors) {
    const tensors = decodeTensorInputs(body.inputs, binaryTail, contract.tensors, contract.maxImagesPerRequest);
    decoded = { items: tensors.count, inputs: kNoImages, tensors, priority: 1, outputs: [] };
  } else {
    const { items, inputs } = decodeImageInput(body, binaryTail, contract);
    decoded = { items, inputs, tensors: null, priority: 1, outputs: [] };
  }
  decodeRequestOptions(body, decoded);
  return decoded;
}

const kNoImages = new Float32Array(0);

/** The fast path: one FP32 (or UINT8) input of a fixed shape, into one Float32Array. */
function decodeImageInput(body: InferRequestBody, binaryTail: Buffer | undefined, contract: InputContract): { items: number; inputs: Float32Array } {
  if (body.inputs.length !== 1) {
    throw badRequest(`inputs: expected exactly one input ('${contract.inputName}'), got ${body.inputs.length}`);
  }
  const input = body.inputs[0];
  const at = 'inputs[0]';
  if (input.name !== contract.inputName) throw badRequest(`${at}.name: expected '${contract.inputName}', got '${clip(input.name, 64)}'`);
  const items = checkShape(input.shape, contract, `${at}.shape`);
  if (items > contract.maxImagesPerRequest) {
    throw tooLarge(`${at}.shape: ${items} items in one request, the server accepts at most ${contract.maxImagesPerRequest}`);
  }
  const bytesPer = kBytesPerElement.get(input.datatype);
  if (bytesPer === undefined) throw badRequest(`${at}.datatype: expected FP32 or UINT8, got '${clip(input.datatype, 32)}'`);
  const count = items * contract.itemElems;
  const inputs = new Float32Array(count);
  const binarySize = input.parameters?.binary_data_size;
  if (binarySize !== undefined) {
    if (input.data !== undefined) throw badRequest(`${at}: has both data and parameters.binary_data_size`);
    if (!binaryTail) throw badRequest(`${at}.parameters.binary_data_size: binary data needs the Inference-Header-Content-Length header`);
    if (binarySize !== count * bytesPer) {
      throw badRequest(`${at}.parameters.binary_data_size: expected ${count * bytesPer} bytes for shape [${input.shape.join(',')}] ${input.datatype}, got ${clip(String(binarySize), 32)}`);
    }
    if (binaryTail.length !== binarySize) {
      throw badRequest(`${at}: binary_data_size is ${binarySize} but ${binaryTail.length} bytes follow the JSON header`);
    }
    fillFromBytes(binaryTail, input.datatype, inputs, contract.uint8Scale, at, contract.itemElems);
  } else {
    if (binaryTail && binaryTail.length > 0) throw badRequest(`${at}: ${binaryTail.length} bytes follow the JSON header but no input has parameters.binary_data_size`);
    if (input.data === undefined) throw badRequest(`${at}.data: missing (or give parameters.binary_data_size with binary data)`);
    fillFromJson(input.data, input.datatype, inputs, contract.uint8Scale, `${at}.data`, input.shape.length);
  }
  return { items, inputs };
}

/** The request's id, parameters (timeout, priority, binary_data_output) and outputs, into `decoded`. */
function decodeRequestOptions(body: InferRequestBody, decoded: DecodedRequest): void {
  const params = body.parameters ?? {};
  if (body.id !== undefined) decoded.id = body.id;
  if (params.timeout !== undefined) {
    // Bounded here, before admission and the engine: the engine's budget limit (24 hours).
    if (typeof params.timeout !== 'number' || !(params.timeout > 0 && params.timeout <= kMaxBudgetUs)) {
      throw badRequest(`parameters.timeout: expected a positive number of microseconds, at most ${kMaxBudgetUs} (24 hours), got ${describe(params.timeout)}`);
    }
    decoded.timeoutUs = params.timeout;
  }
  if (params.priority !== undefined) {
    // Triton: 1 is the highest; 0 means the default (here 1).
    if (typeof params.priority !== 'number' || !Number.isInteger(params.priority) || params.priority < 0) {
      throw badRequest(`parameters.priority: expected an integer >= 0 (1 is the highest), got ${describe(params.priority)}`);
    }
    // The engine keeps a queue per priority level it has seen: levels beyond kLowestPriority
    // share the lowest one, so no client can make it grow without bound.
    decoded.priority = Math.min(kLowestPriority, Math.max(1, params.priority));
  }
  const binaryDefault = params.binary_data_output === true;
  if (body.outputs && body.outputs.length > 0) {
    const seen = new Set<string>();
    body.outputs.forEach((o, i) => {
      if (!(kOutputNames as readonly string[]).includes(o.name)) {
        throw badRequest(`outputs[${i}].name: unknown output '${clip(o.name, 64)}'; this model has ${kOutputNames.join(', ')}`);
      }
      if (seen.has(o.name)) throw badRequest(`outputs[${i}].name: '${clip(o.name, 64)}' is requested twice`);
      seen.add(o.name);
      const b = o.parameters?.binary_data;
      decoded.outputs.push({ name: o.name as OutputName, binary: b === undefined ? binaryDefault : b === true });
    });
  } else {
    decoded.outputs.push({ name: 'probabilities', binary: binaryDefault });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isParameterValue = (v: unknown) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function checkParameters(p: unknown, at: string): void {
  if (p === undefined) return;
  if (!isObject(p)) throw badRequest(`${at}: expected an object of string, number or boolean values`);
  for (const [k, v] of Object.entries(p)) {
    if (!isParameterValue(v)) throw badRequest(`${at}.${k}: expected a string, number or boolean`);
  }
}

/** The shape of the protocol's request, checked without trusting any earlier validation. */
function checkStructure(body: unknown): asserts body is InferRequestBody {
  if (!isObject(body)) throw badRequest('request body: expected a JSON object');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw badRequest('inputs: expected a non-empty array');
  if (body.id !== undefined && typeof body.id !== 'string') throw badRequest('id: expected a string');
  checkParameters(body.parameters, 'parameters');
  body.inputs.forEach((input: unknown, i) => {
    const at = `inputs[${i}]`;
    if (!isObject(input)) throw badRequest(`${at}: expected an object`);
    if (typeof input.name !== 'string') throw badRequest(`${at}.name: expected a string`);
    if (typeof input.datatype !== 'string') throw badRequest(`${at}.datatype: expected a string`);
    if (!Array.isArray(input.shape) || !input.shape.every((d) => typeof d === 'number' && Number.isInteger(d))) {
      throw badRequest(`${at}.shape: expected an array of integers`);
    }
    const negative = input.shape.findIndex((d: number) => d < 0);
    if (negative >= 0) throw badRequest(`${at}.shape[${negative}]: dimensions must be >= 0, got ${input.shape[negative]}`);
    checkParameters(input.parameters, `${at}.parameters`);
  });
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw badRequest('outputs: expected an array');
    body.outputs.forEach((o: unknown, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${i}].name: expected a string`);
      checkParameters(o.parameters, `outputs[${i}].parameters`);
    });
  }
}

/** Checks [N, ...itemShape] or [N, itemElems]; returns N. */
function checkShape(shape: number[], c: InputContract, at: string): number {
  const n = shape[0];
  const rest = shape.slice(1);
  const asItem = rest.length === c.itemShape.length && rest.every((d, i) => d === c.itemShape[i]);
  const asFlat = rest.length === 1 && rest[0] === c.itemElems;
  if (shape.length < 2 || !(asItem || asFlat) || !Number.isInteger(n) || n < 1) {
    const forms = c.itemShape.length === 1 ? `[N,${c.itemElems}]` : `[N,${c.itemShape.join(',')}] or [N,${c.itemElems}]`;
    throw badRequest(`${at}: expected ${forms} with N >= 1, got [${clip(shape.join(','), 80)}]`);
  }
  return n;
}

function fillFromBytes(bytes: Buffer, datatype: string, out: Float32Array, uint8Scale: number, at: string, itemElems: number): void {
  if (datatype === 'UINT8') {
    for (let i = 0; i < out.length; i++) out[i] = bytes[i] * uint8Scale;
  } else {
    // The tail's offset inside the request buffer is rarely 4-byte aligned: copy the bytes
    // into the output's own (aligned) memory instead of viewing them.
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
    // Raw FP32 bytes can carry NaN and infinities, which JSON cannot: a classifier given them
    // answers garbage with full confidence, so they are refused, naming the first one.
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      if (v - v !== 0) {
        throw badRequest(`${at}: element ${i} (image ${Math.floor(i / itemElems)}) is ${String(v)}; FP32 inputs must be finite`);
      }
    }
  }
}

function fillFromJson(data: unknown, datatype: string, out: Float32Array, uint8Scale: number, at: string, maxDepth: number): void {
  if (!Array.isArray(data)) throw badRequest(`${at}: expected an array, got ${data === null ? 'null' : typeof data}`);
  const isUint8 = datatype === 'UINT8';
  let k = 0;
  const put = (v: unknown): void => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${at}: element ${k} is ${describe(v)}, expected a number`);
    if (isUint8) {
      if (!Number.isInteger(v) || v < 0 || v > 255) throw badRequest(`${at}: element ${k} is ${v}, expected an integer in [0, 255] for UINT8`);
      v *= uint8Scale;
    } else if (v > kMaxFloat32 || v < -kMaxFloat32) {
      throw badRequest(`${at}: element ${k} is ${v}, outside the FP32 range`);
    }
    if (k >= out.length) throw badRequest(`${at}: more than the ${out.length} values the shape holds`);
    out[k++] = v as number;
  };
  // Nesting deeper than the shape has dimensions is refused before it can exhaust the stack.
  const walk = (a: unknown[], depth: number): void => {
    if (depth > maxDepth) throw badRequest(`${at}: nested deeper than the shape's ${maxDepth} dimensions`);
    for (const v of a) {
      if (Array.isArray(v)) walk(v, depth + 1);
      else put(v);
    }
  };
  // Flat data (the common case) without the recursion.
  if (data.length === out.length && !Array.isArray(data[0])) for (const v of data) put(v);
  else walk(data, 1);
  if (k !== out.length) throw badRequest(`${at}: expected ${out.length} values for the shape, got ${k}`);
}

/** What the server knows about the answer besides the items' results. */
export interface ResponseContext {
  modelName: string;
  id?: string;
  /** The gear the items entered with. */
  gearId: number;
  classes: number;
  /** Answering model name -> whether its output rows are logits (softmax applied here). */
  outputIsLogits: (model: string) => boolean;
}

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters: Parameters;
  /** Numbers, or strings for a BYTES tensor. */
  data?: number[] | string[];
}

export interface InferResponseBody {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: OutputTensor[];
}

export type EncodedResponse = { kind: 'json'; body: InferResponseBody } | { kind: 'binary'; body: Buffer; headerLength: number };

/** Builds the response; every result must be 'ok' (the caller maps other statuses to errors). */
export function encodeInferResponse(results: ItemResult[], outputs: DecodedRequest['outputs'], ctx: ResponseContext): EncodedResponse {
  const n = results.length;
  const parameters = resultParameters(results, ctx.gearId);
  const tensors: OutputTensor[] = [];
  const blobs: Buffer[] = [];
  for (const o of outputs) {
    const shape = o.name === 'probabilities' ? [n, ctx.classes] : [n];
    const tensor: OutputTensor = { name: o.name, datatype: kOutputDatatype[o.name], shape, parameters: { ...parameters } };
    if (o.name === 'model') {
      if (o.binary) {
        const bytes = encodeBytesTensor(results.map((r) => r.model));
        tensor.parameters.binary_data_size = bytes.length;
        blobs.push(bytes);
      } else {
        tensor.data = results.map((r) => r.model);
      }
      tensors.push(tensor);
      continue;
    }
    const values = outputValues(o.name, results, ctx);
    if (o.binary) {
      const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
      tensor.parameters.binary_data_size = bytes.length;
      blobs.push(bytes);
    } else {
      tensor.data = Array.from(values as ArrayLike<number | bigint>, Number);
    }
    tensors.push(tensor);
  }
  const body: InferResponseBody = { model_name: ctx.modelName, model_version: '1', outputs: tensors };
  if (ctx.id !== undefined) body.id = ctx.id;
  if (blobs.length === 0) return { kind: 'json', body };
  const header = Buffer.from(JSON.stringify(body));
  return { kind: 'binary', body: Buffer.concat([header, ...blobs]), headerLength: header.length };
}

/**
 * A BYTES tensor in Triton's binary layout: each element as its length (4 bytes, little
 * endian) followed by its UTF-8 bytes.
 */
export function encodeBytesTensor(elements: string[]): Buffer {
  const encoded = elements.map((e) => Buffer.from(e, 'utf8'));
  const out = Buffer.allocUnsafe(encoded.reduce((sum, b) => sum + 4 + b.length, 0));
  let at = 0;
  for (const b of encoded) {
    out.writeUInt32LE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/**
 * Output parameters, each with one type whatever the batch: the gear (number); and the exit
 * stage (number), the answering model (string) and its certainty (number) when every image
 * of the request has the same value, i.e. always for one image. Per-image values are in the
 * `exit_stage`, `model` and `certainty` output tensors.
 */
function resultParameters(results: ItemResult[], gearId: number): Parameters {
  const p: Parameters = { gear: gearId };
  const first = results[0];
  if (results.every((r) => r.exitStage === first.exitStage)) p.exit_stage = first.exitStage;
  if (results.every((r) => r.model === first.model)) p.model = first.model;
  if (results.every((r) => r.certainty === first.certainty)) p.certainty = first.certainty;
  return p;
}

function outputValues(name: Exclude<OutputName, 'model'>, results: ItemResult[], ctx: ResponseContext): Float32Array | Int32Array | BigInt64Array {
  const n = results.length;
  switch (name) {
    case 'probabilities': {
      const c = ctx.classes;
      const out = new Float32Array(n * c);
      for (let i = 0; i < n; i++) {
        const r = results[i];
        const row = r.output;
        if (!row || row.length !== c) throw new Error(`engine returned no output row of ${c} values for item ${i}`);
        if (ctx.outputIsLogits(r.model)) softmaxInto(row, out, i * c);
        else out.set(row, i * c);
      }
      return out;
    }
    case 'class':
      return BigInt64Array.from(results, (r) => BigInt(r.predictedClass));
    case 'certainty':
      return Float32Array.from(results, (r) => r.certainty);
    case 'exit_stage':
      return Int32Array.from(results, (r) => r.exitStage);
  }
}

function softmaxInto(logits: Float32Array, out: Float32Array, at: number): void {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) if (logits[j] > max) max = logits[j];
  let sum = 0;
  for (let j = 0; j < logits.length; j++) {
    const e = Math.exp(logits[j] - max);
    out[at + j] = e;
    sum += e;
  }
  for (let j = 0; j < logits.length; j++) out[at + j] /= sum;
}

/**
 * Splits a binary-extension body into its JSON header and the tensor bytes after it.
 * `headerLength` is the Inference-Header-Content-Length value.
 */
export function splitBinaryBody(body: Buffer, headerLengthText: string): { header: unknown; tail: Buffer } {
  const text = headerLengthText.trim();
  const headerLength = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(headerLength) || headerLength < 2 || headerLength > body.length) {
    throw badRequest(`Inference-Header-Content-Length: expected an integer from 2 to the body's ${body.length} bytes, got '${clip(headerLengthText, 24)}'`);
  }
  let header: unknown;
  try {
    header = JSON.parse(jsonText(body.subarray(0, headerLength)));
  } catch (e) {
    throw badRequest(`the JSON header (first ${headerLength} bytes) is not valid JSON: ${clip((e as Error).message, 120)}`);
  }
  return { header, tail: body.subarray(headerLength) };
}

/**
 * The request body as the infer route receives it (raw bytes): with the
 * Inference-Header-Content-Length header a JSON header and the binary tail after it, otherwise
 * one JSON document. Throws HttpError (400) naming what is wrong.
 */
export function parseRequestBody(body: Buffer, headerLength: string | string[] | undefined): { header: unknown; tail: Buffer | null } {
  if (headerLength !== undefined) {
    if (Array.isArray(headerLength)) throw badRequest('Inference-Header-Content-Length: given more than once');
    return splitBinaryBody(body, headerLength);
  }
  if (body.length === 0) throw badRequest('request body is empty');
  try {
    return { header: JSON.parse(jsonText(body)), tail: null };
  } catch (e) {
    // A compressed body sent without its Content-Encoding: say so instead of echoing bytes.
    if (body[0] === 0x1f && body[1] === 0x8b) throw badRequest('request body is gzip data but has no Content-Encoding: gzip header');
    throw badRequest(`request body is not valid JSON: ${clip((e as Error).message, 120)}`);
  }
}

/** UTF-8 JSON text of a body; a leading byte order mark (some editors and clients write one) is skipped. */
function jsonText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Whether a Content-Type header is one the infer route reads: none, JSON (application/json,
 * any +json type) or application/octet-stream (binary tensor bodies), with any parameters.
 */
export function isAcceptedContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const type = contentType.split(';', 1)[0].trim().toLowerCase();
  return type === '' || type === 'application/json' || type === 'application/octet-stream' || (type.startsWith('application/') && type.endsWith('+json'));
}
