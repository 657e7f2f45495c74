// ONNX element types as the addon numbers them (native/ort/tensor.h pins the values to ONNX's),
// and the typed arrays that carry each.
export const ElementType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
} as const;

export type ElementTypeName = keyof typeof ElementType;

const kNames = new Map<number, ElementTypeName>(
  Object.entries(ElementType).map(([name, value]) => [value, name as ElementTypeName]),
);

export function elementTypeName(value: number): ElementTypeName | 'undefined' {
  return kNames.get(value) ?? 'undefined';
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

// The element types each typed array may carry. Uint16Array carries float16 bits or uint16;
// Uint8Array carries uint8 or bool.
export function typesForArray(data: TensorData): ElementTypeName[] {
  if (data instanceof Float32Array) return ['float32'];
  if (data instanceof Float64Array) return ['float64'];
  if (data instanceof Uint8Array) return ['uint8', 'bool'];
  if (data instanceof Int8Array) return ['int8'];
  if (data instanceof Uint16Array) return ['float16', 'uint16'];
  if (data instanceof Int16Array) return ['int16'];
  if (data instanceof Int32Array) return ['int32'];
  if (data instanceof Uint32Array) return ['uint32'];
  if (data instanceof BigInt64Array) return ['int64'];
  if (data instanceof BigUint64Array) return ['uint64'];
  return [];
}

export function arrayForType(type: ElementTypeName, buffer: ArrayBuffer): TensorData {
  switch (type) {
    case 'float32': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'uint8':
    case 'bool': return new Uint8Array(buffer);
    case 'int8': return new Int8Array(buffer);
    case 'float16':
    case 'uint16': return new Uint16Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'uint32': return new Uint32Array(buffer);
    case 'int64': return new BigInt64Array(buffer);
    case 'uint64': return new BigUint64Array(buffer);
    default: throw new TypeError(`element type ${type} has no typed array`);
  }
}

/** Bytes per element of the types that travel as typed arrays. */
export function elementSize(type: ElementTypeName): number {
  switch (type) {
    case 'float64':
    case 'int64':
    case 'uint64': return 8;
    case 'float32':
    case 'int32':
    case 'uint32': return 4;
    case 'float16':
    case 'uint16':
    case 'int16': return 2;
    case 'uint8':
    case 'int8':
    case 'bool': return 1;
    default: throw new TypeError(`element type ${type} has no fixed size`);
  }
}
