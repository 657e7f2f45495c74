// The shipped .proto against the published specification. Stubs generated from the project's
// own .proto only show that the server and the test client agree with each other; this table
// was written separately, from the specification's text (KServe's predict-api v2
// grpc_predict_v2.proto and Triton's grpc_service.proto and model_config.proto), and every
// service method, message, field (number, label, type) and enum value of the .proto as the
// server loads it must match it, and everything in it must be in the .proto.
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { kLoaderOptions, protoPath } from '../ts/server/grpc/service.js';

/** rpc name -> [request message, response message]. */
const kMethods: Record<string, [string, string]> = {
  ServerLive: ['ServerLiveRequest', 'ServerLiveResponse'],
  ServerReady: ['ServerReadyRequest', 'ServerReadyResponse'],
  ModelReady: ['ModelReadyRequest', 'ModelReadyResponse'],
  ServerMetadata: ['ServerMetadataRequest', 'ServerMetadataResponse'],
  ModelMetadata: ['ModelMetadataRequest', 'ModelMetadataResponse'],
  ModelInfer: ['ModelInferRequest', 'ModelInferResponse'],
  ModelConfig: ['ModelConfigRequest', 'ModelConfigResponse'],
  ModelStatistics: ['ModelStatisticsRequest', 'ModelStatisticsResponse'],
  RepositoryIndex: ['RepositoryIndexRequest', 'RepositoryIndexResponse'],
  RepositoryModelLoad: ['RepositoryModelLoadRequest', 'RepositoryModelLoadResponse'],
  RepositoryModelUnload: ['RepositoryModelUnloadRequest', 'RepositoryModelUnloadResponse'],
};

