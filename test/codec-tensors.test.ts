// The request decoder for models of named typed inputs (#13 item 3): JSON and binary requests
// of any of the six datatypes decode to what engine.submitTensors takes, each request with its
// own length on the dynamic axis, item lengths from the mask input; every refusal is a 400
// whose message names the input. Expected values are written out here by hand.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { decodeInferRequest, type InputContract } from '../ts/server/codec.js';
import { decodeGrpcInferRequest } from '../ts/server/grpc/infer-messages.js';
import { float16Bits, type TensorContract, type TensorDatatype } from '../ts/server/tensor-decoder.js';
import { HttpError } from '../ts/server/errors.js';
import { exampleTensorBody } from '../ts/cli/serve-command.js';

const tokens: TensorContract = {
  inputs: [
    { name: 'input_ids', datatype: 'INT64', itemShape: [-1], padValue: 0 },
    { name: 'attention_mask', datatype: 'INT64', itemShape: [-1], padValue: 0 },
  ],
  dynamicAxis: 0,
  maskInput: 'attention_mask',
};
const contractOf = (tensors: TensorContract, maxImagesPerRequest = 8): InputContract => ({
  inputName: tensors.inputs[0].name,
  itemShape: tensors.inputs[0].itemShape,
  itemElems: 1,
  uint8Scale: 1,
  maxImagesPerRequest,
  tensors,
});
const kTokens = contractOf(tokens);

/** A little-endian binary request: JSON header + each input's bytes in order. */
function binary(inputs: { name: string; shape: number[]; datatype: string; bytes: Buffer }[]): { body: never; tail: Buffer } {
  const header = { inputs: inputs.map((i) => ({ name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: i.bytes.length } })) };
  return { body: header as never, tail: Buffer.concat(inputs.map((i) => i.bytes)) };
}
const int64Bytes = (values: number[]) => Buffer.from(BigInt64Array.from(values, BigInt).buffer);

/** The HttpError a decode throws (the test fails when it decodes). */
function refusal(t: Test, run: () => unknown): HttpError {
  try {
    run();
  } catch (e) {
    t.ok(e instanceof HttpError, `an HttpError, got ${String(e)}`);
    return e as HttpError;
  }
  t.fail('decoded a request it should refuse');
  return new HttpError('internal', '');
}

t.test('two INT64 inputs with their own length, JSON and binary alike', async (t) => {
  const ids = [101, 7, 9007199254740991, 102];
  const body = {
    inputs: [
      { name: 'attention_mask', shape: [1, 4], datatype: 'INT64', data: [1, 1, 1, 1] },
      { name: 'input_ids', shape: [1, 4], datatype: 'INT64', data: [ids] },
    ],
  };
  const json = decodeInferRequest(body as never, undefined, kTokens);
  t.equal(json.items, 1);
  t.equal(json.inputs.length, 0, 'no fast-path floats');
  const sub = json.tensors!;
  t.equal(sub.count, 1);
  t.equal(sub.length, 4);
  t.same(Array.from(sub.lengths!), [4]);
  t.ok(sub.tensors.input_ids instanceof BigInt64Array);
  t.same(Array.from(sub.tensors.input_ids as BigInt64Array), [101n, 7n, 9007199254740991n, 102n]);
  t.same(Array.from(sub.tensors.attention_mask as BigInt64Array), [1n, 1n, 1n, 1n]);

  const b = binary([
    { name: 'input_ids', shape: [1, 4], datatype: 'INT64', bytes: int64Bytes(ids) },
    { name: 'attention_mask', shape: [1, 4], datatype: 'INT64', bytes: int64Bytes([1, 1, 1, 1]) },
  ]);
  // An odd offset inside a larger buffer, as a request body's tail usually is.
  const tail = Buffer.concat([Buffer.from([0]), b.tail]).subarray(1);
  const bin = decodeInferRequest(b.body, tail, kTokens).tensors!;
  t.same(Array.from(bin.tensors.input_ids as BigInt64Array), Array.from(sub.tensors.input_ids as BigInt64Array));
  t.same(Array.from(bin.tensors.attention_mask as BigInt64Array), [1n, 1n, 1n, 1n]);
  t.same(Array.from(bin.lengths!), [4]);

  // Another request, another length.
  const short = decodeInferRequest(
    {
      inputs: [
        { name: 'input_ids', shape: [1, 2], datatype: 'INT64', data: [5, 6] },
        { name: 'attention_mask', shape: [1, 2], datatype: 'INT64', data: [1, 1] },
      ],
    } as never,
    undefined,
    kTokens,
  ).tensors!;
  t.equal(short.length, 2);
  t.same(Array.from(short.lengths!), [2]);
});

