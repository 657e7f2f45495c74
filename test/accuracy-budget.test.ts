// The gear policy's accuracy budget (ts/server/accuracy-budget.ts): the balance worked out by
// hand (items x (gear accuracy - target), counted from arrivals, each request charged to the
// gear it entered under; the positive balance decaying over the whole gap with the window), a
// gear below the target taken only while the balance pays for one hold of it, the return to the
// cheapest gear meeting the target when it runs out (only to a load that gear holds, and not
// while items fail), the budget stepping aside while items fail or are about to, the down
// rules' choices with and without it, a hiccup's failures not read as the host's scale, which
// plans ask for it, and the server's wiring (status route, option, CLI flag).
import t from 'tap';
import { AccuracyBudget, accuracyBudgetOf } from '../ts/server/accuracy-budget.js';
import { BacklogGearPolicy, type PolicyGear } from '../ts/server/gear-policy.js';
import type { CascadeStatus } from '../ts/server/status.js';
import { items, jsonRequest, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { startServeProcess } from '../testkit/serve-process.js';

t.test('the balance: items served times (accuracy - target), the positive part decaying', async (t) => {
  const b = new AccuracyBudget({ target: 0.9, gearAccuracy: [0.95, 0.9, 0.8], windowMs: 60_000 });
  b.observe(0, 1000, 0);
  t.equal(b.balance, 0, 'the first look only starts the clock');
  b.observe(1000, 1000, 0); // 1,000 items at +0.05
  t.ok(Math.abs(b.balance - 50) < 1e-9, `50 item-points, got ${b.balance}`);
  b.observe(2000, 1000, 0); // 50 x e^(-1/60) + 50
  t.ok(Math.abs(b.balance - (50 * Math.exp(-1 / 60) + 50)) < 1e-9);
  const before = b.balance;
  b.observe(2500, 1000, 1); // 500 items at exactly the target: decay only
  t.ok(Math.abs(b.balance - before * Math.exp(-0.5 / 60)) < 1e-9);
  // a hold of gear 2 at 1000/s costs 0.1 x 1000 x 0.2 = 20 item-points: paid
  t.ok(b.allows(2, 1000, 200));
  t.ok(b.allows(0, 1e9, 200) && b.allows(1, 1e9, 200), 'gears meeting the target are always allowed');
  t.notOk(b.allows(2, 10_000, 200), '200 item-points for a hold at 10,000/s: not paid');
  const atMs = 2500;
  const bal = b.balance;
  b.observe(atMs + 1000, 2000, 2); // 2,000 items at -0.1 = -200, after the decay
  t.ok(Math.abs(b.balance - (bal * Math.exp(-1 / 60) - 200)) < 1e-9);
  t.ok(b.exhausted(2), 'below the target, owing');
  t.notOk(b.exhausted(1), 'a gear meeting the target is never exhausted');
  t.equal(b.cheapestMeeting(), 1);
  const owed = b.balance;
  b.observe(atMs + 1000 + 60_000, 1000, 1);
  t.equal(b.balance, owed, 'a debt does not decay (and the target gear adds nothing)');
  // a look after an idle minute counts at most 1 s: 1,000 items at +0.05 on gear 0, not 60,000
  b.observe(atMs + 1000 + 120_000, 1000, 0);
  t.ok(Math.abs(b.balance - (owed + 50)) < 1e-9, `owed + 50, got ${b.balance}`);
});

t.test('with the arrival count, each request is charged to the gear it entered under', async (t) => {
  // Sparse requests (one every 500 ms) and switches: request k enters under the gear decided
  // at its own look and is charged at the next look, to the gear then running. Expected:
  // the sum over requests (the first starts the account) of items x (accuracy - target).
  const acc = [0.95, 0.9, 0.8];
  const b = new AccuracyBudget({ target: 0.9, gearAccuracy: acc, windowMs: 1e15 });
  const requests = [
    { items: 1, gear: 0 },
    { items: 3, gear: 0 },
    { items: 1, gear: 2 },
    { items: 8, gear: 2 },
    { items: 2, gear: 1 },
    { items: 1, gear: 0 },
  ];
  let arrived = 0;
  let running = 0; // the gear decided at the previous look
  let expected = 0;
  requests.forEach((r, k) => {
    arrived += r.items;
    b.observe(500 * k, 1e6, running, arrived); // a huge short-window rate: must not count
    running = r.gear;
    if (k > 0) expected += r.items * (acc[r.gear] - 0.9);
  });
  b.observe(500 * requests.length, 1e6, running, arrived); // a tick: the last request
  t.ok(Math.abs(b.balance - expected) < 1e-12, `balance ${b.balance}, expected ${expected}`);
  // the same looks without the count: the rate times the gaps, thousands of items
  const byRate = new AccuracyBudget({ target: 0.9, gearAccuracy: acc, windowMs: 1e15 });
  running = 0;
  requests.forEach((r, k) => {
    byRate.observe(500 * k, 1e6, running);
    running = r.gear;
  });
  t.ok(Math.abs(byRate.balance) > 100 * Math.abs(expected), `the rate-times-time count misreads sparse arrivals (${byRate.balance})`);
});

t.test('a bank decays over the whole gap between looks (a stopped or idle server)', async (t) => {
  const b = new AccuracyBudget({ target: 0.9, gearAccuracy: [0.95, 0.9], windowMs: 60_000 });
  b.observe(0, 0, 0, 0);
  b.observe(10, 0, 0, 1000); // the 1,000 items arrived at this look are charged at the next
  b.observe(20, 0, 1, 1000); // charged to gear 1, at the target: 0
  t.equal(b.balance, 0);
  const c = new AccuracyBudget({ target: 0.9, gearAccuracy: [0.95, 0.9], windowMs: 60_000 });
  c.observe(0, 0, 0, 0);
  c.observe(0, 0, 0, 1000);
  c.observe(0, 0, 0, 1000); // 1,000 items at +0.05
  t.ok(Math.abs(c.balance - 50) < 1e-9, `50 item-points, got ${c.balance}`);
  c.observe(60_000, 0, 0, 1000); // a minute stopped: e^-1 of it left, not e^(-1/60)
  t.ok(Math.abs(c.balance - 50 * Math.exp(-1)) < 1e-9, `50/e, got ${c.balance}`);
});

t.test('bad budgets are refused naming the field', async (t) => {
  t.throws(() => new AccuracyBudget({ target: 1.5, gearAccuracy: [0.9] }), /accuracy target must be a fraction in \(0, 1\], got 1.5/);
  t.throws(() => new AccuracyBudget({ target: 0.9, gearAccuracy: [0.9, -1] }), /gears\[1\]\.expectedAccuracy must be a fraction/);
  t.throws(() => new AccuracyBudget({ target: 0.9, gearAccuracy: [0.9], windowMs: 0 }), /accuracyBudget\.windowMs must be a finite number > 0/);
  t.throws(() => new BacklogGearPolicy([{ sustainedQps: 1, serviceRateQps: 1, budgetMs: 1, ownLatencyMs: 0 }], { sloMs: 10, accuracyBudget: { target: 0.9, gearAccuracy: [0.9, 0.8] } }), /accuracyBudget\.gearAccuracy has 2 entries for 1 gears/);
});

// the gears of server-gear-policy.test.ts (waits worked out there), accuracies 0.95 / 0.92 / 0.85, target 0.9
const gears: PolicyGear[] = [
  { sustainedQps: 1000, serviceRateQps: 1250, budgetMs: 6, ownLatencyMs: 0 },
  { sustainedQps: 2000, serviceRateQps: 2500, budgetMs: 6, ownLatencyMs: 0 },
  { sustainedQps: 4000, serviceRateQps: 5000, budgetMs: 7, ownLatencyMs: 0 },
];
const budget = { target: 0.9, gearAccuracy: [0.95, 0.92, 0.85] };
const make = (withBudget: boolean) => new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, overloadHorizonMs: 10, recentMs: 1000, ...(withBudget ? { accuracyBudget: budget } : {}) });

