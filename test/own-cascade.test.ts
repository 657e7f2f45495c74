// A user's own cascade end to end (#13): the token fixture (two INT64 inputs, a dynamic
// sequence axis) copied to a temporary folder goes through exactly the commands a user runs,
// `cascadeserve init DIR`, `profile`, `plan` and `serve --plan`, as processes; one-item
// requests of varying length are then sent at once (JSON and binary alike, so that the engine
// forms mixed-length batches), and every answer must equal onnxruntime-node run here on the
// unpadded item by the model the response names: probabilities within 1e-4, and the exit
// where the plan's thresholds put it (an item within 1e-5 of a threshold may exit at a
// neighbouring stage). A request of several items padded by the client with mask 0 is
// answered per item the same way, and so are gRPC requests (typed contents and raw bytes).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import * as ort from 'onnxruntime-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { kLoaderOptions, protoPath } from '../ts/server/grpc/service.js';
import { fixture, root as repoRoot } from '../testkit/paths.js';
import { initProfilePlan, runCli, startServeProcess } from '../testkit/serve-process.js';
import { certaintyOf, exitMismatch, probabilitiesOf, type PlanGearStages } from './helpers/cascade-oracle.js';

const kFixture = fixture('token-cascade');
const kProbTolerance = 1e-4;
const kThresholdTolerance = 1e-5;
/** The fixture's vocabulary, from its trainer (`VOCAB = 12`): ids 0..VOCAB-1 have embedding rows. */
const kVocab = Number(/^VOCAB = (\d+)/m.exec(readFileSync(join(repoRoot, 'scripts', 'train-token-cascade.py'), 'utf8'))![1]);

/** A little-endian C-order .npy file (the fixture's data), read here without the project's reader. */
function readNpy(path: string): { shape: number[]; values: number[] } {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const body = Uint8Array.prototype.slice.call(buf, start).buffer;
  const views: Record<string, (b: ArrayBuffer) => ArrayLike<number | bigint>> = {
    '<i8': (b) => new BigInt64Array(b),
    '<i4': (b) => new Int32Array(b),
    '<f4': (b) => new Float32Array(b),
    '|u1': (b) => new Uint8Array(b),
    '|b1': (b) => new Uint8Array(b),
    '<u1': (b) => new Uint8Array(b),
  };
  const view = views[descr];
  if (!view) throw new Error(`${path}: dtype ${descr} not read by this test`);
  return { shape, values: Array.from(view(body), Number) };
}

interface ManifestJson {
  name: string;
  inputs: { name: string; datatype: string; shape: number[]; range?: { min: number; max: number } }[];
  maskInput?: string;
  models: { name: string; file: string; output: string; outputKind: 'logits' | 'probabilities' }[];
}
interface PlanJson {
  gears: PlanGearStages[];
}
interface InferResponse {
  outputs: { name: string; shape: number[]; data: (number | string)[]; parameters: Record<string, number | string> }[];
}

