// The admission controller's cost estimate after an overload and a switch to a much cheaper
// gear. In an HTTP evaluation the estimate inflated there (the lanes' busy time on the
// expensive gear's backlog was divided by the cheap gear's planned cost), one image then
// looked too large for its deadline, nothing was admitted, no item completed, no new sample
// came, and the server refused every request from then on. Here the engine is a one-lane FIFO
// simulated on an injected clock (every figure is known); then a real server, after a burst
// on the cheap gear, is put in the locked-out state (an inflated sample injected, so that it
// does not depend on this machine's speed) and must answer single requests again.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionController, CostEstimator, kCompletionMargin } from '../ts/server/admission.js';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

/** One lane working FIFO through items of known cost (microseconds); counters as the engine's. */
class SimLane {
  #work: number[] = [];
  busyUs = 0;
  completed = 0;
  get inFlight(): number {
    return this.#work.length;
  }
  add(n: number, costUs: number): void {
    for (let i = 0; i < n; i++) this.#work.push(costUs);
  }
  /** Runs `us` microseconds of work (less when the queue empties). */
  run(us: number): void {
    let left = us;
    while (left > 0 && this.#work.length > 0) {
      const w = Math.min(left, this.#work[0]);
      this.#work[0] -= w;
      left -= w;
      this.busyUs += w;
      if (this.#work[0] === 0) {
        this.#work.shift();
        this.completed++;
      }
    }
  }
  totals() {
    return { busyUs: this.busyUs, completed: this.completed, inFlight: this.inFlight };
  }
}

const kSloMs = 50;
const kTickMs = 10;
const kExpensiveUs = 2000; // planned per-item cost of the costliest gear
const kCheapUs = 100; // 20x cheaper

t.test('overload on the expensive gear, then a switch to a 20x cheaper gear: one image is admitted again', async (t) => {
  const cost = new CostEstimator(kExpensiveUs, 0.2, kExpensiveUs);
  const a = new AdmissionController({ sloMs: kSloMs, parallelism: 1 }, cost);
  const lane = new SimLane();
  let now = 0;
  cost.sample(lane.totals(), now);
  // Overload: 8 images every 10 ms, each costing twice the plan (busy time per item grows
  // under overload), 3.2x what the lane can do; the clients allow 200 ms.
  let admittedHeavy = 0;
  for (let i = 0; i < 100; i++) {
    now += kTickMs;
    if (a.admit(8, 200_000, lane.inFlight).accepted) {
      lane.add(8, 2 * kExpensiveUs);
      admittedHeavy++;
    }
    lane.run(kTickMs * 1000);
    cost.sample(lane.totals(), now);
  }
  t.ok(admittedHeavy > 0 && admittedHeavy < 100, `overloaded: some requests admitted (${admittedHeavy} of 100), not all`);
  const backlogAtSwitch = lane.inFlight;
  t.ok(backlogAtSwitch >= 16, `a backlog of the expensive gear at the switch (${backlogAtSwitch} items)`);
  t.ok(Math.abs(cost.calibration - 2) < 0.1, `calibration measured on the expensive gear: about 2 (${cost.calibration})`);
  // The switch, then low load: one one-image request every 10 ms at 1.25x the cheap plan.
  cost.setExpectedCost(kCheapUs);
  let lastRefused = -1;
  const refusals = new Set<string>();
  for (let i = 0; i < 300; i++) {
    now += kTickMs;
    const r = a.admit(1, undefined, lane.inFlight);
    if (r.accepted) lane.add(1, 1.25 * kCheapUs);
    else {
      lastRefused = i;
      refusals.add(r.kind);
    }
    lane.run(kTickMs * 1000);
    cost.sample(lane.totals(), now);
  }
  t.ok(lastRefused <= 100, `every one-image request admitted from 1 s (100 ticks) after the switch on (last refused at tick ${lastRefused}: ${[...refusals].join(', ')}; calibration ${cost.calibration})`);
  // The cheap gear's samples, attributed to the cheap gear: the calibration tends to 1.25.
  t.ok(Math.abs(cost.calibration - 1.25) < 0.05, `calibration from the cheap gear's own items: about 1.25 (${cost.calibration})`);
  // A request that truly is too large is still refused as such.
  const huge = a.admit(10_000, 50_000, 0);
  t.equal(!huge.accepted && huge.kind, 'too_large_for_deadline', '10,000 images at a 50 ms timeout');
});

t.test('a sample that spans a gear switch is dropped, the next clean one counts', async (t) => {
  const cost = new CostEstimator(100);
  cost.sample({ busyUs: 0, completed: 0, inFlight: 0 }, 0);
  cost.sample({ busyUs: 800, completed: 8, inFlight: 5 }, 10); // 8 items at 100 us: ratio 1
  t.equal(cost.calibration, 1);
  cost.setExpectedCost(10); // 10x cheaper; 5 items of the old gear still in flight
  cost.sample({ busyUs: 1300, completed: 13, inFlight: 3 }, 20); // the 5 old items, 100 us each
  cost.sample({ busyUs: 1380, completed: 21, inFlight: 0 }, 30); // 8 new items at 10 us
  t.equal(cost.calibration, 1, 'the old gear\'s items are not divided by the new gear\'s cost (with them: 580 us / 13 items / 10 us = 4.5)');
  cost.sample({ busyUs: 1540, completed: 29, inFlight: 0 }, 40); // 8 new items at 20 us: ratio 2
  t.equal(cost.calibration, 1 + 0.2 * (2 - 1), 'a clean sample of the new gear counts');
});

t.test('an inflated estimate with no new evidence cannot lock the server out', async (t) => {
  const staleMs = 200;
  const cost = new CostEstimator(kCheapUs, 0.2, kExpensiveUs, staleMs);
  const a = new AdmissionController({ sloMs: kSloMs, parallelism: 1 }, cost);
  let now = 0;
  cost.sample({ busyUs: 0, completed: 0, inFlight: 0 }, now);
  cost.observe(8 * 1000 * kCheapUs, 8); // a sample at 1000x the plan: calibration 200.8
  const oneImageUs = (cal: number) => kExpensiveUs * cal * kCompletionMargin;
  t.ok(oneImageUs(cost.calibration) > kSloMs * 1000, 'one image now looks too large');
  const locked = a.admit(1, undefined, 0);
  t.equal(!locked.accepted && locked.kind, 'too_large_for_deadline', 'refused as too large');
  const inflated = cost.calibration;
  // Busy (items in flight, none finished yet): evidence is coming, the estimate holds.
  for (let i = 0; i < 100; i++) cost.sample({ busyUs: 0, completed: 0, inFlight: 3 }, (now += kTickMs));
  t.equal(cost.calibration, inflated, 'no decay while the engine works');
  // Idle, nothing admitted: it holds for staleMs, then returns toward the plan's figure.
  for (let i = 0; i < staleMs / kTickMs; i++) cost.sample({ busyUs: 0, completed: 0, inFlight: 0 }, (now += kTickMs));
  t.equal(cost.calibration, inflated, 'held for staleMs');
  const idleFrom = now;
  while (!a.admit(1, undefined, 0).accepted && now - idleFrom < 10_000) cost.sample({ busyUs: 0, completed: 0, inFlight: 0 }, (now += kTickMs));
  // log(calibration) shrinks by e every staleMs: from log(200.8) to below log(12.5) (one
  // image at 2 ms x 2 within 50 ms) takes staleMs x ln(ln 200.8 / ln 12.5) = 148 ms.
  const expectedMs = staleMs * Math.log(Math.log(inflated) / Math.log((kSloMs * 1000) / (kExpensiveUs * kCompletionMargin)));
  t.ok(now - idleFrom <= Math.ceil(expectedMs / kTickMs) * kTickMs, `one image admitted after ${now - idleFrom} ms idle (bound ${expectedMs.toFixed(0)} ms)`);
  t.ok(cost.calibration > 1, `still above the plan's figure (${cost.calibration}): the decay stops when the request fits`);
  const huge = a.admit(10_000, 50_000, 0);
  t.equal(!huge.accepted && huge.kind, 'too_large_for_deadline', '10,000 images at a 50 ms timeout are still too large');
  // Long idle: back to the plan's figure.
  cost.sample({ busyUs: 0, completed: 0, inFlight: 0 }, (now += 100 * staleMs));
  t.ok(Math.abs(cost.calibration - 1) < 1e-6, `the plan's figure after a long idle (${cost.calibration})`);
});

t.test('HTTP: a server locked out by an inflated estimate answers single requests again', async (t) => {
  // Two gears; a policy that takes the cheap gear at the first arrival, as after an overload.
  const { url, server, stop } = await startFixtureServer(
    { accurateMaxQps: 100 }, // SLO 1000 ms: a single request has time to spare on a busy machine
    { gearPolicy: () => ({ decide: ({ current }) => ({ gear: 1, reason: current === 1 ? 'stay' : 'would_miss' }), reset: () => {} }) },
  );
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  // Overload: many concurrent requests (429s allowed; every one answered).
  const burst = await Promise.all(Array.from({ length: 64 }, (_, i) => postJson(infer, jsonRequest(items(8, i + 1)))));
  const statuses = [...new Set(burst.map((r) => r.status))];
  t.ok(statuses.every((s) => s === 200 || s === 429 || s === 504), `the burst answered 200, 429 or 504 (${statuses.join(', ')})`);
  t.equal(server.engine.gear.id, 2, 'on the cheap gear');
  // The inflated estimate the evaluation measured, made certain here whatever this machine's
  // speed: a sample at 1,000,000x the cheap gear's planned cost.
  const cost = server.cascade.admission.cost;
  cost.observe(8 * 1_000_000 * server.cascade.gears[1].expectedCostUs, 8);
  const locked = server.cascade.admission.admit(1, undefined, 0);
  t.equal(!locked.accepted && locked.kind, 'too_large_for_deadline', `locked out: one image looks too large (calibration ${cost.calibration})`);
  // Low load: one single-image request at a time until one is answered 200 (bounded attempts).
  let attempts = 0;
  let status = 0;
  while (attempts < 300 && status !== 200) {
    attempts++;
    status = (await postJson(infer, jsonRequest(items(1, 99)))).status;
    if (status !== 200) await sleep(20);
  }
  t.equal(status, 200, `a single request answered 200 again (after ${attempts} attempts; calibration ${cost.calibration})`);
  // And it stays so at low load.
  const after = [];
  for (let i = 0; i < 20; i++) after.push((await postJson(infer, jsonRequest(items(1, 100 + i)))).status);
  t.same([...new Set(after)], [200], 'the next 20 single requests: 200');
});
