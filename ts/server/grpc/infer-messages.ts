// ModelInferRequest / ModelInferResponse (as @grpc/proto-loader gives and takes them: field
// names as in the .proto, int64 as numbers, oneofs named) <-> the REST codec's forms, so that
// both protocols share one decoder and one encoder (codec.ts): a gRPC request becomes the
// JSON body REST would receive (typed contents as `data`, raw_input_contents as the binary
// tail), and the response is the binary-extension encoding split back into tensors.
import type { ItemResult } from '../../engine/engine.js';
import { clip, decodeInferRequest, encodeInferResponse, type DecodedRequest, type InferRequestBody, type ParameterValue, type Parameters, type ResponseContext } from '../codec.js';
import { badRequest, HttpError } from '../errors.js';
import type { InputContract } from '../codec.js';

export interface InferParameterMessage {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
  parameter_choice?: string;
}

export interface TensorContentsMessage {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface ModelInferRequestMessage {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameterMessage>;
  inputs?: { name?: string; datatype?: string; shape?: number[]; parameters?: Record<string, InferParameterMessage>; contents?: TensorContentsMessage }[];
  outputs?: { name?: string; parameters?: Record<string, InferParameterMessage> }[];
  raw_input_contents?: Buffer[];
}

export interface ModelInferResponseMessage {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameterMessage>;
  outputs: { name: string; datatype: string; shape: number[]; parameters: Record<string, InferParameterMessage>; contents?: TensorContentsMessage }[];
  raw_output_contents: Buffer[];
}

/**
 * The contents field that carries each input datatype the server reads (the specification's
 * InferTensorContents; FP16 has none and travels in raw_input_contents only).
 */
const kInputContentsField: Record<string, keyof TensorContentsMessage> = { FP32: 'fp32_contents', INT64: 'int64_contents', INT32: 'int_contents', UINT8: 'uint_contents', BOOL: 'bool_contents' };

function parameterValue(p: InferParameterMessage, at: string): ParameterValue {
  switch (p.parameter_choice) {
    case 'bool_param':
      return p.bool_param === true;
    case 'int64_param':
      return Number(p.int64_param ?? 0);
    case 'uint64_param':
      return Number(p.uint64_param ?? 0);
    case 'double_param':
      return Number(p.double_param ?? 0);
    case 'string_param':
      return p.string_param ?? '';
    default:
      throw badRequest(`${at}: no value set (bool_param, int64_param, string_param, double_param or uint64_param)`);
  }
}

function parameters(map: Record<string, InferParameterMessage> | undefined, at: string): Parameters | undefined {
  if (map === undefined) return undefined;
  const keys = Object.keys(map);
  if (keys.length === 0) return undefined;
  const out: Parameters = {};
  for (const k of keys) out[k] = parameterValue(map[k], `${at}[${JSON.stringify(clip(k, 40))}]`);
  return out;
}

export interface DecodedGrpcRequest {
  decoded: DecodedRequest;
  /** Outputs as raw_output_contents (true) or typed contents (false). */
  rawOutputs: boolean;
}

/**
 * Decodes a ModelInferRequest with REST's decoder. `deadlineUs` is the time left to the call's
 * gRPC deadline (undefined: none): it is the request's timeout, or bounds a shorter
 * `parameters["timeout"]`. Errors name the .proto's fields.
 */
export function decodeGrpcInferRequest(msg: ModelInferRequestMessage, contract: InputContract, deadlineUs: number | undefined): DecodedGrpcRequest {
  const raw = msg.raw_input_contents ?? [];
  const inputs = msg.inputs ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw badRequest(`raw_input_contents: expected one entry per input (${inputs.length}), got ${raw.length}`);
  }
  const body: InferRequestBody = {
    inputs: inputs.map((input, i) => {
      const at = `inputs[${i}]`;
      const tensor: InferRequestBody['inputs'][number] = { name: input.name ?? '', shape: input.shape ?? [], datatype: input.datatype ?? '' };
      const params = parameters(input.parameters, `${at}.parameters`);
      if (params) tensor.parameters = params;
      if (raw.length > 0) {
        if (hasContents(input.contents)) throw badRequest(`${at}.contents: given together with raw_input_contents; send one or the other`);
        tensor.parameters = { ...tensor.parameters, binary_data_size: raw[i].length };
      } else if (hasContents(input.contents)) {
        const field = kInputContentsField[tensor.datatype];
        if (field === undefined && !contract.tensors) throw badRequest(`${at}.datatype: expected FP32 or UINT8, got '${clip(tensor.datatype, 32)}'`);
        if (field === undefined) {
          const why = tensor.datatype === 'FP16' ? 'FP16 has no typed contents field; send it in raw_input_contents' : `typed contents carry ${Object.keys(kInputContentsField).join(', ')}`;
          throw badRequest(`${at}.datatype: input '${clip(tensor.name, 64)}' is '${clip(tensor.datatype, 32)}': ${why}`);
        }
        const data = input.contents![field];
        if (!data || data.length === 0) throw badRequest(`${at}.contents: a ${tensor.datatype} tensor carries its elements in ${field}`);
        tensor.data = data;
      } else {
        throw badRequest(`${at}.contents: missing (or send the tensor in raw_input_contents)`);
      }
      return tensor;
    }),
  };
  if (msg.id) body.id = msg.id;
  const params = parameters(msg.parameters, 'parameters') ?? {};
  if (deadlineUs !== undefined) {
    const asked = params.timeout;
    // An invalid `timeout` stays, for the decoder to refuse by name.
    if (asked === undefined || (typeof asked === 'number' && asked > deadlineUs)) params.timeout = deadlineUs;
  }
  if (Object.keys(params).length > 0) body.parameters = params;
  if (msg.outputs && msg.outputs.length > 0) {
    body.outputs = msg.outputs.map((o, i) => {
      const out: { name: string; parameters?: Parameters } = { name: o.name ?? '' };
      const p = parameters(o.parameters, `outputs[${i}].parameters`);
      if (p) out.parameters = p;
      return out;
    });
  }
  // The raw contents, in the order of the inputs, are the binary tail: the decoder reads each
  // input's bytes (binary_data_size = its entry's length) in that order.
  const tail = raw.length === 1 ? raw[0] : raw.length > 1 ? Buffer.concat(raw) : undefined;
  let decoded: DecodedRequest;
  try {
    decoded = decodeInferRequest(body, tail, contract);
  } catch (e) {
    throw renameFields(e);
  }
  const binaryOutput = body.parameters?.binary_data_output;
  return { decoded, rawOutputs: typeof binaryOutput === 'boolean' ? binaryOutput : raw.length > 0 };
}

