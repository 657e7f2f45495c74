// Property-based fuzzing of the request decoder (codec.decodeInferRequest) and the binary
// tensor parser (codec.parseRequestBody: the Inference-Header-Content-Length split), with
// fast-check. The properties are shared: `npm test` runs a short run
// (test/reliability-fuzz.test.ts), `npm run fuzz:long` a long one (benchmarks/fuzz-long.ts:
// default 1,000,000 cases over the properties, written to fuzz-long.json under benchmarks/local/, or benchmarks/results/ with --record).
//
// Each property: for any input, the parser/decoder either returns a well-formed result or
// throws an HttpError with a 4xx status whose message is one line with no stack frame or path;
// never another exception. Valid requests decode to exactly the values sent.
import fc from 'fast-check';
import { decodeInferRequest, parseRequestBody, type InputContract } from '../ts/server/codec.js';
import { kMaxBudgetUs } from '../ts/engine/config.js';
import { HttpError } from '../ts/server/errors.js';

export const kContract: InputContract = { inputName: 'x', itemShape: [1, 4, 4], itemElems: 16, uint8Scale: 1 / 255, maxImagesPerRequest: 8 };
const kLeak = /\n|\bat [\w.<>]+ \(|\/(?:work|tmp|home|usr)\/|node_modules|\.(?:js|ts):\d+|TypeError|RangeError|ReferenceError/;

/** Outcomes over all runs so far: requests decoded and requests refused with a 4xx. */
export const kTally = { accepted: 0, refused: 0 };

/** The property every call must satisfy; returns the decoded request (or null on a 4xx). */
function outcome(run: () => ReturnType<typeof decodeInferRequest>): ReturnType<typeof decodeInferRequest> | null {
  try {
    const d = run();
    if (!Number.isInteger(d.items) || d.items < 1 || d.items > kContract.maxImagesPerRequest) throw new Error(`decoded ${d.items} items`);
    if (d.inputs.length !== d.items * kContract.itemElems) throw new Error(`decoded ${d.inputs.length} values for ${d.items} items`);
    for (const v of d.inputs) if (!Number.isFinite(v)) throw new Error(`decoded a non-finite value ${v}`);
    if (!(d.priority >= 1 && d.priority <= 16)) throw new Error(`priority ${d.priority}`);
    if (d.timeoutUs !== undefined && !(d.timeoutUs > 0 && d.timeoutUs <= kMaxBudgetUs)) throw new Error(`timeout ${d.timeoutUs}`);
    kTally.accepted++;
    return d;
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    if (e.statusCode < 400 || e.statusCode > 499) throw new Error(`status ${e.statusCode} for '${e.message}'`);
    if (typeof e.message !== 'string' || e.message.length === 0 || e.message.length > 400 || kLeak.test(e.message)) throw new Error(`bad message '${e.message}'`);
    kTally.refused++;
    return null;
  }
}

const decodeJson = (body: unknown) => outcome(() => decodeInferRequest(body as never, undefined, kContract));
const decodeBytes = (bytes: Uint8Array, headerLength: string | undefined) =>
  outcome(() => {
    const { header, tail } = parseRequestBody(Buffer.from(bytes), headerLength);
    return decodeInferRequest(header as never, tail ?? undefined, kContract);
  });

// Values near the edges of what the decoder checks.
const dim = fc.oneof(fc.constantFrom(-1, 0, 1, 2, 4, 8, 9, 16, 17, 2 ** 31, 2 ** 53, 1e12, 1.5, -0), fc.integer({ min: -3, max: 20 }));
const shape = fc.oneof(
  fc.array(dim, { maxLength: 5 }),
  fc.integer({ min: 1, max: 9 }).map((n) => [n, 16]),
  fc.integer({ min: 1, max: 9 }).map((n) => [n, 1, 4, 4]),
  fc.anything({ maxDepth: 1 }),
);
const number = fc.oneof(fc.double(), fc.integer({ min: -2, max: 300 }), fc.constantFrom(3.5e38, -3.5e38, 1e39, 255, 256, 0.5));
const data = fc.oneof(
  fc.array(number, { maxLength: 150 }),
  fc.integer({ min: 1, max: 9 }).chain((n) => fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: n * 16, maxLength: n * 16 })),
  fc.array(fc.array(number, { maxLength: 20 }), { maxLength: 9 }),
  fc.anything({ maxDepth: 3 }),
);
const parameterValue = fc.oneof(fc.string({ maxLength: 8 }), fc.double(), fc.boolean(), fc.integer({ min: -5, max: 100 }), fc.anything({ maxDepth: 1 }));
const parameters = fc.option(fc.dictionary(fc.constantFrom('timeout', 'priority', 'binary_data_output', 'binary_data_size', 'binary_data', 'other', '__proto__'), parameterValue, { maxKeys: 3 }), { nil: undefined });
const input = fc.record(
  {
    name: fc.oneof(fc.constant('x'), fc.string({ maxLength: 4 }), fc.anything({ maxDepth: 0 })),
    shape,
    datatype: fc.oneof(fc.constantFrom('FP32', 'UINT8', 'INT64', 'fp32', 'BYTES', '__proto__', 'constructor', 'toString'), fc.anything({ maxDepth: 0 })),
    data,
    parameters,
  },
  { requiredKeys: [] },
);
/** Request-shaped values: mostly close to valid, with every field sometimes wrong. */
export const arbRequest = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 6 }), fc.anything({ maxDepth: 0 })),
    parameters,
    inputs: fc.oneof(fc.array(input, { minLength: 1, maxLength: 2 }), fc.anything({ maxDepth: 1 })),
    outputs: fc.oneof(
      fc.array(fc.record({ name: fc.oneof(fc.constantFrom('probabilities', 'class', 'certainty', 'exit_stage', 'logits', '__proto__'), fc.anything({ maxDepth: 0 })), parameters }, { requiredKeys: [] }), { maxLength: 5 }),
      fc.anything({ maxDepth: 1 }),
    ),
  },
  { requiredKeys: ['inputs'] },
);

