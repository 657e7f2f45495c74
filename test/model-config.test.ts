// GET /v2/models/{m}[/versions/{v}]/config: Triton's model configuration, checked against the
// plan file and manifest as written (read back here, not through the server's plan loader).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { kClasses, kItemElems, startFixtureServer } from '../testkit/server-fixture.js';

t.test('model configuration over REST', async (t) => {
  const { url, planPath, stop } = await startFixtureServer({ accurateMaxQps: 5000, sloMs: 250 }, { maxImagesPerRequest: 12, maxInFlightImages: 300 });
  t.teardown(stop);
  const plan = JSON.parse(readFileSync(planPath, 'utf8'));
  const manifest = JSON.parse(readFileSync(join(planPath, '..', 'cascade.json'), 'utf8'));

  for (const path of ['/v2/models/fixture/config', '/v2/models/fixture/versions/1/config']) {
    const r = await fetch(url + path);
    t.equal(r.status, 200, path);
    const c = await r.json();
    t.equal(c.name, manifest.name);
    t.equal(c.platform, 'cascadeserve_cascade');
    t.equal(c.backend, 'cascadeserve');
    t.equal(c.max_batch_size, 12, 'max_batch_size is the most images one request may carry');
    t.same(c.input, [{ name: manifest.input.name, data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: manifest.input.shape }]);
    t.same(c.output, [
      { name: 'probabilities', data_type: 'TYPE_FP32', dims: [kClasses] },
      { name: 'class', data_type: 'TYPE_INT64', dims: [1], reshape: { shape: [] } },
      { name: 'certainty', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } },
      { name: 'exit_stage', data_type: 'TYPE_INT32', dims: [1], reshape: { shape: [] } },
      // The answering model's name per image: a BYTES tensor, Triton's TYPE_STRING.
      { name: 'model', data_type: 'TYPE_STRING', dims: [1], reshape: { shape: [] } },
    ]);
    // The running gear is the plan's first (no load yet): its first stage batches.
    const first = plan.gears[0].stages[0];
    t.same(c.dynamic_batching.preferred_batch_size, [first.maxBatch]);
    t.equal(c.dynamic_batching.max_queue_delay_microseconds, first.maxQueueDelayUs);
    t.same(c.dynamic_batching.default_queue_policy, { timeout_action: 'REJECT', default_timeout_microseconds: 250_000, allow_timeout_override: true, max_queue_size: 300 });
    t.same(c.instance_group, [{ name: 'lane0', kind: 'KIND_CPU', count: 1 }]);
    t.equal(c.parameters['cascadeserve.gear'].string_value, String(plan.gears[0].id));
    t.equal(c.parameters['cascadeserve.slo_p95_ms'].string_value, '250');
    const gears = JSON.parse(c.parameters['cascadeserve.gears'].string_value);
    t.same(
      gears.map((g: { id: number; min_qps: number; max_qps: number; stages: { model: string; threshold: number; max_batch: number }[] }) => [g.id, g.min_qps, g.max_qps, g.stages.map((s) => [s.model, s.threshold, s.max_batch])]),
      plan.gears.map((g: { id: number; minQps: number; maxQps: number; stages: { model: string; threshold: number; maxBatch: number }[] }) => [g.id, g.minQps, g.maxQps, g.stages.map((s) => [s.model, s.threshold, s.maxBatch])]),
      'the gear plan under parameters["cascadeserve.gears"] is the plan file\'s',
    );
    for (const v of Object.values(c.parameters)) t.equal(typeof (v as { string_value: unknown }).string_value, 'string', 'parameters hold string_value only');
  }

  const member = await (await fetch(`${url}/v2/models/fixture.gather/config`)).json();
  t.equal(member.platform, 'onnxruntime_onnx');
  t.equal(member.backend, 'onnxruntime');
  const memberGears = JSON.parse(member.parameters['cascadeserve.gears'].string_value);
  t.equal(memberGears.length, 1, 'a member model has one gear');
  t.same(memberGears[0].stages.map((s: { model: string }) => s.model), ['gather']);
  t.equal(memberGears[0].max_qps, null, 'an unbounded gear says max_qps null');
  t.same(member.input[0].dims, [kItemElems]);

  const unknown = await fetch(`${url}/v2/models/nope/config`);
  t.equal(unknown.status, 404);
  t.match((await unknown.json()).error, /unknown model 'nope'/);
  const badVersion = await fetch(`${url}/v2/models/fixture/versions/2/config`);
  t.equal(badVersion.status, 404);
  t.match((await badVersion.json()).error, /no version '2'/);
});