t.test('down: a gear below the target only while the balance pays for it', async (t) => {
  // 6000/s on gear 0: gears 0 and 1 would miss (waits 40 and 16 ms), gear 2 would not (4 ms)
  const input = { nowMs: 0, rateQps: 6000, recentRateQps: 6000, backlogItems: 0, current: 0 };
  t.same(make(false).decide(input), { gear: 2, reason: 'would_miss' }, 'without a budget: the gear below the target');
  // with a budget and nothing banked, gear 2 is not a candidate; no allowed gear drains (every
  // service rate is below 6000/s), so the cheapest allowed one
  t.same(make(true).decide(input), { gear: 1, reason: 'cannot_meet' }, 'nothing banked: the cheapest gear meeting the target');
  // bank: 10 s at 1000/s on gear 0 -> 10,000 x 0.05 = 500 item-points less the decay (about 38)
  const p = make(true);
  for (let ms = 0; ms <= 10_000; ms += 5) p.decide({ nowMs: ms, rateQps: 500, recentRateQps: 1000, backlogItems: 0, current: 0 });
  const banked = p.accuracyBudget!.balance;
  t.ok(banked > 450 && banked < 500, `about 462 item-points banked, got ${banked}`);
  // a hold of gear 2 at 6000/s costs 0.05 x 6000 x 0.2 = 60: paid
  t.same(p.decide({ ...input, nowMs: 10_000 }), { gear: 2, reason: 'would_miss' });
  // on gear 2 at 6000/s the balance falls by 300 item-points a second (less the decay): within
  // 2 s it is spent, but gear 1 cannot hold 6000/s even for one SLO (its queue would grow by
  // 40 ms of work per 10 ms), so the policy stays and owes: a failed item costs the whole target
  let ms = 10_005;
  for (; ms <= 13_000; ms += 5) {
    const d = p.decide({ nowMs: ms, rateQps: 6000, recentRateQps: 6000, backlogItems: 0, current: 2 });
    if (d.gear !== 2) t.fail(`left gear 2 at ${ms} ms: ${JSON.stringify(d)}`);
  }
  // the balance worked out apart: b' = -300 - b/60 (the decay of the positive part only)
  const tZeroS = 60 * Math.log((banked + 300 * 60) / (300 * 60));
  const expected = -300 * (3 - tZeroS);
  t.ok(Math.abs(p.accuracyBudget!.balance - expected) < 5, `owes about ${expected.toFixed(0)} item-points, got ${p.accuracyBudget!.balance.toFixed(0)}`);
  // once the load is one gear 1 holds within the up rule's band, back at once (the up rule
  // itself waits a hold): 2100/s, a queue of 100/s x 10 ms / 2500/s = 0.4 ms <= 3 ms
  t.same(p.decide({ nowMs: ms, rateQps: 2100, recentRateQps: 2100, backlogItems: 0, current: 2 }), { gear: 1, reason: 'accuracy_budget' }, 'back to the cheapest gear meeting the target');
  t.ok(p.accuracyBudget!.balance <= 0);
  // and gear 2 stays out of reach until the balance pays for a hold again (nothing queued: not about to fail)
  t.same(p.decide({ nowMs: ms + 5, rateQps: 6000, recentRateQps: 6000, backlogItems: 0, current: 1 }), { gear: 1, reason: 'stay' });
});

