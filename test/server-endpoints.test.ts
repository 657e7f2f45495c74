// The HTTP server's endpoints over real sockets: health, metadata, stats, metrics, inference
// in JSON and binary (identical answers), several images, `id` echo, answers equal to the
// engine's, and every error status with the protocol's {"error"} body.
import t, { type Test } from 'tap';
import { CascadeEngine } from '../ts/index.js';
import { binaryRequest, items, jsonRequest, kClasses, kItemElems, parseBinaryResponse, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const f32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

function checkErrorBody(t: Test, body: unknown, what: string) {
  t.ok(body && typeof body === 'object' && Object.keys(body as object).length === 1 && typeof (body as { error: unknown }).error === 'string', `${what}: body is {"error": "..."}`);
  const msg = (body as { error: string }).error ?? '';
  t.notMatch(msg, /\n\s+at |\/work\/|node_modules|\.js:\d+/, `${what}: no stack trace or path in '${msg}'`);
}

t.test('endpoints', async (t) => {
  const { url, server, stop } = await startFixtureServer({}, { maxImagesPerRequest: 8, bodyLimit: 64 * 1024 });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;

  t.test('health and metadata', async (t) => {
    t.equal((await fetch(`${url}/v2/health/live`)).status, 200);
    t.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
    const meta = await (await fetch(`${url}/v2`)).json();
    t.equal(meta.name, 'cascadeserve');
    t.ok(meta.extensions.includes('binary_tensor_data') && meta.extensions.includes('statistics'), 'extensions listed');
    for (const name of ['fixture', 'fixture.small', 'fixture.gather']) {
      for (const path of [`/v2/models/${name}`, `/v2/models/${name}/versions/1`]) {
        const r = await fetch(url + path);
        t.equal(r.status, 200, `${path} metadata`);
        const m = await r.json();
        t.equal(m.name, name);
        t.same(m.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, kItemElems] }]);
        t.same(m.outputs[0], { name: 'probabilities', datatype: 'FP32', shape: [-1, kClasses] });
      }
      t.equal((await fetch(`${url}/v2/models/${name}/ready`)).status, 200, `${name} ready`);
    }
  });

  t.test('JSON and binary give identical answers; several images; id echoed', async (t) => {
    const x = items(5, 11);
    const json = await postJson(infer, jsonRequest(x, { id: 'req-1', outputs: [{ name: 'probabilities' }, { name: 'class' }, { name: 'exit_stage' }] }));
    t.equal(json.status, 200);
    t.equal(json.json.id, 'req-1', 'id echoed (JSON)');
    t.equal(json.json.model_name, 'fixture');
    const [probs, cls, exits] = json.json.outputs;
    t.same(probs.shape, [5, kClasses]);
    t.same(cls.shape, [5]);
    t.equal(probs.parameters.gear, 1, 'gear in the output parameters');
    if (new Set(exits.data).size > 1) t.notOk('exit_stage' in probs.parameters, 'exit stages differ: in the exit_stage output only');
    else t.equal(probs.parameters.exit_stage, exits.data[0], 'one exit stage for all: also a number parameter');

    const nested = await postJson(infer, jsonRequest(x, { outputs: [{ name: 'probabilities' }] }, true));
    t.same(nested.json.outputs[0].data, probs.data, 'nested data gives the same answer as flat');

    const b = binaryRequest(x, { id: 'req-2', parameters: { binary_data_output: true }, outputs: [{ name: 'probabilities' }, { name: 'class' }, { name: 'exit_stage' }] });
    const r = await fetch(infer, { method: 'POST', headers: b.headers, body: b.body });
    t.equal(r.status, 200);
    const headerLength = Number(r.headers.get('inference-header-content-length'));
    t.ok(headerLength > 0, 'binary response has Inference-Header-Content-Length');
    const { header, blobs } = parseBinaryResponse(Buffer.from(await r.arrayBuffer()), headerLength);
    t.equal(header.id, 'req-2', 'id echoed (binary)');
    t.same(Array.from(f32(blobs[0])), probs.data.map(Math.fround), 'binary probabilities equal JSON ones bit for bit');
    t.same(Array.from(new BigInt64Array(blobs[1].buffer.slice(blobs[1].byteOffset, blobs[1].byteOffset + blobs[1].length)), Number), cls.data, 'binary classes equal JSON ones');
    t.same(Array.from(new Int32Array(blobs[2].buffer.slice(blobs[2].byteOffset, blobs[2].byteOffset + blobs[2].length))), exits.data);

    // Binary input, JSON output.
    const b2 = binaryRequest(x);
    const r2 = await fetch(infer, { method: 'POST', headers: b2.headers, body: b2.body });
    t.equal(r2.headers.get('inference-header-content-length'), null, 'JSON answer when no binary output is asked for');
    t.same((await r2.json()).outputs[0].data, probs.data, 'binary input, JSON output: same answer');
  });

  t.test('answers equal the engine for the same images and gear', async (t) => {
    const n = 40;
    const x = items(n, 99);
    const engine = await CascadeEngine.create(server.plan.cascadeOptions());
    t.teardown(() => engine.close());
    const want = await Promise.all(engine.submit(x, { wantOutput: true }));
    // This server takes at most 8 images per request: 5 requests of 8.
    const cls = { data: [] as number[] };
    const cert = { data: [] as number[] };
    const exit = { data: [] as number[] };
    const probs = { data: [] as number[] };
    const models: string[] = [];
    for (let k = 0; k < n; k += 8) {
      const got = await postJson(infer, jsonRequest(x.subarray(k * kItemElems, (k + 8) * kItemElems), { outputs: [{ name: 'class' }, { name: 'certainty' }, { name: 'exit_stage' }, { name: 'probabilities' }, { name: 'model' }] }));
      t.equal(got.status, 200);
      const [c, ce, e, p, m] = got.json.outputs;
      cls.data.push(...c.data);
      cert.data.push(...ce.data);
      exit.data.push(...e.data);
      probs.data.push(...p.data);
      models.push(...m.data);
    }
    let mismatches = 0;
    want.forEach((w, i) => {
      if (cls.data[i] !== w.predictedClass || exit.data[i] !== w.exitStage || cert.data[i] !== Math.fround(w.certainty)) mismatches++;
      const row = probs.data.slice(i * kClasses, (i + 1) * kClasses);
      const argmax = row.indexOf(Math.max(...row));
      if (argmax !== w.predictedClass) mismatches++;
    });
    t.equal(mismatches, 0, `class, exit stage and certainty equal the engine's for all ${n} images`);
    t.same(models, want.map((w) => w.model), 'answering models equal the engine\'s');
  });

  t.test('member models are served alone', async (t) => {
    const x = items(3, 5);
    const r = await postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(x));
    t.equal(r.status, 200);
    t.equal(r.json.outputs[0].parameters.model, 'gather', 'every image answered by the member model');
    t.equal(r.json.outputs[0].parameters.exit_stage, 0);
  });

  t.test('UINT8 input', async (t) => {
    const px = Array.from({ length: kItemElems }, (_, i) => (i * 13) % 256);
    const r = await postJson(infer, { inputs: [{ name: 'x', shape: [1, kItemElems], datatype: 'UINT8', data: px }] });
    t.equal(r.status, 200, 'UINT8 accepted (the fixture manifest does not scale: preprocessing is not pixel/255)');
  });

  t.test('errors', async (t) => {
    const cases: [string, string, () => Promise<{ status: number; json: unknown }>, number][] = [
      ['bad JSON', '', () => postJson(infer, '{"inputs": ['), 400],
      ['empty body', '', () => postJson(infer, ''), 400],
      ['schema', 'inputs', () => postJson(infer, { inputs: 'x' }), 400],
      ['wrong shape', 'inputs[0].shape', () => postJson(infer, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }), 400],
      ['wrong name', 'inputs[0].name', () => postJson(infer, { inputs: [{ name: 'y', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(0) }] }), 400],
      ['wrong datatype', 'inputs[0].datatype', () => postJson(infer, { inputs: [{ name: 'x', shape: [1, 16], datatype: 'INT64', data: Array(16).fill(0) }] }), 400],
      ['too few values', 'inputs[0].data', () => postJson(infer, { inputs: [{ name: 'x', shape: [2, 16], datatype: 'FP32', data: Array(16).fill(0) }] }), 400],
      ['not a number', 'inputs[0].data', () => postJson(infer, { inputs: [{ name: 'x', shape: [1, 16], datatype: 'FP32', data: [...Array(15).fill(0), 'a'] }] }), 400],
      ['unknown output', 'outputs[0].name', () => postJson(infer, jsonRequest(items(1), { outputs: [{ name: 'nope' }] })), 400],
      ['bad timeout', 'parameters.timeout', () => postJson(infer, jsonRequest(items(1), { parameters: { timeout: -5 } })), 400],
      ['binary size mismatch', 'binary_data_size', async () => {
        const b = binaryRequest(items(2));
        const r = await fetch(infer, { method: 'POST', headers: b.headers, body: b.body.subarray(0, b.body.length - 4) });
        return { status: r.status, json: await r.json() };
      }, 400],
      ['unknown model', "'nope'", () => postJson(`${url}/v2/models/nope/infer`, jsonRequest(items(1))), 404],
      ['unknown version', "version '7'", () => postJson(`${url}/v2/models/fixture/versions/7/infer`, jsonRequest(items(1))), 404],
      ['unknown route', '', async () => {
        const r = await fetch(`${url}/v3/nothing`);
        return { status: r.status, json: await r.json() };
      }, 404],
      ['too many images', 'inputs[0].shape', () => postJson(infer, jsonRequest(items(9))), 413],
      ['body over bodyLimit', '', () => postJson(infer, jsonRequest(items(8), { pad: 'x'.repeat(70 * 1024) })), 413],
      ['model failure', "model 'gather' failed", () => {
        const bad = items(1);
        bad[0] = 100; // not a valid Gather index
        return postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(bad));
      }, 500],
    ];
    for (const [what, mentions, send, status] of cases) {
      const r = await send();
      t.equal(r.status, status, `${what}: ${status}`);
      checkErrorBody(t, r.json, what);
      if (mentions) t.match((r.json as { error: string }).error, mentions, `${what}: message names ${mentions}`);
    }
  });

  t.test('a passed deadline answers 504', async (t) => {
    server.engine.pause();
    const r = await postJson(infer, jsonRequest(items(2), { parameters: { timeout: 20_000 } }));
    server.engine.resume();
    t.equal(r.status, 504);
    checkErrorBody(t, r.json, '504');
  });

  t.test('stats and metrics', async (t) => {
    const stats = await (await fetch(`${url}/v2/models/fixture/stats`)).json();
    const s = stats.model_stats[0];
    t.equal(s.name, 'fixture');
    t.ok(s.inference_count >= 50, `inference_count ${s.inference_count}`);
    t.ok(s.execution_count >= 1 && s.execution_count <= s.inference_count * 2, `execution_count ${s.execution_count}`);
    t.ok(s.inference_stats.success.count >= 5);
    t.ok(s.inference_stats.fail.count >= 1);
    t.equal(s.cascade.failures.timeout, 1, 'the 504 counted as a timeout');
    t.equal(s.cascade.gear, 1);
    t.equal(s.cascade.expected_accuracy, 0.9);
    const exits = s.cascade.stage_exits.reduce((a: number, e: { count: number }) => a + e.count, 0);
    t.equal(exits, s.inference_count, 'every answered image counted at one exit stage');
    const all = await (await fetch(`${url}/v2/models/stats`)).json();
    t.equal(all.model_stats.length, 3, 'stats of every model');

    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      'nv_inference_request_success{model="fixture",version="1"}',
      'nv_inference_request_failure{model="fixture",version="1",reason="invalid"}',
      'nv_inference_count{model="fixture",version="1"}',
      'nv_inference_exec_count{model="fixture",version="1"}',
      'nv_inference_request_duration_us{',
      'nv_inference_queue_duration_us{',
      'nv_inference_compute_input_duration_us{',
      'nv_inference_compute_infer_duration_us{',
      'nv_inference_compute_output_duration_us{',
      'nv_inference_pending_request_count{model="fixture",version="1"} 0',
      'cascadeserve_stage_exits_total{model="fixture",version="1",stage="0"}',
      'cascadeserve_gear{model="fixture",version="1"} 1',
      'cascadeserve_arrival_rate_qps{model="fixture",version="1"}',
      'cascadeserve_expected_accuracy{model="fixture",version="1"} 0.9',
      'cascadeserve_gear_switches_total{model="fixture",version="1",direction="cheaper"} 0',
      'cascadeserve_request_duration_seconds_bucket{',
    ]) {
      t.ok(text.includes(name), `metrics include ${name}`);
    }
    const success = Number(/nv_inference_request_success\{model="fixture",version="1"\} (\d+)/.exec(text)?.[1]);
    t.equal(success, s.inference_stats.success.count, 'metrics and /stats agree');
  });
});