const hasContents = (c: TensorContentsMessage | undefined): boolean => c !== undefined && c !== null && Object.values(c).some((v) => Array.isArray(v) && v.length > 0);

/** REST's field names in a decoder message -> the .proto's (data -> contents, ...). */
function renameFields(e: unknown): unknown {
  if (!(e instanceof HttpError)) return e;
  const message = e.message
    .replace(/^inputs\[(\d+)\]\.data\b/, 'inputs[$1].contents')
    .replace(/^inputs\[(\d+)\]\.parameters\.binary_data_size/, 'raw_input_contents[$1]')
    .replace(/^inputs\[(\d+)\]: binary_data_size is (\d+) but (\d+) bytes follow the JSON header/, 'raw_input_contents[$1]: $3 bytes where the shape needs $2');
  if (message === e.message) return e;
  return new HttpError(e.kind, message, { statusCode: e.statusCode, ...(e.retryAfterS !== undefined ? { retryAfterS: e.retryAfterS } : {}) });
}

function parameterMessage(v: ParameterValue): InferParameterMessage {
  if (typeof v === 'boolean') return { bool_param: v };
  if (typeof v === 'string') return { string_param: v };
  return Number.isSafeInteger(v) ? { int64_param: v } : { double_param: v };
}

function parameterMessages(p: Parameters | undefined): Record<string, InferParameterMessage> {
  const out: Record<string, InferParameterMessage> = {};
  if (p) for (const [k, v] of Object.entries(p)) out[k] = parameterMessage(v);
  return out;
}

/**
 * The ModelInferResponse: REST's encoder with every output binary, its JSON header read back
 * for names, shapes and parameters, and each output's bytes either sent as they are
 * (raw_output_contents) or as the typed contents of its datatype.
 */
export function encodeGrpcInferResponse(results: ItemResult[], decoded: DecodedRequest, rawOutputs: boolean, ctx: ResponseContext): ModelInferResponseMessage {
  const encoded = encodeInferResponse(
    results,
    decoded.outputs.map((o) => ({ ...o, binary: true })),
    ctx,
  );
  if (encoded.kind !== 'binary') throw new Error('the encoder gave JSON for binary outputs');
  const header = JSON.parse(encoded.body.subarray(0, encoded.headerLength).toString('utf8')) as {
    model_name: string;
    model_version: string;
    id?: string;
    parameters?: Parameters;
    outputs: { name: string; datatype: string; shape: number[]; parameters: Parameters }[];
  };
  const response: ModelInferResponseMessage = {
    model_name: header.model_name,
    model_version: header.model_version,
    id: header.id ?? '',
    parameters: parameterMessages(header.parameters),
    outputs: [],
    raw_output_contents: [],
  };
  let at = encoded.headerLength;
  for (const o of header.outputs) {
    const { binary_data_size: size, ...rest } = o.parameters;
    const bytes = encoded.body.subarray(at, at + (size as number));
    at += size as number;
    const tensor: ModelInferResponseMessage['outputs'][number] = { name: o.name, datatype: o.datatype, shape: o.shape, parameters: parameterMessages(rest) };
    if (rawOutputs) response.raw_output_contents.push(bytes);
    else tensor.contents = typedContents(o.datatype, bytes);
    response.outputs.push(tensor);
  }
  return response;
}

/** Little-endian tensor bytes as the InferTensorContents field of their datatype. */
function typedContents(datatype: string, bytes: Buffer): TensorContentsMessage {
  // A copy: the slice's offset inside the encoder's buffer need not be aligned for the view.
  const copy = new Uint8Array(bytes).buffer;
  switch (datatype) {
    case 'FP32':
      return { fp32_contents: Array.from(new Float32Array(copy)) };
    case 'INT32':
      return { int_contents: Array.from(new Int32Array(copy)) };
    case 'INT64':
      return { int64_contents: Array.from(new BigInt64Array(copy), Number) };
    case 'BYTES':
      return { bytes_contents: bytesElements(bytes) };
    default:
      throw new Error(`no typed contents for output datatype ${datatype}`);
  }
}

/** The elements of a BYTES tensor in Triton's binary layout (a 4-byte little-endian length, then the bytes). */
function bytesElements(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= bytes.length; ) {
    const n = bytes.readUInt32LE(at);
    out.push(Buffer.from(bytes.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  return out;
}