/** message -> field -> "number [repeated] type" (map<K,V> for maps). */
const kMessages: Record<string, Record<string, string>> = {
  ServerLiveRequest: {},
  ServerLiveResponse: { live: '1 bool' },
  ServerReadyRequest: {},
  ServerReadyResponse: { ready: '1 bool' },
  ModelReadyRequest: { name: '1 string', version: '2 string' },
  ModelReadyResponse: { ready: '1 bool' },
  ServerMetadataRequest: {},
  ServerMetadataResponse: { name: '1 string', version: '2 string', extensions: '3 repeated string' },
  ModelMetadataRequest: { name: '1 string', version: '2 string' },
  ModelMetadataResponse: { name: '1 string', versions: '2 repeated string', platform: '3 string', inputs: '4 repeated TensorMetadata', outputs: '5 repeated TensorMetadata' },
  'ModelMetadataResponse.TensorMetadata': { name: '1 string', datatype: '2 string', shape: '3 repeated int64' },
  InferParameter: { bool_param: '1 bool', int64_param: '2 int64', string_param: '3 string', double_param: '4 double', uint64_param: '5 uint64' },
  InferTensorContents: {
    bool_contents: '1 repeated bool',
    int_contents: '2 repeated int32',
    int64_contents: '3 repeated int64',
    uint_contents: '4 repeated uint32',
    uint64_contents: '5 repeated uint64',
    fp32_contents: '6 repeated float',
    fp64_contents: '7 repeated double',
    bytes_contents: '8 repeated bytes',
  },
  ModelInferRequest: {
    model_name: '1 string',
    model_version: '2 string',
    id: '3 string',
    parameters: '4 map<string,InferParameter>',
    inputs: '5 repeated InferInputTensor',
    outputs: '6 repeated InferRequestedOutputTensor',
    raw_input_contents: '7 repeated bytes',
  },
  'ModelInferRequest.InferInputTensor': { name: '1 string', datatype: '2 string', shape: '3 repeated int64', parameters: '4 map<string,InferParameter>', contents: '5 InferTensorContents' },
  'ModelInferRequest.InferRequestedOutputTensor': { name: '1 string', parameters: '2 map<string,InferParameter>' },
  ModelInferResponse: {
    model_name: '1 string',
    model_version: '2 string',
    id: '3 string',
    parameters: '4 map<string,InferParameter>',
    outputs: '5 repeated InferOutputTensor',
    raw_output_contents: '6 repeated bytes',
  },
  'ModelInferResponse.InferOutputTensor': { name: '1 string', datatype: '2 string', shape: '3 repeated int64', parameters: '4 map<string,InferParameter>', contents: '5 InferTensorContents' },
  ModelConfigRequest: { name: '1 string', version: '2 string' },
  ModelConfigResponse: { config: '1 ModelConfig' },
  ModelStatisticsRequest: { name: '1 string', version: '2 string' },
  StatisticDuration: { count: '1 uint64', ns: '2 uint64' },
  InferStatistics: {
    success: '1 StatisticDuration',
    fail: '2 StatisticDuration',
    queue: '3 StatisticDuration',
    compute_input: '4 StatisticDuration',
    compute_infer: '5 StatisticDuration',
    compute_output: '6 StatisticDuration',
  },
  ModelStatistics: { name: '1 string', version: '2 string', last_inference: '3 uint64', inference_count: '4 uint64', execution_count: '5 uint64', inference_stats: '6 InferStatistics' },
  ModelStatisticsResponse: { model_stats: '1 repeated ModelStatistics' },
  ModelRepositoryParameter: { bool_param: '1 bool', int64_param: '2 int64', string_param: '3 string', bytes_param: '4 bytes' },
  RepositoryIndexRequest: { repository_name: '1 string', ready: '2 bool' },
  RepositoryIndexResponse: { models: '1 repeated ModelIndex' },
  'RepositoryIndexResponse.ModelIndex': { name: '1 string', version: '2 string', state: '3 string', reason: '4 string' },
  RepositoryModelLoadRequest: { repository_name: '1 string', model_name: '2 string', parameters: '3 map<string,ModelRepositoryParameter>' },
  RepositoryModelLoadResponse: {},
  RepositoryModelUnloadRequest: { repository_name: '1 string', model_name: '2 string', parameters: '3 map<string,ModelRepositoryParameter>' },
  RepositoryModelUnloadResponse: {},
  // model_config.proto
  ModelTensorReshape: { shape: '1 repeated int64' },
  ModelInput: { name: '1 string', data_type: '2 DataType', format: '3 Format', dims: '4 repeated int64', reshape: '5 ModelTensorReshape' },
  ModelOutput: { name: '1 string', data_type: '2 DataType', dims: '3 repeated int64', reshape: '5 ModelTensorReshape' },
  ModelInstanceGroup: { name: '1 string', count: '2 int32', kind: '4 Kind' },
  ModelQueuePolicy: { timeout_action: '1 TimeoutAction', default_timeout_microseconds: '2 uint64', allow_timeout_override: '3 bool', max_queue_size: '4 uint32' },
  ModelDynamicBatching: {
    preferred_batch_size: '1 repeated int32',
    max_queue_delay_microseconds: '2 uint64',
    priority_levels: '4 uint64',
    default_priority_level: '5 uint64',
    default_queue_policy: '6 ModelQueuePolicy',
  },
  ModelParameter: { string_value: '1 string' },
  ModelConfig: {
    name: '1 string',
    platform: '2 string',
    max_batch_size: '4 int32',
    input: '5 repeated ModelInput',
    output: '6 repeated ModelOutput',
    instance_group: '7 repeated ModelInstanceGroup',
    dynamic_batching: '11 ModelDynamicBatching',
    parameters: '14 map<string,ModelParameter>',
    backend: '17 string',
  },
};

/** enum -> value -> number. */
const kEnums: Record<string, Record<string, number>> = {
  DataType: {
    TYPE_INVALID: 0,
    TYPE_BOOL: 1,
    TYPE_UINT8: 2,
    TYPE_UINT16: 3,
    TYPE_UINT32: 4,
    TYPE_UINT64: 5,
    TYPE_INT8: 6,
    TYPE_INT16: 7,
    TYPE_INT32: 8,
    TYPE_INT64: 9,
    TYPE_FP16: 10,
    TYPE_FP32: 11,
    TYPE_FP64: 12,
    TYPE_STRING: 13,
    TYPE_BF16: 14,
  },
  'ModelInput.Format': { FORMAT_NONE: 0, FORMAT_NHWC: 1, FORMAT_NCHW: 2 },
  'ModelInstanceGroup.Kind': { KIND_AUTO: 0, KIND_GPU: 1, KIND_CPU: 2, KIND_MODEL: 3 },
  'ModelQueuePolicy.TimeoutAction': { REJECT: 0, DELAY: 1 },
};

