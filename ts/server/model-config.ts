// A served model's configuration in Triton's shape (model_config.proto's ModelConfig, field
// names as in the .proto), built from the manifest and the plan at the time of the call: the
// same object is the body of GET /v2/models/{m}/config (Triton's REST answers the ModelConfig
// itself) and the `config` of the gRPC ModelConfigResponse.
//
// Triton's fields have no room for a cascade's gears, so the gear plan travels in the field
// Triton leaves to the model, `parameters` (map<string, {string_value}>), under keys that
// start with "cascadeserve." (docs/grpc.md lists them).
import { kLowestPriority } from './codec.js';
import type { ServedModel } from './served-model.js';
import type { ServingGear } from './plan-loader.js';

export interface ModelTensorConfig {
  name: string;
  data_type: string;
  dims: number[];
  /** A per-item scalar: dims [1] in the configuration, no axis in the tensor (Triton's way). */
  reshape?: { shape: number[] };
}

export interface ModelConfigJson {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  input: (ModelTensorConfig & { format: string })[];
  output: ModelTensorConfig[];
  dynamic_batching: {
    preferred_batch_size: number[];
    max_queue_delay_microseconds: number;
    priority_levels: number;
    default_priority_level: number;
    default_queue_policy: { timeout_action: 'REJECT'; default_timeout_microseconds: number; allow_timeout_override: boolean; max_queue_size: number };
  };
  instance_group: { name: string; kind: 'KIND_CPU' | 'KIND_GPU'; count: number }[];
  parameters: Record<string, { string_value: string }>;
}

/** The extension keys under `parameters` (values are strings, as Triton's ModelParameter). */
export const kConfigParameterKeys = {
  /** Id of the gear running now. */
  gear: 'cascadeserve.gear',
  /** The p95 latency objective of the plan, milliseconds. */
  sloMs: 'cascadeserve.slo_p95_ms',
  /** The gear plan as JSON: [{id, min_qps, max_qps, expected_accuracy, expected_cost_us, stages}]. */
  gears: 'cascadeserve.gears',
} as const;

// Triton's names; a BYTES tensor is TYPE_STRING in a model configuration.
const kDataType: Record<string, string> = { BOOL: 'TYPE_BOOL', UINT8: 'TYPE_UINT8', INT32: 'TYPE_INT32', INT64: 'TYPE_INT64', FP16: 'TYPE_FP16', FP32: 'TYPE_FP32', FP64: 'TYPE_FP64', BYTES: 'TYPE_STRING' };

/** Triton's TYPE_* name of a protocol datatype (FP32 -> TYPE_FP32). */
export function configDataType(datatype: string): string {
  const t = kDataType[datatype];
  if (t === undefined) throw new Error(`no model-configuration data type for ${datatype}`);
  return t;
}

function gearJson(g: ServingGear): Record<string, unknown> {
  return {
    id: g.id,
    min_qps: g.minQps,
    // JSON has no infinity: an unbounded gear (a member model's only gear) says null.
    max_qps: Number.isFinite(g.maxQps) ? g.maxQps : null,
    expected_accuracy: Number.isFinite(g.expectedAccuracy) ? g.expectedAccuracy : null,
    expected_cost_us: g.expectedCostUs,
    stages: g.engine.stages.map((s) => ({
      model: s.model,
      threshold: s.threshold,
      measure: s.measure ?? 'max_prob',
      max_batch: s.maxBatch,
      max_queue_delay_us: s.maxQueueDelayUs ?? 0,
    })),
  };
}

/**
 * The configuration of `model` now. max_batch_size is the most images one request may carry
 * (a request beyond it is refused, as Triton refuses one beyond its max_batch_size); the
 * dynamic batching figures are those of the running gear's first stage, where every request
 * enters.
 */
export function modelConfig(model: ServedModel): ModelConfigJson {
  const meta = model.metadata();
  const gear = model.currentGear;
  const first = gear.engine.stages[0];
  const lanes = model.engineOptions.lanes ?? [{ kind: 'cpu' as const }];
  const tensor = (t: { name: string; datatype: string; shape: number[] }): ModelTensorConfig => {
    const dims = t.shape.slice(1); // without the batch axis, as Triton with max_batch_size > 0
    return dims.length === 0 ? { name: t.name, data_type: configDataType(t.datatype), dims: [1], reshape: { shape: [] } } : { name: t.name, data_type: configDataType(t.datatype), dims };
  };
  return {
    name: model.name,
    platform: meta.platform,
    backend: model.kind === 'cascade' ? 'cascadeserve' : 'onnxruntime',
    max_batch_size: model.contract.maxImagesPerRequest,
    input: meta.inputs.map((t) => ({ ...tensor(t), format: 'FORMAT_NONE' })),
    output: meta.outputs.map(tensor),
    dynamic_batching: {
      preferred_batch_size: [first.maxBatch],
      max_queue_delay_microseconds: first.maxQueueDelayUs ?? 0,
      priority_levels: kLowestPriority,
      default_priority_level: 1,
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: model.admission.sloUs,
        allow_timeout_override: true,
        max_queue_size: model.admission.maxInFlightItems,
      },
    },
    instance_group: lanes.map((l, i) => ({ name: `lane${i}`, kind: l.kind === 'cuda' ? 'KIND_GPU' : 'KIND_CPU', count: 1 })),
    parameters: {
      [kConfigParameterKeys.gear]: { string_value: String(gear.id) },
      [kConfigParameterKeys.sloMs]: { string_value: String(model.plan.sloMs) },
      [kConfigParameterKeys.gears]: { string_value: JSON.stringify(model.gears.map(gearJson)) },
    },
  };
}
