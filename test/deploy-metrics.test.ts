// The metrics the deployment's autoscaling and alerts read (deploy/prometheus/rules.yaml):
// the time spent below the top gear and on the cheapest one (exact, with a scripted policy and
// explicit clock), and over HTTP the arrivals counter, the gear index and the plan's figures.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { GearController } from '../ts/server/gear-controller.js';
import type { GearPolicy } from '../ts/server/gear-policy.js';
import { CostEstimator } from '../ts/server/admission.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';
import { ModelStats } from '../ts/server/model-stats.js';
import type { ServingGear } from '../ts/server/plan-loader.js';
import type { CascadeEngine } from '../ts/engine/engine.js';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';
import { parsePromText, sampleValue } from './helpers/prom-text.js';

const gear = (index: number, maxQps: number): ServingGear => ({
  index,
  id: 10 + index,
  minQps: 0,
  maxQps,
  expectedAccuracy: 0.9 - index / 100,
  expectedCostUs: 10,
  engine: { id: 10 + index, stages: [{ model: 'm', threshold: 0, maxBatch: 1, maxQueueDelayUs: 0 }] },
});

/** A controller over a stand-in engine whose policy returns the gear index it is told to. */
function scripted(gears: ServingGear[], startMs: number) {
  let next = 0;
  let running = gears[0].engine;
  const engine = { get gear() { return running; }, setGear: (g: typeof running) => { running = g; }, inFlight: 0 } as unknown as CascadeEngine;
  const policy: GearPolicy = { decide: ({ current }) => ({ gear: next, reason: next > current ? 'would_miss' : 'drained' }), reset: () => {} };
  const c = new GearController({ gears, engine, monitor: new LoadMonitor(), policy, cost: new CostEstimator(10), stats: new ModelStats('m'), log: { info: () => {} }, startMs });
  return { c, goTo: (index: number, atMs: number) => { next = index; c.evaluate(atMs); } };
}

t.test('gear time accounting: below the top gear and on the cheapest, to the millisecond', async (t) => {
  const { c, goTo } = scripted([gear(0, 100), gear(1, 200), gear(2, 300)], 1000);
  t.same(c.gearSeconds(1500), { belowTop: 0, cheapest: 0 }, 'on the top gear: neither counts');
  goTo(1, 2000); // top for 1 s
  t.same(c.gearSeconds(2500), { belowTop: 0.5, cheapest: 0 }, 'the running middle gear counts below top, not cheapest');
  goTo(2, 3000); // middle for 1 s
  goTo(0, 7000); // cheapest for 4 s
  t.same(c.gearSeconds(9000), { belowTop: 5, cheapest: 4 });
  goTo(2, 9000);
  t.same(c.gearSeconds(9250), { belowTop: 5.25, cheapest: 4.25 }, 'the running cheapest gear counts in both');

  const single = scripted([gear(0, 100)], 0);
  t.same(single.c.gearSeconds(5000), { belowTop: 0, cheapest: 0 }, 'a one-gear plan never runs below its top gear or "on the cheapest"');
});

t.test('/metrics: arrivals, gear index and the plan figures the rules read', async (t) => {
  const { url, stop } = await startFixtureServer({ accurateMaxQps: 100, sloMs: 250 }, { upSwitchHoldMs: 60_000, loadWindowMs: 100 });
  t.teardown(stop);
  const scrape = async () => parsePromText(await (await fetch(`${url}/metrics`)).text());
  const cascade = { model: 'fixture', version: '1' };

  let s = await scrape();
  t.equal(sampleValue(s, 'cascadeserve_gear_index', cascade), 0, 'starts on the top gear');
  t.equal(sampleValue(s, 'cascadeserve_gears', cascade), 2);
  t.equal(sampleValue(s, 'cascadeserve_top_gear_capacity_qps', cascade), 100);
  t.equal(sampleValue(s, 'cascadeserve_plan_capacity_qps', cascade), 1e6);
  t.equal(sampleValue(s, 'cascadeserve_slo_p95_seconds', cascade), 0.25);
  t.equal(sampleValue(s, 'cascadeserve_arrivals_total', cascade), 0);
  t.equal(sampleValue(s, 'cascadeserve_below_top_gear_seconds_total', cascade), 0);
  t.notOk(s.some((x) => x.name === 'cascadeserve_gear_index' && x.labels.model === 'fixture.small'), 'member models have no gear plan series');

  // 3 rounds of 30 concurrent 2-image requests: far above 100 images/s; the long hold keeps
  // the cheap gear afterwards.
  const infer = `${url}/v2/models/fixture/infer`;
  let images = 0;
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(Array.from({ length: 30 }, () => postJson(infer, jsonRequest(items(2, round + 1)))));
    for (const r of rs) t.equal(r.status, 200);
    images += 60;
  }
  await postJson(`${url}/v2/models/fixture.small/infer`, jsonRequest(items(3)));
  await sleep(30);
  s = await scrape();
  t.equal(sampleValue(s, 'cascadeserve_arrivals_total', cascade), images, 'every image offered to the cascade is counted');
  t.equal(sampleValue(s, 'cascadeserve_arrivals_total', { model: 'fixture.small' }), 3, 'and per member model');
  t.equal(sampleValue(s, 'cascadeserve_gear_index', cascade), 1, 'the load moved it to the cheap gear');
  const below = sampleValue(s, 'cascadeserve_below_top_gear_seconds_total', cascade);
  t.ok(below > 0, `below the top gear for ${below} s`);
  // Each series reads the clock when the scrape collects it: microseconds apart.
  const cheapest = sampleValue(s, 'cascadeserve_cheapest_gear_seconds_total', cascade);
  t.ok(Math.abs(cheapest - below) < 0.05, `in a two-gear plan the only lower gear is the cheapest (${cheapest} s vs ${below} s)`);
  await sleep(50);
  const later = sampleValue(await scrape(), 'cascadeserve_below_top_gear_seconds_total', cascade);
  t.ok(later > below, 'the counter grows while the cheap gear runs');
});