t.test('the return waits while items fail', async (t) => {
  const p = make(true);
  // nothing banked, on gear 2 (below the target) at a load gear 1 holds: back at once, unless items fail
  t.same(p.decide({ nowMs: 0, rateQps: 1500, recentRateQps: 1500, backlogItems: 0, current: 2, failedRateQps: 20 }), { gear: 2, reason: 'stay' });
  t.same(make(true).decide({ nowMs: 0, rateQps: 1500, recentRateQps: 1500, backlogItems: 0, current: 2 }), { gear: 1, reason: 'accuracy_budget' });
});

t.test('the return reads the higher of the window\'s and the near rate', async (t) => {
  // nothing banked, on gear 2 at 4000/s in the window: gear 1 would wait (4000 - 2000) x 10 /
  // 2500 = 8 ms > 3 ms, so no return. A near rate of 100/s (past 5 sigma of the window's: a
  // stall of the arrivals, not a lull) read alone gave a wait below zero and took gear 1 back
  // into a load twice its capacity.
  const stalled = { nowMs: 0, rateQps: 4000, recentRateQps: 100, backlogItems: 0, current: 2 };
  t.equal(make(true).decide(stalled).reason, 'stay');
  t.same(make(true).decide({ ...stalled, rateQps: 1500 }), { gear: 1, reason: 'accuracy_budget' }, 'a window gear 1 holds: back');
});