t.test('several items padded by the client: lengths from the mask', async (t) => {
  const d = decodeInferRequest(
    {
      inputs: [
        { name: 'input_ids', shape: [3, 5], datatype: 'INT64', data: [[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [9, 0, 0, 0, 0]] },
        { name: 'attention_mask', shape: [3, 5], datatype: 'INT64', data: [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]] },
      ],
    } as never,
    undefined,
    kTokens,
  ).tensors!;
  t.equal(d.count, 3);
  t.equal(d.length, 5);
  t.same(Array.from(d.lengths!), [3, 5, 1]);
  t.same(Array.from(d.tensors.input_ids as BigInt64Array).map(Number), [1, 2, 3, 0, 0, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0]);

  // Without a mask input every item has the request's length.
  const noMask = contractOf({ ...tokens, maskInput: null });
  const all = decodeInferRequest(
    {
      inputs: [
        { name: 'input_ids', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] },
        { name: 'attention_mask', shape: [2, 3], datatype: 'INT64', data: [1, 1, 0, 1, 0, 0] },
      ],
    } as never,
    undefined,
    noMask,
  ).tensors!;
  t.same(Array.from(all.lengths!), [3, 3]);
});

t.test('each datatype, in JSON and in binary', async (t) => {
  // [datatype, JSON values, their bytes little-endian, the typed array's elements]
  const cases: [TensorDatatype, unknown[], Buffer, unknown[]][] = [
    ['FP32', [0.5, -2, 3.25], Buffer.from(Float32Array.from([0.5, -2, 3.25]).buffer), [0.5, -2, 3.25]],
    ['FP16', [1, -2, 0.5], Buffer.from(Uint16Array.from([0x3c00, 0xc000, 0x3800]).buffer), [0x3c00, 0xc000, 0x3800]],
    ['INT64', [-5, 0, 2 ** 40], int64Bytes([-5, 0, 2 ** 40]), [-5n, 0n, 2n ** 40n]],
    ['INT32', [-2147483648, 0, 2147483647], Buffer.from(Int32Array.from([-2147483648, 0, 2147483647]).buffer), [-2147483648, 0, 2147483647]],
    ['UINT8', [0, 128, 255], Buffer.from([0, 128, 255]), [0, 128, 255]],
    ['BOOL', [true, false, true], Buffer.from([1, 0, 1]), [1, 0, 1]],
  ];
  for (const [datatype, values, bytes, elements] of cases) {
    const c = contractOf({ inputs: [{ name: 'x', datatype, itemShape: [3], padValue: 0 }], dynamicAxis: null, maskInput: null });
    const json = decodeInferRequest({ inputs: [{ name: 'x', shape: [1, 3], datatype, data: values }] } as never, undefined, c).tensors!;
    t.same(Array.from(json.tensors.x as ArrayLike<unknown>), elements, `${datatype} JSON`);
    t.equal(json.length, undefined, 'no dynamic axis, no length');
    t.equal(json.lengths, undefined);
    const b = binary([{ name: 'x', shape: [1, 3], datatype, bytes }]);
    const bin = decodeInferRequest(b.body, b.tail, c).tensors!;
    t.same(Array.from(bin.tensors.x as ArrayLike<unknown>), elements, `${datatype} binary`);
  }
});

t.test('float16 bit patterns', async (t) => {
  // Values and their IEEE binary16 encodings (round to nearest, ties to even).
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // a tie: to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie: to even (up)
    [65520, 0x7c00], // rounds beyond the largest finite: infinity
  ];
  for (const [v, bits] of cases) t.equal(float16Bits(v), bits, `${v} -> 0x${bits.toString(16)}`);
});

