// The default bound on items in flight follows the plan: the most items its cheapest gear
// answers within one SLO on the plan's lanes (served-model.ts inFlightBoundOf), and the
// engine's stage-0 queue holds no fewer than admission lets in. A fixed 1024 refused items a
// fast plan would have answered (the evaluation's 100 ms cell). Expected values are worked
// here from the plan file as written, not through the server's plan loader.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { inFlightBoundOf, kMaxInFlightItems, kMinInFlightItems, ServedModel, type ServedModelOptions } from '../ts/server/served-model.js';
import { loadServingPlan } from '../ts/server/plan-loader.js';
import { items, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';

t.test('the bound: lanes x SLO / the cheapest gear cost, clamped', async (t) => {
  // 100 ms, one lane, the cheapest gear 3.2 us an item: 100,000 / 3.2 = 31,250 items
  t.equal(inFlightBoundOf(100, 1, [{ expectedCostUs: 443.3 }, { expectedCostUs: 3.2 }]), 31_250);
  // 2 lanes, 50 ms, 70 us: 2 x 50,000 / 70 = 1,428.57 -> 1,429
  t.equal(inFlightBoundOf(50, 2, [{ expectedCostUs: 70 }]), 1_429);
  // below the floor: the old fixed default stays the least
  t.equal(inFlightBoundOf(50, 1, [{ expectedCostUs: 443.3 }]), kMinInFlightItems);
  t.equal(kMinInFlightItems, 1024);
  // a near-free gear: capped
  t.equal(inFlightBoundOf(1000, 4, [{ expectedCostUs: 0.001 }]), kMaxInFlightItems);
  // no usable cost (a member model without figures): the floor
  t.equal(inFlightBoundOf(100, 1, [{ expectedCostUs: 0 }, { expectedCostUs: NaN }]), kMinInFlightItems);
  t.equal(inFlightBoundOf(100, 1, []), kMinInFlightItems);
});

t.test('the server reports the plan bound when no --max-in-flight is given, and the option when it is', async (t) => {
  for (const [sloMs, option] of [
    [250, undefined],
    [40, undefined],
    [250, 300],
  ] as const) {
    const { url, planPath, stop } = await startFixtureServer({ accurateMaxQps: 5000, sloMs }, option === undefined ? {} : { maxInFlightImages: option });
    try {
      const plan = JSON.parse(readFileSync(planPath, 'utf8'));
      const cheapest = Math.min(...plan.gears.map((g: { expectedCostUs: number }) => g.expectedCostUs));
      const expected = option ?? Math.max(1024, Math.ceil((plan.lanes.length * sloMs * 1000) / cheapest));
      const c = await (await fetch(`${url}/v2/models/fixture/config`)).json();
      t.equal(c.dynamic_batching.default_queue_policy.max_queue_size, expected, `SLO ${sloMs} ms, option ${String(option)}: ${expected}`);
    } finally {
      await stop();
    }
  }
});

t.test('the engine queues what admission allows: 3,000 items in one submit are all accepted', async (t) => {
  // SLO 250 ms on one lane, cheapest gear 20 us: a bound of 12,500. With the engine's old
  // fixed stage-0 bound of 1024, items past it were refused within the one call.
  const { planPath, cleanup } = writeFixturePlan({ accurateMaxQps: 5000, sloMs: 250 });
  t.teardown(cleanup);
  const options: ServedModelOptions = {
    maxImagesPerRequest: 256,
    upSwitchHoldMs: 200,
    loadMonitor: { windowMs: 200, bucketMs: 5 },
    tickMs: 10,
    warmUp: false,
    log: { info: () => {}, error: () => {} },
  };
  const served = await ServedModel.cascade(await loadServingPlan(planPath), options);
  t.teardown(() => served.close());
  t.equal(served.admission.maxInFlightItems, 12_500);
  t.equal(served.engineOptions.maxQueueSizePerStage, 12_500, 'the stage queues hold what admission lets in');
  const engine = await served.engine();
  const n = 3000;
  const results = await Promise.all(engine.submit(items(n)));
  t.equal(results.filter((r) => r.status === 'ok').length, n, 'every item answered, none refused');
});