t.test('the return is not to a gear the down rule would leave at once', async (t) => {
  // overload horizon 4 SLOs (the default), nothing banked, on gear 2 (below the target)
  const p = () => new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, recentMs: 1000, accuracyBudget: budget });
  // 2100/s: gear 1 waits 100 x 10 / 2500 = 0.4 ms over one SLO (<= 3 ms, the band) and
  // 100 x 40 / 2500 = 1.6 ms over the overload horizon (<= 6 ms): back
  t.same(p().decide({ nowMs: 0, rateQps: 2100, recentRateQps: 2100, backlogItems: 0, current: 2 }), { gear: 1, reason: 'accuracy_budget' });
  // 2400/s: within the band over one SLO (1.6 ms) but 400 x 40 / 2500 = 6.4 ms > 6 over the
  // overload horizon: the down rule would take gear 2 again a look later, after the queue had
  // grown (on a tuning trial a return at 1.3x the gear's capacity lost 22 items): stay
  t.same(p().decide({ nowMs: 0, rateQps: 2400, recentRateQps: 2400, backlogItems: 0, current: 2 }), { gear: 2, reason: 'stay' });
});

t.test('a queue keeps its gear: no return while the queue left behind would still miss', async (t) => {
  // gear 0: 1,000/s, gear 1 ten times faster and below the target (MS+ on the azure trace:
  // resnet and cnn-small); SLO 25 ms, both horizons 25 ms, nothing banked
  const two: PolicyGear[] = [
    { sustainedQps: 900, serviceRateQps: 1000, budgetMs: 20, ownLatencyMs: 0 },
    { sustainedQps: 9000, serviceRateQps: 10_000, budgetMs: 20, ownLatencyMs: 0 },
  ];
  const p = new BacklogGearPolicy(two, { sloMs: 25, holdMs: 200, overloadHorizonMs: 25, recentMs: 1000, accuracyBudget: { target: 0.9, gearAccuracy: [0.95, 0.85] } });
  // 21 items queued on gear 0 = 21 ms past its 20 ms budget (about to fail: the budget steps
  // aside); gear 1 would wait 21 + (950 - 9000) x 25 / 10,000 = 0.9 ms: down
  t.same(p.decide({ nowMs: 0, rateQps: 950, recentRateQps: 950, arrivedItems: 100, backlogItems: 21, current: 0 }), { gear: 1, reason: 'would_miss' });
  // a look later, one arrival more, 21 in flight: 20 of them gear 0's, which drain at 1,000/s
  // (20 ms), one gear 1's (0.1 ms); gear 0 would have an arrival wait 20.1 + 50 x 25 / 1,000 =
  // 21.35 ms, past half its budget: no return. Read at gear 1's rate (2.1 ms: 3.35 ms) the
  // budget took gear 0 back, and the down rule left it again at the next look.
  const next = { nowMs: 1, rateQps: 950, recentRateQps: 950, arrivedItems: 101, backlogItems: 21, current: 1 };
  t.same(p.decide(next), { gear: 1, reason: 'stay' });
  t.ok(p.accuracyBudget!.exhausted(1), 'the budget owes for gear 1');
  t.ok(Math.abs(p.backlogMs(1, next, 950) - 20.1) < 1e-9, `20.1 ms of queued work, got ${p.backlogMs(1, next, 950)}`);
  // 25 ms on, 24 arrivals more and 3 in flight: gear 0's queue has drained (the oldest go
  // first), 0.3 ms of gear 1's work is left: back
  t.same(p.decide({ nowMs: 26, rateQps: 950, recentRateQps: 950, arrivedItems: 125, backlogItems: 3, current: 1 }), { gear: 0, reason: 'accuracy_budget' });
});