t.test('refusals name the input', async (t) => {
  const good = () => [
    { name: 'input_ids', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] } as Record<string, unknown>,
    { name: 'attention_mask', shape: [1, 3], datatype: 'INT64', data: [1, 1, 1] } as Record<string, unknown>,
  ];
  const cases: [string, (inputs: Record<string, unknown>[]) => unknown[], RegExp][] = [
    ['missing input', (i) => [i[0]], /^inputs: missing input 'attention_mask'/],
    ['extra input', (i) => [...i, { name: 'token_type_ids', shape: [1, 3], datatype: 'INT64', data: [0, 0, 0] }], /^inputs\[2\]\.name: unknown input 'token_type_ids'; this model takes input_ids, attention_mask/],
    ['misnamed input', (i) => [i[0], { ...i[1], name: 'mask' }], /^inputs\[1\]\.name: unknown input 'mask'/],
    ['input twice', (i) => [i[0], i[1], { ...i[0] }], /^inputs\[2\]\.name: input 'input_ids' is given twice/],
    ['lengths differ', (i) => [i[0], { ...i[1], shape: [1, 4], data: [1, 1, 1, 1] }], /^inputs\[1\]\.shape\[1\]: input 'attention_mask' has length 4 but input 'input_ids' has length 3/],
    ['items differ', (i) => [i[0], { ...i[1], shape: [2, 3], data: [1, 1, 1, 1, 1, 1] }], /^inputs\[1\]\.shape\[0\]: input 'attention_mask' has 2 items but input 'input_ids' has 1/],
    ['wrong rank', (i) => [{ ...i[0], shape: [3] }, i[1]], /^inputs\[0\]\.shape: input 'input_ids' expects \[N,L\]/],
    ['length 0', (i) => [{ ...i[0], shape: [1, 0], data: [] }, { ...i[1], shape: [1, 0], data: [] }], /^inputs\[0\]\.shape\[1\]: input 'input_ids' needs a length >= 1/],
    ['wrong datatype', (i) => [{ ...i[0], datatype: 'INT32' }, i[1]], /^inputs\[0\]\.datatype: input 'input_ids' is INT64, got 'INT32'/],
    ['no data', (i) => [{ ...i[0], data: undefined }, i[1]], /^inputs\[0\]\.data: input 'input_ids' has no data/],
    ['too few values', (i) => [i[0], { ...i[1], data: [1, 1] }], /^inputs\[1\]\.data: input 'attention_mask' needs 3 values/],
    ['too many values', (i) => [i[0], { ...i[1], data: [1, 1, 1, 1] }], /^inputs\[1\]\.data: input 'attention_mask' needs 3 values for its shape, got 4/],
    // A shape alone allocates nothing: 2^31 positions of INT64 would be 16 GiB.
    ['a huge length', (i) => [{ ...i[0], shape: [1, 2 ** 31] }, { ...i[1], shape: [1, 2 ** 31] }], /^inputs\[0\]\.data: input 'input_ids' needs 2147483648 values for its shape, got 3/],
    ['a fraction', (i) => [{ ...i[0], data: [1, 2.5, 3] }, i[1]], /^inputs\[0\]\.data: element 1 of input 'input_ids' is 2\.5, expected an integer/],
    ['an unsafe integer', (i) => [{ ...i[0], data: [1, 2 ** 60, 3] }, i[1]], /^inputs\[0\]\.data: element 1 of input 'input_ids' lies beyond \+-\(2\^53 - 1\), where a JSON number loses precision \(it reads as 1152921504606846976\); send such INT64 values in the binary extension$/],
    ['an unsafe negative integer', (i) => [{ ...i[0], data: [1, -(2 ** 53), 3] }, i[1]], /^inputs\[0\]\.data: element 1 of input 'input_ids' lies beyond \+-\(2\^53 - 1\)/],
    ['the largest safe integer is taken', (i) => [{ ...i[0], data: [1, 2 ** 53 - 1, 3] }, { ...i[1], data: [1, 1, 2] }], /^inputs\[1\]\.data: item 0 of mask input 'attention_mask' is 2/],
    ['a string', (i) => [{ ...i[0], data: [1, '2', 3] }, i[1]], /^inputs\[0\]\.data: element 1 of input 'input_ids' is "2"/],
    ['a mask starting with 0', (i) => [i[0], { ...i[1], data: [0, 1, 1] }], /^inputs\[1\]\.data: item 0 of mask input 'attention_mask' starts with 0/],
    ['a mask with a hole', (i) => [i[0], { ...i[1], data: [1, 0, 1] }], /^inputs\[1\]\.data: item 0 of mask input 'attention_mask' is nonzero at position 2 after a 0 at position 1: a mask is ones followed by zeros/],
    ['a mask value of 2', (i) => [i[0], { ...i[1], data: [1, 2, 1] }], /^inputs\[1\]\.data: item 0 of mask input 'attention_mask' is 2 at position 1: a mask holds 1 \(a position of the item\) or 0 \(padding\)/],
    ['a negative mask value', (i) => [i[0], { ...i[1], data: [-1, 1, 0] }], /^inputs\[1\]\.data: item 0 of mask input 'attention_mask' is -1 at position 0: a mask holds 1/],
  ];
  for (const [what, make, message] of cases) {
    const e = refusal(t, () => decodeInferRequest({ inputs: make(good()) } as never, undefined, kTokens));
    t.equal(e.statusCode, 400, `${what}: 400`);
    t.match(e.message, message, what);
  }
  // A length beyond what the models run (manifest models[].maxLength): 400 naming the input.
  const limited = { ...kTokens, tensors: { ...kTokens.tensors!, maxLength: 3 } };
  const four = [{ name: 'input_ids', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }, { name: 'attention_mask', shape: [1, 4], datatype: 'INT64', data: [1, 1, 1, 1] }];
  const over = refusal(t, () => decodeInferRequest({ inputs: four } as never, undefined, limited));
  t.equal(over.statusCode, 400, 'longer than maxLength: 400');
  t.equal(over.message, "inputs[0].shape[1]: input 'input_ids' has length 4, longer than the 3 positions this model runs (cascade.json models[].maxLength)");
  t.equal(decodeInferRequest({ inputs: good() } as never, undefined, limited).tensors?.length, 3, 'at maxLength: accepted');
  const tooMany = refusal(t, () =>
    decodeInferRequest({ inputs: [{ name: 'input_ids', shape: [9, 1], datatype: 'INT64', data: Array(9).fill(1) }, { name: 'attention_mask', shape: [9, 1], datatype: 'INT64', data: Array(9).fill(1) }] } as never, undefined, kTokens),
  );
  t.equal(tooMany.statusCode, 413, 'more items than the server takes: 413');
});

