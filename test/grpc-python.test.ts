// The gRPC service through an independent client (Python grpcio, stubs generated from the
// shipped .proto at test time): health, metadata, configuration, statistics, typed and raw
// inference, batches, 32 concurrent calls, every error status, the bearer token, and answers
// bit-identical to REST's for the same inputs (the fixture plan has one gear).
import t from 'tap';
import { protoPath } from '../ts/server/grpc/service.js';
import { b64, fromB64, pythonGrpcMissing, PythonGrpcClient, type GrpcAnswer } from './helpers/python-grpc.js';
import { binaryRequest, items, jsonRequest, kClasses, kItemElems, parseBinaryResponse, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const missing = pythonGrpcMissing();
if (missing) {
  // Not a skip: the project's set-up installs the client (scripts/install-test-deps.sh).
  t.fail(missing);
} else {
  t.test('gRPC through Python grpcio', async (t) => {
    const { url, server, stop } = await startFixtureServer({}, { maxImagesPerRequest: 8, maxInFlightImages: 40, bodyLimit: 64 * 1024, grpcPort: 0 });
    t.teardown(stop);
    const address = server.grpcAddress;
    t.ok(address, 'the gRPC service listens');
    const client = await PythonGrpcClient.start(protoPath(), address!);
    t.teardown(() => client.close());
    const ok = (a: GrpcAnswer, what: string) => {
      if (!a.ok) t.fail(`${what}: ${a.code} ${a.details}`);
      return a.ok ? a.response : null;
    };
    const infer = (request: Record<string, unknown>, extra: { metadata?: [string, string][]; timeout_s?: number } = {}) =>
      client.call({ call: 'ModelInfer', request: { model_name: 'fixture', ...request }, ...extra });
    const typedInput = (x: Float32Array) => ({ name: 'x', datatype: 'FP32', shape: [x.length / kItemElems, kItemElems], contents: { fp32_contents: Array.from(x) } });
    const rawInput = (x: Float32Array) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [x.length / kItemElems, kItemElems] }], raw_input_contents: [b64(x)] });
    const allOutputs = [{ name: 'probabilities' }, { name: 'class' }, { name: 'certainty' }, { name: 'exit_stage' }];

    t.test('health, metadata, configuration', async (t) => {
      t.same(ok(await client.call({ call: 'ServerLive' }), 'ServerLive'), { live: true });
      t.same(ok(await client.call({ call: 'ServerReady' }), 'ServerReady'), { ready: true });
      for (const name of ['fixture', 'fixture.small', 'fixture.gather']) {
        t.same(ok(await client.call({ call: 'ModelReady', request: { name } }), 'ModelReady'), { ready: true }, `${name} ready`);
        const meta = ok(await client.call({ call: 'ModelMetadata', request: { name, version: '1' } }), 'ModelMetadata');
        const rest = await (await fetch(`${url}/v2/models/${name}`)).json();
        t.same(numbersLike(meta, rest), rest, `${name}: gRPC metadata equals REST's`);
      }
      const sm = ok(await client.call({ call: 'ServerMetadata' }), 'ServerMetadata');
      t.same(sm, await (await fetch(`${url}/v2`)).json(), 'server metadata equals REST');
      t.ok(sm.extensions.includes('model_configuration') && sm.extensions.includes('model_repository'));
      for (const name of ['fixture', 'fixture.gather']) {
        const c = ok(await client.call({ call: 'ModelConfig', request: { name } }), 'ModelConfig').config;
        const rest = await (await fetch(`${url}/v2/models/${name}/config`)).json();
        t.same(numbersLike(c, rest), rest, `${name}: gRPC configuration equals REST's`);
      }
      t.equal(ok(await client.call({ call: 'ModelConfig', request: { name: 'fixture' } }), 'ModelConfig').config.input[0].data_type, 'TYPE_FP32');
    });

    t.test('typed and raw inference equal REST bit for bit', async (t) => {
      const x = items(5, 21);
      // REST, binary outputs: the reference bytes.
      const b = binaryRequest(x, { id: 'r', parameters: { binary_data_output: true }, outputs: allOutputs });
      const r = await fetch(`${url}/v2/models/fixture/infer`, { method: 'POST', headers: b.headers, body: b.body });
      t.equal(r.status, 200);
      const rest = parseBinaryResponse(Buffer.from(await r.arrayBuffer()), Number(r.headers.get('inference-header-content-length')));

      const raw = ok(await infer({ id: 'g-raw', ...rawInput(x), outputs: allOutputs }), 'raw ModelInfer');
      t.equal(raw.id, 'g-raw', 'id echoed');
      t.equal(raw.model_name, 'fixture');
      t.equal(raw.model_version, '1');
      t.same(
        raw.outputs.map((o: { name: string; datatype: string; shape: string[] }) => [o.name, o.datatype, o.shape.map(Number)]),
        rest.header.outputs.map((o) => [o.name, (o as unknown as { datatype: string }).datatype, o.shape]),
        'names, datatypes and shapes as REST',
      );
      t.equal(raw.raw_output_contents.length, 4, 'raw outputs for a raw request');
      raw.raw_output_contents.forEach((s: string, i: number) => t.ok(fromB64(s).equals(rest.blobs[i]), `${allOutputs[i].name}: raw bytes equal REST binary bytes`));
      // Output parameters: the same figures, typed as protobuf's oneof.
      const p = raw.outputs[0].parameters;
      const restP = rest.header.outputs[0].parameters;
      // A parameter keeps one type whatever the batch; one shared by every image is present.
      type Param = { string_param?: string; int64_param?: string; double_param?: number; bool_param?: boolean } | undefined;
      const value = (q: Param) => (q === undefined ? undefined : q.string_param ?? (q.int64_param !== undefined ? Number(q.int64_param) : q.double_param ?? q.bool_param));
      t.equal(Number(p.gear.int64_param), restP.gear, 'gear parameter');
      t.equal(value(p.exit_stage), restP.exit_stage, 'exit stage parameter as REST');
      t.equal(value(p.model), restP.model, 'model parameter as REST');

      // Typed: contents per datatype, the same values as REST's JSON.
      const typed = ok(await infer({ inputs: [typedInput(x)], outputs: allOutputs }), 'typed ModelInfer');
      t.same(typed.raw_output_contents, [], 'typed outputs for a typed request');
      const json = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x, { outputs: allOutputs }));
      t.same(typed.outputs[0].contents.fp32_contents.map(Math.fround), json.json.outputs[0].data, 'probabilities (fp32_contents)');
      t.same(typed.outputs[1].contents.int64_contents.map(Number), json.json.outputs[1].data, 'class (int64_contents)');
      t.same(typed.outputs[2].contents.fp32_contents.map(Math.fround), json.json.outputs[2].data, 'certainty (fp32_contents)');
      t.same(typed.outputs[3].contents.int_contents, json.json.outputs[3].data, 'exit_stage (int_contents)');
      const f32 = new Float32Array(typed.outputs[0].contents.fp32_contents);
      t.ok(Buffer.from(f32.buffer).equals(rest.blobs[0]), 'typed probabilities are the same float32 values bit for bit');
      // The BYTES output naming each image's answering model: bytes_contents, as REST's strings.
      const named = ok(await infer({ inputs: [typedInput(x)], outputs: [{ name: 'model' }] }), 'model output');
      const namedRest = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x, { outputs: [{ name: 'model' }] }));
      t.same(named.outputs[0].contents.bytes_contents.map((b: string) => fromB64(b).toString('utf8')), namedRest.json.outputs[0].data, 'model (bytes_contents) as REST');

      // The default output and the request-level switch between raw and typed.
      const dflt = ok(await infer({ inputs: [typedInput(x)] }), 'default output');
      t.same(dflt.outputs.map((o: { name: string }) => o.name), ['probabilities']);
      const rawOut = ok(await infer({ inputs: [typedInput(x)], parameters: { binary_data_output: { bool_param: true } } }), 'binary_data_output');
      t.ok(fromB64(rawOut.raw_output_contents[0]).equals(rest.blobs[0]), 'typed input, raw output on request');

      // UINT8 pixels (typed uint_contents and raw bytes) give the same answer.
      const u8 = new Uint8Array(2 * kItemElems).map((_, i) => (i * 37) % 8);
      const u8typed = ok(await infer({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [2, kItemElems], contents: { uint_contents: Array.from(u8) } }], parameters: { binary_data_output: { bool_param: true } } }), 'UINT8 typed');
      const u8raw = ok(await infer({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [2, kItemElems] }], raw_input_contents: [b64(u8)] }), 'UINT8 raw');
      t.equal(u8typed.raw_output_contents[0], u8raw.raw_output_contents[0], 'UINT8 typed and raw agree');
      const u8rest = await postJson(`${url}/v2/models/fixture/infer`, { inputs: [{ name: 'x', datatype: 'UINT8', shape: [2, kItemElems], data: Array.from(u8) }] });
      t.same(Array.from(new Float32Array(new Uint8Array(fromB64(u8raw.raw_output_contents[0])).buffer)), u8rest.json.outputs[0].data, 'UINT8 as REST');
    });

    t.test('batches and 32 concurrent calls', async (t) => {
      const x = items(8, 5);
      const one = ok(await infer(rawInput(x)), 'batch of 8');
      t.same(one.outputs[0].shape.map(Number), [8, kClasses]);
      // The same 8 images one at a time: each row equals its row in the batch.
      const batch = fromB64(one.raw_output_contents[0]);
      for (let i = 0; i < 8; i++) {
        const single = ok(await infer(rawInput(x.subarray(i * kItemElems, (i + 1) * kItemElems))), `image ${i}`);
        t.ok(fromB64(single.raw_output_contents[0]).equals(batch.subarray(i * kClasses * 4, (i + 1) * kClasses * 4)), `image ${i} alone equals its row of the batch`);
      }
      const before = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].inference_stats.success.count;
      const answers = await client.concurrent({ call: 'ModelInfer', request: { model_name: 'fixture', ...rawInput(items(1, 77)) } }, 32);
      t.equal(answers.length, 32);
      t.equal(answers.filter((a) => a.ok).length, 32, 'all 32 answered OK');
      const first = answers[0].ok ? answers[0].response.raw_output_contents[0] : '';
      t.ok(answers.every((a) => a.ok && a.response.raw_output_contents[0] === first), 'the same answer 32 times');
      const after = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].inference_stats.success.count;
      t.equal(after - before, 32, 'the 32 calls counted in the model statistics');
      const stats = ok(await client.call({ call: 'ModelStatistics', request: { name: 'fixture' } }), 'ModelStatistics').model_stats[0];
      t.equal(Number(stats.inference_stats.success.count), after, 'ModelStatistics over gRPC equals REST /stats');
      const all = ok(await client.call({ call: 'ModelStatistics' }), 'all statistics');
      t.equal(all.model_stats.length, 3);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      t.match(metrics, new RegExp(`nv_inference_request_success\\{model="fixture",version="1"\\} ${after}\\b`), 'gRPC requests in the Prometheus metrics');
    });

    t.test('every error status', async (t) => {
      const expectError = (a: GrpcAnswer, code: string, details: RegExp, what: string) => {
        if (a.ok) return t.fail(`${what}: expected ${code}, got OK`);
        t.equal(a.code, code, `${what}: ${code}`);
        t.match(a.details, details, `${what}: '${a.details}'`);
        t.notMatch(a.details, /\n\s+at |\/work\/|node_modules|\.js:\d+/, `${what}: no stack or path`);
      };
      const x = items(2, 3);
      expectError(await client.call({ call: 'ModelMetadata', request: { name: 'nope' } }), 'NOT_FOUND', /unknown model 'nope'/, 'unknown model');
      expectError(await client.call({ call: 'ModelReady', request: { name: 'fixture', version: '2' } }), 'NOT_FOUND', /no version '2'/, 'unknown version');
      expectError(await infer({ model_name: 'nope', inputs: [typedInput(x)] }), 'NOT_FOUND', /unknown model/, 'infer, unknown model');
      expectError(await infer({ inputs: [{ ...typedInput(x), name: 'y' }] }), 'INVALID_ARGUMENT', /inputs\[0\]\.name: expected 'x'/, 'wrong input name');
      expectError(await infer({ inputs: [{ ...typedInput(x), shape: [2, 15] }] }), 'INVALID_ARGUMENT', /inputs\[0\]\.shape/, 'wrong shape');
      expectError(await infer({ inputs: [{ ...typedInput(x), datatype: 'FP64' }] }), 'INVALID_ARGUMENT', /inputs\[0\]\.datatype: expected FP32 or UINT8/, 'unsupported datatype');
      expectError(await infer({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, kItemElems], contents: { int_contents: [1, 2] } }] }), 'INVALID_ARGUMENT', /fp32_contents/, 'contents in the wrong field');
      expectError(await infer({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, kItemElems] }] }), 'INVALID_ARGUMENT', /inputs\[0\]\.contents: missing/, 'no contents');
      expectError(await infer({ inputs: [{ ...typedInput(x), contents: { fp32_contents: [1, 2, 3] } }] }), 'INVALID_ARGUMENT', /inputs\[0\]\.contents: expected 32 values/, 'too few values');
      expectError(await infer({ ...rawInput(x), raw_input_contents: [b64(x.subarray(0, 20))] }), 'INVALID_ARGUMENT', /raw_input_contents\[0\]/, 'raw size mismatch');
      const nan = x.slice();
      nan[3] = NaN;
      expectError(await infer(rawInput(nan)), 'INVALID_ARGUMENT', /element 3 .*NaN.*finite/, 'NaN in raw FP32');
      expectError(await infer({ ...rawInput(x), raw_input_contents: [b64(x), b64(x)] }), 'INVALID_ARGUMENT', /raw_input_contents: expected one entry per input/, 'raw count mismatch');
      expectError(await infer({ inputs: [typedInput(x)], parameters: { priority: { string_param: 'high' } } }), 'INVALID_ARGUMENT', /parameters\.priority/, 'bad priority');
      expectError(await infer({ inputs: [typedInput(x)], outputs: [{ name: 'logits' }] }), 'INVALID_ARGUMENT', /outputs\[0\]\.name: unknown output 'logits'/, 'unknown output');
      // 413 and 429: RESOURCE_EXHAUSTED; 429 with Retry-After as a trailer.
      expectError(await infer(rawInput(items(9, 1))), 'RESOURCE_EXHAUSTED', /9 items in one request, the server accepts at most 8/, 'too many images (413)');
      expectError(await infer(rawInput(new Float32Array(1100 * kItemElems))), 'RESOURCE_EXHAUSTED', /larger than max|Received message larger/i, 'message over the body limit (413)');
      // 429: five held calls of 8 images fill the 40 in flight the server allows.
      server.engine.pause();
      // A second client holds them (each client runs one command at a time).
      const holder = await PythonGrpcClient.start(protoPath(), address!);
      t.teardown(() => holder.close());
      const held = holder.concurrent({ call: 'ModelInfer', request: { model_name: 'fixture', ...rawInput(items(8, 4)), parameters: { timeout: { int64_param: 5_000_000 } } } }, 5);
      await waitFor(async () => (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].cascade.backlog_items === 40);
      const overload = await infer(rawInput(items(8, 9)));
      server.engine.resume();
      expectError(overload, 'RESOURCE_EXHAUSTED', /limit of 40 items in flight/, 'overload (429)');
      if (!overload.ok) t.ok(Number(overload.trailers['retry-after']) >= 1, `retry-after trailer ${overload.trailers['retry-after']}`);
      t.ok((await held).every((a) => a.ok), 'the held calls are answered once the engine resumes');
      // 504: the request's own timeout passes while the engine is paused.
      server.engine.pause();
      const late = infer({ inputs: [typedInput(x)], parameters: { timeout: { int64_param: 20_000 } } }, { timeout_s: 10 });
      await new Promise((r) => setTimeout(r, 300));
      server.engine.resume();
      expectError(await late, 'DEADLINE_EXCEEDED', /not answered within its deadline of 20 ms/, 'timeout parameter (504)');
      // The gRPC deadline is the request's timeout: the server gives up at the caller's deadline.
      const failedBefore = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].cascade.failures.timeout;
      server.engine.pause();
      const byDeadline = infer({ inputs: [typedInput(x)] }, { timeout_s: 0.4 });
      await new Promise((r) => setTimeout(r, 900));
      server.engine.resume();
      expectError(await byDeadline, 'DEADLINE_EXCEEDED', /./, 'gRPC deadline');
      const failedAfter = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].cascade.failures.timeout;
      t.equal(failedAfter - failedBefore, 1, 'the server counted the call as timed out at its gRPC deadline (not as cancelled)');
      // 500: the model fails at run time (gather_mlp refuses an index outside [0, 8)).
      const bad = items(1, 1);
      bad[0] = 100;
      expectError(await infer({ ...rawInput(bad), model_name: 'fixture.gather' }), 'INTERNAL', /model 'gather' failed on item 0/, 'model failure (500)');
      // A method of the specification this server does not offer.
      expectError(await client.call({ raw_call: '/inference.GRPCInferenceService/SystemSharedMemoryStatus' }), 'UNIMPLEMENTED', /./, 'unknown method');
    });
  });

  t.test('gRPC: bearer token, overload as 503, shutdown', async (t) => {
    const token = 'grpc-test-token-0123456789';
    const { server, stop } = await startFixtureServer({}, { grpcPort: 0, authToken: token, overloadStatus: 503, maxInFlightImages: 4 });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : stop()));
    const client = await PythonGrpcClient.start(protoPath(), server.grpcAddress!);
    t.teardown(() => client.close());
    const bearer: [string, string][] = [['authorization', `Bearer ${token}`]];
    const live = await client.call({ call: 'ServerLive' });
    t.ok(live.ok, 'ServerLive needs no token');
    t.ok((await client.call({ call: 'ServerReady' })).ok, 'ServerReady needs no token');
    const none = await client.call({ call: 'ModelMetadata', request: { name: 'fixture' } });
    t.equal(!none.ok && none.code, 'UNAUTHENTICATED', 'no token');
    t.match(!none.ok && none.details, /requires a bearer token/);
    const wrong = await client.call({ call: 'ModelMetadata', request: { name: 'fixture' }, metadata: [['authorization', 'Bearer not-the-token-at-all']] });
    t.equal(!wrong.ok && wrong.code, 'UNAUTHENTICATED', 'wrong token');
    t.ok((await client.call({ call: 'ModelMetadata', request: { name: 'fixture' }, metadata: bearer })).ok, 'right token');
    const noTokenInfer = await client.call({ call: 'ModelInfer', request: { model_name: 'fixture' } });
    t.equal(!noTokenInfer.ok && noTokenInfer.code, 'UNAUTHENTICATED', 'ModelInfer needs the token');
    // Overload with --overload-status 503: UNAVAILABLE.
    const big = { model_name: 'fixture', inputs: [{ name: 'x', datatype: 'FP32', shape: [5, kItemElems] }], raw_input_contents: [b64(items(5, 1))] };
    const over = await client.call({ call: 'ModelInfer', request: big, metadata: bearer });
    t.equal(!over.ok && over.code, 'UNAVAILABLE', 'overload as 503 is UNAVAILABLE');
    // While shutting down, readiness is false.
    const closing = stop();
    stopped = true;
    await closing;
    const after = await client.call({ call: 'ServerLive', timeout_s: 2 });
    t.equal(!after.ok && after.code, 'UNAVAILABLE', 'a closed server is UNAVAILABLE');
  });
}

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
}

/**
 * `grpc` (protobuf's JSON form: 64-bit integers as strings) with its values converted to the
 * types `like` (REST's JSON) has at the same place, so that the two compare with t.same.
 */
function numbersLike(grpc: unknown, like: unknown): unknown {
  if (Array.isArray(grpc) && Array.isArray(like)) return grpc.map((v, i) => numbersLike(v, like[i]));
  if (grpc && typeof grpc === 'object' && like && typeof like === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(grpc)) out[k] = numbersLike(v, (like as Record<string, unknown>)[k]);
    return out;
  }
  if (typeof grpc === 'string' && typeof like === 'number') return Number(grpc);
  return grpc;
}