t.test('failures within one hold and one SLO of a switch do not set the host scale', async (t) => {
  // gear 0 with 8 ms of queued work (10 items at 1250/s) past its 6 ms budget: down to gear 1
  const p = make(false);
  t.same(p.decide({ nowMs: 0, rateQps: 1200, recentRateQps: 1200, backlogItems: 10, current: 0 }), { gear: 1, reason: 'would_miss' });
  // 60 ms later a quarter of the load fails: gear 0's queue timing out, not what gear 1 holds
  t.same(p.decide({ nowMs: 60, rateQps: 1200, recentRateQps: 1200, backlogItems: 0, current: 1, failedRateQps: 300 }), { gear: 2, reason: 'failing' }, 'the step is still taken');
  t.equal(p.hostScale(60), 1, 'the capacities kept');
  // 210 ms after the switch (hold 200 + SLO 10) the window's failures are gear 1's own: held 900 of 2000
  const q = make(false);
  q.decide({ nowMs: 0, rateQps: 1200, recentRateQps: 1200, backlogItems: 10, current: 0 });
  t.same(q.decide({ nowMs: 210, rateQps: 1200, recentRateQps: 1200, backlogItems: 0, current: 1, failedRateQps: 300 }), { gear: 2, reason: 'failing' });
  t.ok(Math.abs(q.hostScale(210) - 0.45) < 1e-12, `0.45, got ${q.hostScale(210)}`);
});

t.test('failing, or about to: the budget steps aside', async (t) => {
  // failures on gear 0 at 3000/s: the cheapest gear with the capacity (gear 2, the last, is the
  // fallback), with or without the budget: a failed item costs the whole target
  const input = { nowMs: 1000, rateQps: 3000, recentRateQps: 3000, backlogItems: 0, current: 0, failedRateQps: 500 };
  t.same(make(false).decide(input), { gear: 2, reason: 'failing' });
  t.same(make(true).decide(input), { gear: 2, reason: 'failing' });
  t.same(make(true).decide({ ...input, current: 1 }), { gear: 2, reason: 'failing' }, 'also from the cheapest gear meeting the target, nothing banked');
  // about to fail: on gear 1 at 4000/s, gear 1 would miss (an arrival waits 20 ms of excess
  // over its 6 ms budget). With nothing queued the budget holds gear 2 back; with 16 items
  // queued (6.4 ms of gear 1's work, past its 6 ms budget) what is queued times out, and the
  // policy takes gear 2, which would not miss (6.4 ms of queue, at its sustained rate, <= 7 ms)
  const at = { nowMs: 0, rateQps: 4000, recentRateQps: 4000, current: 1 };
  t.same(make(true).decide({ ...at, backlogItems: 0 }), { gear: 1, reason: 'stay' });
  t.same(make(true).decide({ ...at, backlogItems: 16 }), { gear: 2, reason: 'would_miss' });
});

t.test('a hiccup does not set the host scale', async (t) => {
  // one late item at 600/s on gear 0 (capacity 1000/s): a step down, the capacities kept
  const p = make(false);
  t.same(p.decide({ nowMs: 1000, rateQps: 600, recentRateQps: 600, backlogItems: 0, current: 0, failedRateQps: 5 }), { gear: 1, reason: 'failing' });
  t.equal(p.hostScale(1000), 1);
  // a tenth of the load failing: the gear held 540 of its 1000/s
  const q = make(false);
  q.decide({ nowMs: 1000, rateQps: 600, recentRateQps: 600, backlogItems: 0, current: 0, failedRateQps: 60 });
  t.ok(Math.abs(q.hostScale(1000) - 0.54) < 1e-9, `0.54, got ${q.hostScale(1000)}`);
});