t.test('binary refusals name the input', async (t) => {
  const ids = int64Bytes([1, 2, 3]);
  const mask = int64Bytes([1, 1, 1]);
  const short = binary([
    { name: 'input_ids', shape: [1, 3], datatype: 'INT64', bytes: ids },
    { name: 'attention_mask', shape: [1, 3], datatype: 'INT64', bytes: mask.subarray(0, 16) },
  ]);
  t.match(refusal(t, () => decodeInferRequest(short.body, short.tail, kTokens)).message, /^inputs\[1\]\.parameters\.binary_data_size: input 'attention_mask' needs 24 bytes/);
  const ok = binary([
    { name: 'input_ids', shape: [1, 3], datatype: 'INT64', bytes: ids },
    { name: 'attention_mask', shape: [1, 3], datatype: 'INT64', bytes: mask },
  ]);
  t.match(refusal(t, () => decodeInferRequest(ok.body, Buffer.concat([ok.tail, Buffer.alloc(8)]), kTokens)).message, /^inputs: the inputs' binary_data_size add up to 48 bytes but 56 follow/);
  t.match(refusal(t, () => decodeInferRequest(ok.body, ok.tail.subarray(0, 40), kTokens)).message, /^inputs\[1\]\.parameters\.binary_data_size: input 'attention_mask' needs 24 bytes from offset 24 but only 16 follow/);
  const huge = { inputs: ['input_ids', 'attention_mask'].map((name) => ({ name, shape: [1, 2 ** 31], datatype: 'INT64', parameters: { binary_data_size: 2 ** 34 } })) };
  t.match(refusal(t, () => decodeInferRequest(huge as never, ok.tail, kTokens)).message, /^inputs\[0\]\.parameters\.binary_data_size: input 'input_ids' needs 17179869184 bytes from offset 0 but only 48 follow/, 'a huge binary tensor is refused before any allocation');

  const fp = (datatype: TensorDatatype, bytes: Buffer) => {
    const c = contractOf({ inputs: [{ name: 'feat', datatype, itemShape: [2], padValue: 0 }], dynamicAxis: null, maskInput: null });
    const b = binary([{ name: 'feat', shape: [1, 2], datatype, bytes }]);
    return refusal(t, () => decodeInferRequest(b.body, b.tail, c)).message;
  };
  t.match(fp('FP32', Buffer.from(Float32Array.from([1, NaN]).buffer)), /^inputs\[0\]: element 1 of input 'feat' is NaN; FP32 inputs must be finite/);
  t.match(fp('FP16', Buffer.from(Uint16Array.from([0x7c00, 0]).buffer)), /^inputs\[0\]: element 0 of input 'feat' is an infinity; FP16/);
  t.match(fp('BOOL', Buffer.from([1, 2])), /^inputs\[0\]: element 1 of input 'feat' is the byte 2; a BOOL is 0 or 1/);
});

t.test('gRPC: typed contents and raw_input_contents', async (t) => {
  const typed = decodeGrpcInferRequest(
    {
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [1, 3], contents: { int64_contents: [11, 12, 13] } },
        { name: 'attention_mask', datatype: 'INT64', shape: [1, 3], contents: { int64_contents: [1, 1, 0] } },
      ],
    },
    kTokens,
    undefined,
  ).decoded.tensors!;
  t.same(Array.from(typed.tensors.input_ids as BigInt64Array), [11n, 12n, 13n]);
  t.same(Array.from(typed.lengths!), [2]);
  const raw = decodeGrpcInferRequest(
    {
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [1, 3] },
        { name: 'attention_mask', datatype: 'INT64', shape: [1, 3] },
      ],
      raw_input_contents: [int64Bytes([11, 12, 13]), int64Bytes([1, 1, 1])],
    },
    kTokens,
    undefined,
  ).decoded.tensors!;
  t.same(Array.from(raw.tensors.input_ids as BigInt64Array), [11n, 12n, 13n]);
  t.same(Array.from(raw.lengths!), [3]);
  const e = refusal(t, () =>
    decodeGrpcInferRequest(
      {
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, 3] },
          { name: 'attention_mask', datatype: 'INT64', shape: [1, 3] },
        ],
        raw_input_contents: [int64Bytes([11, 12, 13]), int64Bytes([1, 1])],
      },
      kTokens,
      undefined,
    ),
  );
  t.match(e.message, /^raw_input_contents\[1\]: input 'attention_mask' needs 24 bytes/);
  const fp16 = refusal(t, () =>
    decodeGrpcInferRequest({ inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 1], contents: { fp32_contents: [1] } }] }, contractOf({ inputs: [{ name: 'x', datatype: 'FP16', itemShape: [1], padValue: 0 }], dynamicAxis: null, maskInput: null }), undefined),
  );
  t.match(fp16.message, /^inputs\[0\]\.datatype: input 'x' is 'FP16': FP16 has no typed contents field/);
});