/** A binary-extension body: a JSON header (near valid) and a tail of FP32/UINT8 bytes or noise. */
const arbBinary = fc
  .record({
    n: fc.integer({ min: 1, max: 9 }),
    datatype: fc.constantFrom('FP32', 'UINT8', 'INT64'),
    sizeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -70, max: 70 })),
    tailDelta: fc.oneof(fc.constant(0), fc.integer({ min: -8, max: 8 })),
    values: fc.array(fc.float(), { maxLength: 160 }),
    lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -30, max: 30 })),
    lengthText: fc.option(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('-1', '0', '1', '1e3', '0x10', ' 12', '99999999999999999999')), { nil: undefined }),
    noise: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  })
  .map((o) => {
    const per = o.datatype === 'UINT8' ? 1 : 4;
    const size = o.n * 16 * per + o.sizeDelta;
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [o.n, 16], datatype: o.datatype, parameters: { binary_data_size: size } }] }));
    const f = new Float32Array(Math.max(0, Math.ceil((o.n * 16 * per + o.tailDelta) / 4)));
    for (let i = 0; i < f.length; i++) f[i] = o.values.length ? o.values[i % o.values.length] : 0;
    const tail = Buffer.from(f.buffer).subarray(0, Math.max(0, o.n * 16 * per + o.tailDelta));
    const bytes = Buffer.concat([header, o.noise ? Buffer.from(o.noise) : tail]);
    return { bytes: new Uint8Array(bytes), headerLength: o.lengthText ?? String(header.length + o.lengthDelta) };
  });

export interface FuzzProperty {
  name: string;
  property: fc.IProperty<never> | fc.IProperty<unknown[]>;
}

export function fuzzProperties(): FuzzProperty[] {
  return [
    { name: 'decoder: any JSON value', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => void decodeJson(v)) },
    { name: 'decoder: request-shaped values', property: fc.property(arbRequest, (v) => void decodeJson(v)) },
    {
      name: 'parser: arbitrary bytes and header lengths',
      property: fc.property(fc.uint8Array({ maxLength: 200 }), fc.option(fc.oneof(fc.string({ maxLength: 8 }), fc.nat({ max: 220 }).map(String)), { nil: undefined }), (b, h) => void decodeBytes(b, h)),
    },
    { name: 'parser: binary-extension bodies', property: fc.property(arbBinary, ({ bytes, headerLength }) => void decodeBytes(bytes, headerLength)) },
    {
      name: 'round trip: JSON and binary give exactly the values sent',
      property: fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 128 }), (n, pool) => {
        const values = Float32Array.from({ length: n * 16 }, (_, i) => pool[i % pool.length]);
        const viaJson = decodeJson({ inputs: [{ name: 'x', shape: [n, 1, 4, 4], datatype: 'FP32', data: Array.from(values) }] });
        const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [n, 16], datatype: 'FP32', parameters: { binary_data_size: values.byteLength } }] }));
        const viaBinary = decodeBytes(new Uint8Array(Buffer.concat([header, Buffer.from(values.buffer)])), String(header.length));
        if (!viaJson || !viaBinary) throw new Error('a valid request was refused');
        for (let i = 0; i < values.length; i++) {
          if (!Object.is(viaJson.inputs[i], values[i]) || !Object.is(viaBinary.inputs[i], values[i])) throw new Error(`value ${i} changed`);
        }
      }),
    },
  ];
}

export interface FuzzRun {
  name: string;
  runs: number;
  seconds: number;
  failed: boolean;
  counterexample?: string;
}

/** Runs every property `runsEach` times; returns one record per property. */
export function runFuzz(runsEach: number, seed?: number): FuzzRun[] {
  return fuzzProperties().map(({ name, property }) => {
    const t0 = performance.now();
    const r = fc.check(property as fc.IProperty<unknown[]>, { numRuns: runsEach, seed, endOnFailure: true });
    const run: FuzzRun = { name, runs: r.numRuns, seconds: (performance.now() - t0) / 1000, failed: r.failed };
    if (r.failed) run.counterexample = `${fc.stringify(r.counterexample)} (seed ${r.seed}, path ${r.counterexamplePath}): ${String(r.errorInstance)}`;
    return run;
  });
}