/** Oneofs: message -> oneof name -> its fields. */
const kOneofs: Record<string, Record<string, string[]>> = {
  InferParameter: { parameter_choice: ['bool_param', 'int64_param', 'string_param', 'double_param', 'uint64_param'] },
  ModelRepositoryParameter: { parameter_choice: ['bool_param', 'int64_param', 'string_param', 'bytes_param'] },
  ModelConfig: { scheduling_choice: ['dynamic_batching'] },
};

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
  oneofIndex?: number;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: { name: string; value: { name: string; number: number }[] }[];
  oneofDecl: { name: string }[];
  options?: { mapEntry?: boolean } | null;
}

const kScalar: Record<string, string> = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'bool',
  TYPE_INT32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_UINT32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_FLOAT: 'float',
  TYPE_DOUBLE: 'double',
  TYPE_BYTES: 'bytes',
};
const shortName = (typeName: string) => typeName.split('.').pop()!;

/** "number [repeated] type" of a field, as the table writes it. */
function describeField(f: FieldDescriptor, owner: MessageDescriptor): string {
  const typeOf = (x: FieldDescriptor) => kScalar[x.type] ?? shortName(x.typeName);
  const entry = f.type === 'TYPE_MESSAGE' ? owner.nestedType.find((n) => n.name === shortName(f.typeName) && n.options?.mapEntry) : undefined;
  if (entry) return `${f.number} map<${typeOf(entry.field.find((x) => x.number === 1)!)},${typeOf(entry.field.find((x) => x.number === 2)!)}>`;
  return `${f.number} ${f.label === 'LABEL_REPEATED' ? 'repeated ' : ''}${typeOf(f)}`;
}

t.test('the .proto matches the published specification', async (t) => {
  const definition = protoLoader.loadSync(protoPath(), kLoaderOptions) as Record<string, any>;

  // Service and methods.
  const service = definition['inference.GRPCInferenceService'];
  t.ok(service, 'package inference, service GRPCInferenceService');
  t.same(Object.keys(service).sort(), Object.keys(kMethods).sort(), 'the methods served are those of the table');
  for (const [method, [req, res]] of Object.entries(kMethods)) {
    const m = service[method];
    if (!m) continue;
    t.equal(m.path, `/inference.GRPCInferenceService/${method}`, `${method}: path`);
    t.equal(m.requestType.type.name, req, `${method}: request ${req}`);
    t.equal(m.responseType.type.name, res, `${method}: response ${res}`);
    t.notOk(m.requestStream || m.responseStream, `${method}: unary`);
  }

  // Messages (nested ones by Outer.Inner), and the enums they hold.
  const messages = new Map<string, MessageDescriptor>();
  const enums = new Map<string, Record<string, number>>();
  const walk = (m: MessageDescriptor, prefix: string) => {
    const name = prefix + m.name;
    messages.set(name, m);
    for (const e of m.enumType) enums.set(`${name}.${e.name}`, Object.fromEntries(e.value.map((v) => [v.name, v.number])));
    for (const n of m.nestedType) if (!n.options?.mapEntry) walk(n, `${name}.`);
  };
  for (const [key, value] of Object.entries(definition)) {
    if (!key.startsWith('inference.')) continue;
    if (value.format === 'Protocol Buffer 3 DescriptorProto') walk(value.type, '');
    if (value.format === 'Protocol Buffer 3 EnumDescriptorProto') enums.set(key.slice('inference.'.length), Object.fromEntries(value.type.value.map((v: { name: string; number: number }) => [v.name, v.number])));
  }
  t.same([...messages.keys()].sort(), Object.keys(kMessages).sort(), 'the messages are those of the table');
  for (const [name, fields] of Object.entries(kMessages)) {
    const m = messages.get(name);
    if (!m) continue;
    const actual = Object.fromEntries(m.field.map((f) => [f.name, describeField(f, m)]));
    t.same(actual, fields, `${name}: field names, numbers, labels and types`);
  }
  t.same([...enums.keys()].sort(), Object.keys(kEnums).sort(), 'the enums are those of the table');
  for (const [name, values] of Object.entries(kEnums)) t.same(enums.get(name), values, `enum ${name}`);
  for (const [name, oneofs] of Object.entries(kOneofs)) {
    const m = messages.get(name)!;
    t.same(m.oneofDecl.map((o) => o.name), Object.keys(oneofs), `${name}: oneofs`);
  }
});