t.test('a value outside an input\'s range is a 400 naming the input, the value and the range', async (t) => {
  const ranged: TensorContract = { ...tokens, inputs: [{ ...tokens.inputs[0], range: { min: 0, max: 11 } }, tokens.inputs[1]] };
  const c = contractOf(ranged);
  const json = (ids: number[]) => ({ inputs: [{ name: 'attention_mask', shape: [1, ids.length], datatype: 'INT64', data: ids.map(() => 1) }, { name: 'input_ids', shape: [1, ids.length], datatype: 'INT64', data: ids }] }) as never;
  t.same(Array.from(decodeInferRequest(json([0, 5, 11]), undefined, c).tensors!.tensors.input_ids as BigInt64Array), [0n, 5n, 11n], 'both ends of the range decode');
  for (const [ids, k, v] of [[[1, 12, 3], 1, 12], [[1, 2, 999999], 2, 999999], [[-1, 2, 3], 0, -1]] as const) {
    const e = refusal(t, () => decodeInferRequest(json([...ids]), undefined, c));
    t.equal(e.statusCode, 400);
    t.equal(e.message, `inputs[1].data: element ${k} of input 'input_ids' is ${v}, outside the range the models accept: [0, 11]`, `JSON ${v}`);
  }
  const b = binary([
    { name: 'input_ids', shape: [2, 2], datatype: 'INT64', bytes: int64Bytes([1, 2, 3, 12]) },
    { name: 'attention_mask', shape: [2, 2], datatype: 'INT64', bytes: int64Bytes([1, 1, 1, 1]) },
  ]);
  t.equal(refusal(t, () => decodeInferRequest(b.body, b.tail, c)).message, "inputs[0]: element 3 of input 'input_ids' is 12, outside the range the models accept: [0, 11]", 'binary');
  const g = refusal(t, () =>
    decodeGrpcInferRequest({ inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 2], contents: { int64_contents: [11, 4096] } }, { name: 'attention_mask', datatype: 'INT64', shape: [1, 2], contents: { int64_contents: [1, 1] } }] }, c, undefined),
  );
  t.equal(g.message, "inputs[0].contents: element 1 of input 'input_ids' is 4096, outside the range the models accept: [0, 11]", 'gRPC typed contents (the .proto\'s field name)');
  const small = (datatype: TensorDatatype, data: number[], bytes: Buffer) => {
    const cc = contractOf({ inputs: [{ name: 'ids', datatype, itemShape: [2], padValue: 0, range: { min: 1, max: 7 } }], dynamicAxis: null, maskInput: null });
    const viaJson = refusal(t, () => decodeInferRequest({ inputs: [{ name: 'ids', shape: [1, 2], datatype, data }] } as never, undefined, cc)).message;
    const bb = binary([{ name: 'ids', shape: [1, 2], datatype, bytes }]);
    return [viaJson, refusal(t, () => decodeInferRequest(bb.body, bb.tail, cc)).message];
  };
  t.same(small('INT32', [3, 8], Buffer.from(Int32Array.from([3, 8]).buffer)), ["inputs[0].data: element 1 of input 'ids' is 8, outside the range the models accept: [1, 7]", "inputs[0]: element 1 of input 'ids' is 8, outside the range the models accept: [1, 7]"]);
  t.same(small('UINT8', [0, 2], Buffer.from([0, 2])), ["inputs[0].data: element 0 of input 'ids' is 0, outside the range the models accept: [1, 7]", "inputs[0]: element 0 of input 'ids' is 0, outside the range the models accept: [1, 7]"]);
});

