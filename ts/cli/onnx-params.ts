// The number of trained parameters of an ONNX model: the elements of its floating-point
// initializers (ModelProto.graph.initializer), read straight from the protobuf wire format so
// that no ONNX library is needed. Integer initializers (shapes, indices) are not parameters.
import { readFileSync } from 'node:fs';

export const kModelGraph = 7; // ModelProto.graph
export const kGraphInitializer = 5; // GraphProto.initializer
export const kTensorDims = 1; // TensorProto.dims
const kTensorDataType = 2; // TensorProto.data_type
// TensorProto.DataType: FLOAT, FLOAT16, DOUBLE, BFLOAT16
const kFloatTypes = new Set([1, 10, 11, 16]);

/** A protobuf wire-format reader over buf[start, end) (shared with onnx-ranges.ts). */
export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length, start = 0) {
    this.pos = start;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error('varint too long');
    }
  }
  /** Calls `field` with the number, wire type and payload range of each field up to `end`. */
  fields(field: (no: number, wire: number, start: number, end: number) => void): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const no = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) {
        const start = this.pos;
        this.varint();
        field(no, wire, start, this.pos);
      } else if (wire === 1 || wire === 5) {
        const start = this.pos;
        this.pos += wire === 1 ? 8 : 4;
        field(no, wire, start, this.pos);
      } else if (wire === 2) {
        const len = this.varint();
        const start = this.pos;
        this.pos += len;
        if (this.pos > this.end) throw new Error('truncated field');
        field(no, wire, start, this.pos);
      } else {
        throw new Error(`unsupported wire type ${wire}`);
      }
    }
  }
}

/** Floating-point initializer elements of the model in `buf`; throws on a malformed file. */
export function countOnnxParams(buf: Uint8Array): number {
  let total = 0;
  new Reader(buf).fields((no, wire, start, end) => {
    if (no !== kModelGraph || wire !== 2) return;
    new Reader(buf, end, start).fields((gno, gwire, gs, ge) => {
      if (gno !== kGraphInitializer || gwire !== 2) return;
      let count = 1;
      let type = 0;
      new Reader(buf, ge, gs).fields((tno, twire, ts, te) => {
        if (tno === kTensorDataType && twire === 0) type = new Reader(buf, te, ts).varint();
        if (tno === kTensorDims && twire === 0) count *= new Reader(buf, te, ts).varint();
        if (tno === kTensorDims && twire === 2) {
          const r = new Reader(buf, te, ts);
          while (r.pos < te) count *= r.varint();
        }
      });
      if (kFloatTypes.has(type)) total += count;
    });
  });
  return total;
}

/** countOnnxParams of a file; null when the file cannot be parsed (the count is informative). */
export function onnxParamsOf(path: string): number | null {
  try {
    return countOnnxParams(readFileSync(path));
  } catch {
    return null;
  }
}
