// The enum tables shared with the native addon. Each name maps to the integer the C++ side
// uses (native/common/status.h StatusCode, native/engine/certainty.h CertaintyMeasure and
// OutputKind). The addon exports its own values at load and bindings/binding.ts refuses to
// load on any difference; static_asserts in bindings/enum_table.cc pin the C++ enums to the
// same numbers. Renumbering one side without the other therefore fails the build or the load.

export const kCertaintyMeasureCodes = { max_prob: 0, margin: 1, entropy: 2 } as const;
export type CertaintyMeasure = keyof typeof kCertaintyMeasureCodes;
/** The measures in code order. */
export const kCertaintyMeasures = ['max_prob', 'margin', 'entropy'] as const satisfies readonly CertaintyMeasure[];

/**
 * How a model's output row is read. 'binary_logit' and 'binary_probability' are a binary
 * classifier's one column (a sigmoid head's logit z, or its probability p of class 1); the
 * engine widens it to the two classes, [0, z] read as logits or [1 - p, p] as probabilities.
 */
export const kOutputKindCodes = { logits: 0, probabilities: 1, 'binary_logit': 2, 'binary_probability': 3 } as const;
export type OutputKind = keyof typeof kOutputKindCodes;
/** The output kinds in code order. */
export const kOutputKinds = ['logits', 'probabilities', 'binary_logit', 'binary_probability'] as const satisfies readonly OutputKind[];
/** Whether the model writes one column (a binary score) rather than one per class. */
export function isBinaryScore(kind: OutputKind): boolean {
  return kind === 'binary_logit' || kind === 'binary_probability';
}
/** How the answer's row (widened, for a binary score) is read. */
export function rowKind(kind: OutputKind): 'logits' | 'probabilities' {
  return kind === 'logits' || kind === 'binary_logit' ? 'logits' : 'probabilities';
}

export const kStatusCodes = {
  ok: 0,
  invalid_argument: 1,
  runtime_error: 2,
  overloaded: 3,
  timeout: 4,
  cancelled: 5,
  unavailable: 6,
} as const;
export type StatusName = keyof typeof kStatusCodes;

// Element types of engine inputs (native/engine/input_layout.h TensorElement): the ONNX
// element type numbers, so that native/ort passes them to ONNX Runtime unchanged.
export const kDatatypeCodes = { FP32: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9, FP16: 10 } as const;
export type Datatype = keyof typeof kDatatypeCodes;
/** The datatypes in the order of the manifest's documentation. */
export const kDatatypes = ['FP32', 'FP16', 'INT64', 'INT32', 'UINT8', 'BOOL'] as const satisfies readonly Datatype[];

// Where each field of a completed item sits in its row of doubles (bindings/engine_binding.h
// ResultRowField), and the row's width.
export const kResultRowFields = { ticket: 0, status: 1, predictedClass: 2, certainty: 3, exitStage: 4, model: 5, queuedUs: 6, computeUs: 7, width: 8 } as const;

/** Every table the addon must agree with, by the name it exports it under. */
export const kNativeEnumTables = {
  statusCodes: kStatusCodes,
  certaintyMeasures: kCertaintyMeasureCodes,
  outputKinds: kOutputKindCodes,
  elementTypes: kDatatypeCodes,
  resultRowFields: kResultRowFields,
} as const satisfies Record<string, Record<string, number>>;
export type NativeEnumTableName = keyof typeof kNativeEnumTables;