t.test("serve's banner example decodes", async (t) => {
  const d = decodeInferRequest(JSON.parse(exampleTensorBody(tokens)), undefined, kTokens).tensors!;
  t.equal(d.count, 1);
  t.equal(d.length, 4);
  t.same(Array.from(d.lengths!), [4], 'every position of the mask counts');
  const typed = contractOf({ inputs: [{ name: 'f', datatype: 'FP16', itemShape: [-1, 2], padValue: 0 }, { name: 'b', datatype: 'BOOL', itemShape: [-1], padValue: 0 }], dynamicAxis: 0, maskInput: null });
  t.ok(decodeInferRequest(JSON.parse(exampleTensorBody(typed.tensors!)), undefined, typed).tensors, 'FP16 and BOOL inputs');
  const ranged = contractOf({ ...tokens, inputs: [{ ...tokens.inputs[0], range: { min: 5, max: 9 } }, tokens.inputs[1]] });
  t.same(Array.from(decodeInferRequest(JSON.parse(exampleTensorBody(ranged.tensors!)), undefined, ranged).tensors!.tensors.input_ids as BigInt64Array), [5n, 5n, 5n, 5n], 'ids within the input\'s range');
});

t.test('any request: a decoded submission that fits, or a 4xx naming a field', async (t) => {
  const name = fc.constantFrom('input_ids', 'attention_mask', 'other', '');
  const datatype = fc.constantFrom('INT64', 'INT32', 'FP32', 'FP16', 'BOOL', 'UINT8', 'BYTES', '');
  const dim = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(2 ** 31, 1.5, -1));
  const value = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double(), fc.boolean(), fc.constant('1'), fc.constant(null), fc.constant(2 ** 60));
  const data = fc.oneof(fc.array(value, { maxLength: 40 }), fc.array(fc.array(value, { maxLength: 8 }), { maxLength: 6 }), fc.constant(undefined), fc.constant(5));
  const input = fc.record({ name, datatype, shape: fc.array(dim, { maxLength: 3 }), data, binary: fc.boolean() });
  const property = fc.property(fc.array(input, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 64 }), (inputs, tailBytes) => {
    const body = {
      inputs: inputs.map((i) => {
        const { binary, ...rest } = i;
        const elems = i.shape.reduce((a, b) => a * b, 1);
        return binary ? { name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: elems * 8 } } : rest;
      }),
    };
    const binary = inputs.some((i) => i.binary);
    let decoded;
    try {
      decoded = decodeInferRequest(body as never, binary ? Buffer.alloc(tailBytes, 1) : undefined, kTokens).tensors!;
    } catch (e) {
      if (!(e instanceof HttpError) || e.statusCode < 400 || e.statusCode >= 500) throw e;
      if (!/^(inputs|parameters|request body)/.test(e.message)) throw new Error(`message names no field: ${e.message}`);
      return;
    }
    // Accepted: every input, count items of `length` each, lengths within 1..length.
    for (const s of tokens.inputs) if (decoded.tensors[s.name].length !== decoded.count * decoded.length!) throw new Error(`${s.name}: ${decoded.tensors[s.name].length} elements`);
    for (const l of decoded.lengths!) if (!(l >= 1 && l <= decoded.length!)) throw new Error(`item length ${l}`);
  });
  const r = fc.check(property, { numRuns: 3000, seed: 13 });
  t.notOk(r.failed, r.failed ? `counterexample ${JSON.stringify(r.counterexample)}: ${String(r.errorInstance)}` : '3000 requests');
});