t.test('which plans ask for a budget', async (t) => {
  const g = [{ expectedAccuracy: 0.95 }, { expectedAccuracy: 0.85 }];
  t.same(accuracyBudgetOf({ accuracyObjective: { mode: 'load-weighted', target: 0.9 }, gears: g }), { target: 0.9, gearAccuracy: [0.95, 0.85] });
  t.equal(accuracyBudgetOf({ accuracyObjective: { mode: 'every-gear', target: 0.9 }, gears: g }), undefined, 'every gear meets the target');
  t.equal(accuracyBudgetOf({ gears: g }), undefined, 'no target');
});

const status = async (url: string) => (await (await fetch(`${url}/v2/cascadeserve/status`)).json()) as CascadeStatus;
const objective = { target: 0.85, mode: 'load-weighted' as const, loadWeightedAccuracy: 0.9, met: true };

t.test('the server keeps the budget of a load-weighted plan and reports it', async (t) => {
  const { url, stop } = await startFixtureServer({ accuracyObjective: objective });
  try {
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${url}/v2/models/fixture/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(jsonRequest(items(8, i + 1))) });
      t.equal(r.status, 200);
    }
    await new Promise((r) => setTimeout(r, 50)); // a few controller ticks
    const b = (await status(url)).accuracy_budget;
    t.ok(b, 'reported');
    t.equal(b!.target, 0.85);
    t.equal(b!.window_ms, 60_000);
    // counted from arrivals: 80 items at +0.05 = 4 item-points (3.6 had the first request come
    // before the controller's first look), less a decay of well under 1%
    t.ok(b!.balance_items > 3.5 && b!.balance_items <= 4 + 1e-9, `the one gear (0.9) banks 80 x (0.9 - 0.85), got ${b!.balance_items}`);
  } finally {
    await stop();
  }
  for (const [what, plan, options] of [
    ['turned off (accuracyBudget: false)', { accuracyObjective: objective }, { accuracyBudget: false }],
    ['a plan without a load-weighted target', {}, {}],
  ] as const) {
    const s = await startFixtureServer(plan, options);
    try {
      t.equal((await status(s.url)).accuracy_budget, null, what);
    } finally {
      await s.stop();
    }
  }
});

t.test('the budget\'s window: accuracyWindowMs, refused naming the option when not > 0', async (t) => {
  const s = await startFixtureServer({ accuracyObjective: objective }, { accuracyWindowMs: 6000 });
  try {
    t.equal((await status(s.url)).accuracy_budget!.window_ms, 6000);
  } finally {
    await s.stop();
  }
  await t.rejects(startFixtureServer({ accuracyObjective: objective }, { accuracyWindowMs: 0 }), /accuracyWindowMs must be a finite number > 0 \(milliseconds\), got 0/);
});

t.test('cascadeserve serve --accuracy-window-ms', async (t) => {
  const { planPath, cleanup } = writeFixturePlan({ accuracyObjective: objective });
  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--grpc-port', '0', '--accuracy-window-ms', '30000']);
  try {
    t.equal((await status(serve.url)).accuracy_budget!.window_ms, 30_000);
  } finally {
    t.equal(await serve.stop(), 0, 'drains and exits 0');
    cleanup();
  }
});

t.test('cascadeserve serve --no-accuracy-budget', async (t) => {
  const { planPath, cleanup } = writeFixturePlan({ accuracyObjective: objective });
  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--grpc-port', '0', '--no-accuracy-budget']);
  try {
    t.equal((await status(serve.url)).accuracy_budget, null);
  } finally {
    t.equal(await serve.stop(), 0, 'drains and exits 0');
    cleanup();
  }
});
