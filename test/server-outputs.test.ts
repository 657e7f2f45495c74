// Output tensors and parameters (#18 item 4): per-image values are output tensors (`model` is a
// BYTES tensor, in JSON and in Triton's binary layout); each output parameter has one type
// whatever the batch, and a batch leaves out the parameters its images disagree on. Expected
// values come from the engine run on the same images.
import t from 'tap';
import { CascadeEngine } from '../ts/index.js';
import { binaryRequest, items, jsonRequest, kItemElems, parseBinaryResponse, postJson, startFixtureServer } from '../testkit/server-fixture.js';

/** Triton's binary BYTES layout, read independently: [u32 LE length][bytes] per element. */
function readBytesTensor(buf: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < buf.length; ) {
    const len = buf.readUInt32LE(at);
    out.push(buf.subarray(at + 4, at + 4 + len).toString('utf8'));
    at += 4 + len;
  }
  return out;
}

t.test('output tensors and parameters', async (t) => {
  const { url, server, stop } = await startFixtureServer();
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const engine = await CascadeEngine.create(server.plan.cascadeOptions());
  t.teardown(() => engine.close());

  // 24 images whose answers span both stages (the fixture's first stage exits at 0.6).
  const n = 24;
  const x = items(n, 7);
  const want = await Promise.all(engine.submit(x));
  const exitStages = new Set(want.map((w) => w.exitStage));
  t.equal(exitStages.size, 2, 'the images exit at both stages (the test needs a mixed batch)');

  t.test('model metadata lists the model output', async (t) => {
    for (const name of ['fixture', 'fixture.small']) {
      const m = await (await fetch(`${url}/v2/models/${name}`)).json();
      t.same(m.outputs.find((o: { name: string }) => o.name === 'model'), { name: 'model', datatype: 'BYTES', shape: [-1] }, name);
    }
  });

  t.test('a mixed batch: per-image values in tensors, differing parameters left out', async (t) => {
    const r = await postJson(infer, jsonRequest(x, { outputs: [{ name: 'model' }, { name: 'exit_stage' }, { name: 'certainty' }] }));
    t.equal(r.status, 200, JSON.stringify(r.json));
    const [model, exit, cert] = r.json.outputs;
    t.same({ name: model.name, datatype: model.datatype, shape: model.shape }, { name: 'model', datatype: 'BYTES', shape: [n] });
    t.same(model.data, want.map((w) => w.model), 'model tensor: the answering model of each image');
    t.same(exit.data, want.map((w) => w.exitStage));
    t.same(cert.data, want.map((w) => Math.fround(w.certainty)));
    for (const o of r.json.outputs) {
      t.same(o.parameters, { gear: 1 }, `${o.name}: only the gear, which all images share`);
    }
  });

  t.test('one image: the parameters are numbers and a string, as before', async (t) => {
    for (let i = 0; i < 4; i++) {
      const r = await postJson(infer, jsonRequest(x.subarray(i * kItemElems, (i + 1) * kItemElems), { outputs: [{ name: 'probabilities' }, { name: 'model' }] }));
      t.equal(r.status, 200);
      const p = r.json.outputs[0].parameters;
      t.same(p, { gear: 1, exit_stage: want[i].exitStage, model: want[i].model, certainty: Math.fround(want[i].certainty) }, `image ${i}`);
      t.equal(typeof p.exit_stage, 'number');
      t.equal(typeof p.certainty, 'number');
      t.same(r.json.outputs[1].data, [want[i].model]);
    }
  });

  t.test('a batch that agrees keeps the parameters it agrees on, with the same types', async (t) => {
    // Images of the same exit stage (hence the same answering model), certainties differing.
    const stage = want[0].exitStage;
    const picked = want.map((w, i) => (w.exitStage === stage ? i : -1)).filter((i) => i >= 0).slice(0, 3);
    t.equal(picked.length, 3);
    const sub = new Float32Array(picked.length * kItemElems);
    picked.forEach((i, k) => sub.set(x.subarray(i * kItemElems, (i + 1) * kItemElems), k * kItemElems));
    const r = await postJson(infer, jsonRequest(sub, { outputs: [{ name: 'class' }] }));
    t.equal(r.status, 200);
    t.same(r.json.outputs[0].parameters, { gear: 1, exit_stage: stage, model: want[0].model }, 'certainties differ: left out');

    const member = await postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(items(3, 5)));
    t.equal(member.json.outputs[0].parameters.model, 'gather');
    t.equal(member.json.outputs[0].parameters.exit_stage, 0);
  });

  t.test('binary: the model tensor in BYTES layout, equal to the JSON one', async (t) => {
    const b = binaryRequest(x, { parameters: { binary_data_output: true }, outputs: [{ name: 'exit_stage' }, { name: 'model' }] });
    const r = await fetch(infer, { method: 'POST', headers: b.headers, body: b.body });
    t.equal(r.status, 200);
    const { header, blobs } = parseBinaryResponse(Buffer.from(await r.arrayBuffer()), Number(r.headers.get('inference-header-content-length')));
    const expectedSize = want.reduce((s, w) => s + 4 + Buffer.byteLength(w.model), 0);
    t.equal(header.outputs[1].parameters.binary_data_size, expectedSize, 'binary_data_size: 4 + length per element');
    t.equal((header.outputs[1] as unknown as { datatype: string }).datatype, 'BYTES');
    t.same(readBytesTensor(blobs[1]), want.map((w) => w.model));
    t.same(Array.from(new Int32Array(blobs[0].buffer.slice(blobs[0].byteOffset, blobs[0].byteOffset + blobs[0].length))), want.map((w) => w.exitStage));
  });
});
