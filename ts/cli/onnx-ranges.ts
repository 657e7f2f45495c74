// The values an integer model input may hold, read from the ONNX graph: an input that indexes
// a Gather whose data is an initializer of shape [V, ...] (an embedding table: token ids) makes
// ONNX Runtime fail the whole batch on any value outside [-V, V). Ids are refused below 0 as
// well: ONNX counts a negative index from the end, but a negative token id is a client's bug,
// not a row the client means. Read straight from the protobuf wire format (see onnx-params.ts).
import { readFileSync } from 'node:fs';
// Field numbers shared with onnx-params.ts come from there; these are the graph's own.
import { Reader, kGraphInitializer, kModelGraph, kTensorDims } from './onnx-params.js';

const kGraphNode = 1; // GraphProto.node
const kNodeInput = 1; // NodeProto.input
const kNodeOutput = 2; // NodeProto.output
const kNodeName = 3; // NodeProto.name
const kNodeOpType = 4; // NodeProto.op_type
const kNodeAttribute = 5; // NodeProto.attribute
const kNodeDomain = 7; // NodeProto.domain
const kAttrName = 1; // AttributeProto.name
const kAttrInt = 3; // AttributeProto.i
const kTensorName = 8; // TensorProto.name
// TensorProto.DataType: UINT8, INT8, UINT16, INT16, INT32, INT64, UINT32, UINT64
const kIntTypes = new Set([2, 3, 4, 5, 6, 7, 12, 13]);
/** Ops whose first input's values all reach their output unchanged (no value dropped, none made). */
const kValuePreserving = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose']);

interface GraphNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  ints: Map<string, number>;
}

/** What bounds an input's values: they index an axis of `size` rows. */
export interface IndexBound {
  /** Values must lie in [0, size). */
  size: number;
  /** Where, for messages: e.g. "Gather on initializer 'emb.weight' [12, 16]". */
  source: string;
}

const utf8 = new TextDecoder();

/** The varint in buf[start, end) as a signed int64 (a negative value is its 64-bit two's complement, which a double cannot hold exactly). */
function int64At(buf: Uint8Array, start: number, end: number): number {
  let v = 0n;
  for (let p = start, shift = 0n; p < end; p++, shift += 7n) v |= BigInt(buf[p] & 0x7f) << shift;
  return Number(BigInt.asIntN(64, v));
}

function readGraph(buf: Uint8Array): { nodes: GraphNode[]; initializers: Map<string, number[]> } {
  const nodes: GraphNode[] = [];
  const initializers = new Map<string, number[]>();
  const text = (s: number, e: number) => utf8.decode(buf.subarray(s, e));
  new Reader(buf).fields((no, wire, start, end) => {
    if (no !== kModelGraph || wire !== 2) return;
    new Reader(buf, end, start).fields((gno, gwire, gs, ge) => {
      if (gwire !== 2) return;
      if (gno === kGraphInitializer) {
        let name = '';
        const dims: number[] = [];
        new Reader(buf, ge, gs).fields((tno, twire, ts, te) => {
          if (tno === kTensorName && twire === 2) name = text(ts, te);
          if (tno === kTensorDims && twire === 0) dims.push(new Reader(buf, te, ts).varint());
          if (tno === kTensorDims && twire === 2) {
            const r = new Reader(buf, te, ts);
            while (r.pos < te) dims.push(r.varint());
          }
        });
        initializers.set(name, dims);
      } else if (gno === kGraphNode) {
        const node: GraphNode = { name: '', op: '', domain: '', inputs: [], outputs: [], ints: new Map() };
        new Reader(buf, ge, gs).fields((nno, nwire, ns, ne) => {
          if (nwire !== 2) return;
          if (nno === kNodeInput) node.inputs.push(text(ns, ne));
          else if (nno === kNodeOutput) node.outputs.push(text(ns, ne));
          else if (nno === kNodeName) node.name = text(ns, ne);
          else if (nno === kNodeOpType) node.op = text(ns, ne);
          else if (nno === kNodeDomain) node.domain = text(ns, ne);
          else if (nno === kNodeAttribute) {
            let name = '';
            let value: number | null = null;
            new Reader(buf, ne, ns).fields((ano, awire, as, ae) => {
              if (ano === kAttrName && awire === 2) name = text(as, ae);
              if (ano === kAttrInt && awire === 0) value = int64At(buf, as, ae);
            });
            if (name && value !== null) node.ints.set(name, value);
          }
        });
        nodes.push(node);
      }
    });
  });
  return { nodes, initializers };
}

/**
 * For each of `inputs` that (unchanged, or through an integer Cast or a reshaping op) indexes
 * a Gather whose data is an initializer (directly or through Identity), the smallest such
 * bound. Inputs without one are absent. Only the main graph is read: a Gather inside a
 * subgraph (If, Loop, Scan) bounds nothing here, which can only leave a range undetected.
 * Throws on a malformed file.
 */
export function indexBounds(buf: Uint8Array, inputs: readonly string[]): Map<string, IndexBound> {
  const { nodes, initializers } = readGraph(buf);
  const isDefault = (n: GraphNode) => n.domain === '' || n.domain === 'ai.onnx';
  const producer = new Map<string, GraphNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  /** The initializer a tensor name is, directly or through Identity nodes. */
  const initializerOf = (name: string): { name: string; dims: number[] } | null => {
    for (let hops = 0; hops <= nodes.length; hops++) {
      const dims = initializers.get(name);
      if (dims) return { name, dims };
      const p = producer.get(name);
      if (!p || p.op !== 'Identity' || !isDefault(p)) return null;
      name = p.inputs[0];
    }
    return null;
  };
  const out = new Map<string, IndexBound>();
  for (const input of inputs) {
    // Every tensor that holds exactly the input's values (in some shape or integer type).
    const same = new Set([input]);
    const queue = [input];
    while (queue.length > 0) {
      const t = queue.pop()!;
      for (const n of nodes) {
        if (!isDefault(n) || n.inputs[0] !== t || !n.outputs[0]) continue;
        const follows = kValuePreserving.has(n.op) || (n.op === 'Cast' && kIntTypes.has(n.ints.get('to') ?? -1));
        if (follows && !same.has(n.outputs[0])) {
          same.add(n.outputs[0]);
          queue.push(n.outputs[0]);
        }
      }
    }
    for (const n of nodes) {
      if (!isDefault(n) || n.op !== 'Gather' || n.inputs.length < 2 || !same.has(n.inputs[1])) continue;
      const data = initializerOf(n.inputs[0]);
      if (!data || data.dims.length === 0) continue;
      const rank = data.dims.length;
      const axis0 = n.ints.get('axis') ?? 0;
      const axis = axis0 < 0 ? axis0 + rank : axis0;
      if (axis < 0 || axis >= rank) continue;
      const size = data.dims[axis];
      const prev = out.get(input);
      if (prev && prev.size <= size) continue;
      out.set(input, { size, source: `Gather${n.name ? ` '${n.name}'` : ''} on initializer '${data.name}' [${data.dims.join(', ')}]${axis !== 0 ? ` axis ${axis}` : ''}` });
    }
  }
  return out;
}

/** indexBounds of a file; null when the file cannot be parsed (no range is then detected). */
export function indexBoundsOf(path: string, inputs: readonly string[]): Map<string, IndexBound> | null {
  try {
    return indexBounds(readFileSync(path), inputs);
  } catch {
    return null;
  }
}