t.test('init -> profile -> plan -> serve on the token cascade answers as onnxruntime-node', async (t) => {
  t.ok(existsSync(kFixture), `the fixture ${kFixture} exists`);
  const dir = mkdtempSync(join(tmpdir(), 'cs-own-cascade-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(kFixture, dir, { recursive: true });
  // What the commands write, so that none is read from the fixture.
  for (const f of ['cascade.json', 'profile.json', 'plan.json']) rmSync(join(dir, f), { force: true });

  // Exit 0 from every step, plan included: its default grid tops out at what the cheapest
  // cascade holds under the utilization cap, so no level is unservable (exit 3).
  const failed = await initProfilePlan(dir);
  if (failed) {
    t.fail(failed);
    return;
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8')) as ManifestJson;
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as PlanJson;
  t.same(
    manifest.inputs.map((i) => [i.name, i.datatype, i.shape]),
    [
      ['input_ids', 'INT64', [-1]],
      ['attention_mask', 'INT64', [-1]],
    ],
    'init found the two INT64 inputs with a dynamic axis',
  );

  // The data's items, each cut to its own length.
  const data = Object.fromEntries(manifest.inputs.map((i) => [i.name, readNpy(join(dir, 'data', `${i.name}.npy`))]));
  const [count, padded] = data.input_ids.shape;
  const lengthsFile = join(dir, 'data', 'lengths.npy');
  const lengthOf = existsSync(lengthsFile)
    ? (() => {
        const l = readNpy(lengthsFile).values;
        return (i: number) => l[i];
      })()
    : (i: number) => {
        const m = data.attention_mask.values;
        let n = 0;
        while (n < padded && m[i * padded + n] !== 0) n++;
        return n;
      };
  const item = (i: number, name: string) => data[name].values.slice(i * padded, i * padded + lengthOf(i));

  // The reference: every model with onnxruntime-node, on the unpadded item.
  const sessions = new Map<string, ort.InferenceSession>();
  for (const m of manifest.models) sessions.set(m.name, await ort.InferenceSession.create(join(dir, m.file.replace(/^.*[\\/]/, '')), { intraOpNumThreads: 1 }));
  t.teardown(async () => {
    for (const s of sessions.values()) await s.release();
  });
  const reference = async (i: number, model: string): Promise<number[]> => {
    const m = manifest.models.find((x) => x.name === model)!;
    const len = lengthOf(i);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of manifest.inputs) feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from(item(i, input.name), BigInt), [1, len]);
    const out = await sessions.get(model)!.run(feeds);
    return probabilitiesOf(out[m.output].data as Float32Array, m.outputKind);
  };

  // REST on a free port, and gRPC on another (--port 0 without --grpc-port).
  const server = await startServeProcess(['--plan', join(dir, 'plan.json'), '--port', '0']);
  t.teardown(() => server.stop());
  const infer = `${server.url}/v2/models/${manifest.name}/infer`;

  const meta = await (await fetch(`${server.url}/v2/models/${manifest.name}`)).json();
  t.same(
    meta.inputs,
    [
      { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
      { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
    ],
    'model metadata lists both inputs with -1 for the dynamic axis',
  );
  const config = await (await fetch(`${server.url}/v2/models/${manifest.name}/config`)).json();
  t.same(
    config.input.map((i: { name: string; data_type: string; dims: number[] }) => [i.name, i.data_type, i.dims]),
    [
      ['input_ids', 'TYPE_INT64', [-1]],
      ['attention_mask', 'TYPE_INT64', [-1]],
    ],
    'the model configuration lists both inputs, dims -1 on the dynamic axis',
  );
  const member = await (await fetch(`${server.url}/v2/models/${manifest.name}.${manifest.models[0].name}`)).json();
  t.same(member.inputs, meta.inputs, 'a member model takes the same inputs');

  /** One item, unpadded, as JSON or as binary tensors; a long timeout: a loaded machine is slow, not wrong. */
  const send = async (i: number, binary: boolean): Promise<InferResponse> => {
    const len = lengthOf(i);
    const inputs = manifest.inputs.map((input) => ({ name: input.name, shape: [1, len], datatype: 'INT64' }));
    const parameters = { timeout: 60_000_000 };
    const outputs = [{ name: 'probabilities' }];
    let res: Response;
    if (binary) {
      const tail = Buffer.concat(manifest.inputs.map((input) => Buffer.from(BigInt64Array.from(item(i, input.name), BigInt).buffer)));
      const header = Buffer.from(JSON.stringify({ parameters, outputs, inputs: inputs.map((x) => ({ ...x, parameters: { binary_data_size: len * 8 } })) }));
      res = await fetch(infer, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) }, body: Buffer.concat([header, tail]) });
    } else {
      const body = { parameters, outputs, inputs: inputs.map((x) => ({ ...x, data: item(i, x.name) })) };
      res = await fetch(infer, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    }
    const text = await res.text();
    if (res.status !== 200) throw new Error(`item ${i}: ${res.status} ${text}`);
    return JSON.parse(text) as InferResponse;
  };

  /** Whether `model` answering at `stage` of gear `gearId` is where the thresholds send item i. */
  const checkExit = (i: number, gearId: number, stage: number, model: string) =>
    exitMismatch(plan.gears, gearId, stage, model, async (m, mu) => certaintyOf(await reference(i, m), mu, 'probabilities').certainty, kThresholdTolerance);


  // Up to 96 items spread over the data (so of many lengths), sent all at once.
  const picks = Array.from({ length: Math.min(count, 96) }, (_, k) => Math.floor((k * count) / Math.min(count, 96)));
  const lengths = new Set(picks.map(lengthOf));
  t.ok(lengths.size >= 4, `the items have several lengths (${[...lengths].sort((a, b) => a - b).join(', ')})`);
  const answers = await Promise.all(picks.map((i, k) => send(i, k % 2 === 1)));
  let worst = 0;
  const wrong: string[] = [];
  const byModel = new Map<string, number>();
  for (const [k, i] of picks.entries()) {
    const out = answers[k].outputs[0];
    const model = out.parameters.model as string;
    byModel.set(model, (byModel.get(model) ?? 0) + 1);
    const want = await reference(i, model);
    const got = out.data as number[];
    for (let c = 0; c < want.length; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
    if (got.length !== want.length) wrong.push(`item ${i}: ${got.length} probabilities, want ${want.length}`);
    const exit = await checkExit(i, out.parameters.gear as number, out.parameters.exit_stage as number, model);
    if (exit) wrong.push(`item ${i}: ${exit}`);
  }
  t.same(wrong, [], 'every item exits where the thresholds put it');
  t.ok(worst <= kProbTolerance, `probabilities within ${kProbTolerance} of onnxruntime-node on the unpadded item (worst ${worst})`);
  t.comment(`${picks.length} items; answered by ${[...byModel].map(([m, n]) => `${m} ${n}`).join(', ')}`);
  // The engine batched items of different lengths together: batch assembly added padding.
  const stats = await (await fetch(`${server.url}/v2/models/${manifest.name}/stats`)).json();
  const padding = stats.model_stats[0].cascade.padding as { model: string; item_positions: number; padded_positions: number }[];
  t.same(padding.map((p) => p.model).sort(), manifest.models.map((m) => m.name).sort(), 'padding figures for every model');
  const paddedPositions = padding.reduce((a, p) => a + p.padded_positions, 0);
  const itemPositions = padding.reduce((a, p) => a + p.item_positions, 0);
  t.ok(paddedPositions > 0, `mixed-length batches formed: ${paddedPositions} padded positions over ${itemPositions} item positions`);

  // Several items in one request, padded by the client to the longest with mask 0.
  const few = picks.slice(0, 4);
  const longest = Math.max(...few.map(lengthOf));
  const paddedTo = (i: number, name: string) => [...item(i, name), ...Array(longest - lengthOf(i)).fill(0)];
  const res = await fetch(infer, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      outputs: [{ name: 'probabilities' }, { name: 'model' }],
      inputs: manifest.inputs.map((input) => ({ name: input.name, shape: [few.length, longest], datatype: 'INT64', data: few.map((i) => paddedTo(i, input.name)) })),
    }),
  });
  t.equal(res.status, 200, 'a padded request of several items is answered');
  const several = (await res.json()) as InferResponse;
  const probs = several.outputs.find((o) => o.name === 'probabilities')!;
  const models = several.outputs.find((o) => o.name === 'model')!.data as string[];
  const classes = probs.shape[1];
  let worstSeveral = 0;
  for (const [k, i] of few.entries()) {
    const want = await reference(i, models[k]);
    for (let c = 0; c < classes; c++) worstSeveral = Math.max(worstSeveral, Math.abs((probs.data[k * classes + c] as number) - want[c]));
  }
  t.ok(worstSeveral <= kProbTolerance, `each padded item as onnxruntime-node on it unpadded (worst ${worstSeveral})`);

  // A member model alone answers as onnxruntime-node on the item.
  const solo = manifest.models[manifest.models.length - 1].name;
  const i0 = picks[picks.length - 1];
  const soloRes = await fetch(`${server.url}/v2/models/${manifest.name}.${solo}/infer`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ inputs: manifest.inputs.map((input) => ({ name: input.name, shape: [1, lengthOf(i0)], datatype: 'INT64', data: item(i0, input.name) })) }),
  });
  t.equal(soloRes.status, 200, `member model ${manifest.name}.${solo} answers`);
  const soloOut = ((await soloRes.json()) as InferResponse).outputs[0];
  t.equal(soloOut.parameters.model, solo);
  const soloWant = await reference(i0, solo);
  t.ok(soloWant.every((p, c) => Math.abs((soloOut.data[c] as number) - p) <= kProbTolerance), `${solo} alone as onnxruntime-node`);

  // gRPC: one item in typed int64_contents, another in raw_input_contents.
  const grpcAddress = /"grpc":"([^"]+)"/.exec(server.log())?.[1];
  t.ok(grpcAddress, 'serve logs its gRPC address');
  const definition = protoLoader.loadSync(protoPath(), kLoaderOptions);
  const Service = (grpc.loadPackageDefinition(definition).inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  const client = new Service(grpcAddress!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const modelInfer = (request: unknown) =>
    new Promise<{ outputs: { parameters: Record<string, { string_param?: string }>; contents?: { fp32_contents: number[] } }[]; raw_output_contents: Buffer[] }>((resolve, reject) =>
      client.ModelInfer(request, (e: Error | null, r: never) => (e ? reject(e) : resolve(r))),
    );
  for (const [k, i] of [picks[1], picks[2]].entries()) {
    const raw = k === 1;
    const len = lengthOf(i);
    const inputs = manifest.inputs.map((input) => ({ name: input.name, datatype: 'INT64', shape: [1, len], ...(raw ? {} : { contents: { int64_contents: item(i, input.name) } }) }));
    const request = { model_name: manifest.name, inputs, ...(raw ? { raw_input_contents: manifest.inputs.map((input) => Buffer.from(BigInt64Array.from(item(i, input.name), BigInt).buffer)) } : {}) };
    const r = await modelInfer(request);
    const model = r.outputs[0].parameters.model.string_param!;
    const got = raw ? Array.from(new Float32Array(new Uint8Array(r.raw_output_contents[0]).buffer)) : r.outputs[0].contents!.fp32_contents;
    const want = await reference(i, model);
    t.ok(want.every((p, c) => Math.abs(got[c] - p) <= kProbTolerance), `gRPC ${raw ? 'raw_input_contents' : 'int64_contents'}: item ${i} (length ${len}) as onnxruntime-node on ${model}`);
  }

  // A wrong request is a 400 naming the input.
  const bad = await fetch(infer, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input_ids', shape: [1, 2], datatype: 'INT64', data: [1, 2] }] }),
  });
  t.equal(bad.status, 400);
  t.match((await bad.json()).error, /missing input 'attention_mask'/);

  // A token id past the vocabulary is a 400 naming input_ids, decided before the engine: valid
  // requests sent at the same time (which the engine could batch with it) are answered.
  t.same(manifest.inputs[0].range, { min: 0, max: kVocab - 1 }, 'init recorded the vocabulary as the range of input_ids');
  const outside = (i: number, id: number, binary: boolean) => {
    const ids = item(i, 'input_ids');
    ids[Math.floor(ids.length / 2)] = id;
    const mask = item(i, 'attention_mask');
    const inputs = [
      { name: 'input_ids', shape: [1, ids.length], datatype: 'INT64', values: ids },
      { name: 'attention_mask', shape: [1, ids.length], datatype: 'INT64', values: mask },
    ];
    if (!binary) {
      return fetch(infer, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: inputs.map(({ values, ...x }) => ({ ...x, data: values })) }) });
    }
    const header = Buffer.from(JSON.stringify({ inputs: inputs.map(({ values, ...x }) => ({ ...x, parameters: { binary_data_size: values.length * 8 } })) }));
    const tail = Buffer.concat(inputs.map((x) => Buffer.from(BigInt64Array.from(x.values, BigInt).buffer)));
    return fetch(infer, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) }, body: Buffer.concat([header, tail]) });
  };
  const failuresNow = async (): Promise<Record<string, number>> => (await (await fetch(`${server.url}/v2/models/${manifest.name}/stats`)).json()).model_stats[0].cascade.failures;
  const before = await failuresNow();
  const mixed = picks.slice(0, 12);
  const [badJson, badBinary, badLarge, ...valid] = await Promise.all([
    outside(mixed[0], kVocab, false),
    outside(mixed[1], kVocab, true),
    outside(mixed[2], 999999, false),
    ...mixed.map((i, k) => send(i, k % 2 === 1).then(() => 200, (e: Error) => e.message)),
  ]);
  for (const [what, r, v] of [['JSON', badJson, kVocab], ['binary', badBinary, kVocab], ['JSON', badLarge, 999999]] as const) {
    t.equal(r.status, 400, `${what}: id ${v} is a 400`);
    t.match((await r.json()).error, new RegExp(`^inputs\\[0\\](\\.data)?: element \\d+ of input 'input_ids' is ${v}, outside the range the models accept: \\[0, ${kVocab - 1}\\]`), `${what}: names input_ids, the id and the range`);
  }
  t.same(valid, mixed.map(() => 200), 'the valid requests sent with them are answered 200');
  const grpcBad = await modelInfer({
    model_name: manifest.name,
    inputs: manifest.inputs.map((input) => ({ name: input.name, datatype: 'INT64', shape: [1, 3], contents: { int64_contents: input.name === 'input_ids' ? [1, kVocab, 2] : [1, 1, 1] } })),
  }).then(
    () => null,
    (e: grpc.ServiceError) => e,
  );
  t.equal(grpcBad?.code, grpc.status.INVALID_ARGUMENT, 'gRPC: INVALID_ARGUMENT');
  t.match(grpcBad?.details, new RegExp(`input 'input_ids' is ${kVocab}, outside the range the models accept: \\[0, ${kVocab - 1}\\]`));
  const after = await failuresNow();
  t.equal(after.backend, 0, 'no model failed in the engine');
  t.equal(after.invalid - before.invalid, 4, 'the four out-of-range requests counted as invalid');
});
