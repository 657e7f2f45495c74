// The backlog gear policy's decisions on constructed inputs (ts/server/gear-policy.ts): down
// only on a burst that would miss the SLO, to the most accurate gear that would not; not on one
// the budget (or the gear's spare capacity over the horizon) absorbs; up only after the backlog drains, the better gear's
// predicted wait is within half its budget (the hysteresis band) and the hold has passed; a single large request counted as backlog, not as arrival rate. Expected
// gears are worked out by hand from the formulas in the comments.
import t from 'tap';
import { BacklogGearPolicy, policyGears, type PolicyGear } from '../ts/server/gear-policy.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';

// sustained (items/s), service rate (items/s), budget (ms), own latency 0 (the whole backlog
// is queued work; the Little's-law part has its own test); SLO 10 ms, horizon = SLO, up-wait fraction 0.5.
// make(): the overload horizon set to the SLO as well, and a recent window of 1 s (at about
// 1,000/s its noise is 3%, so the recent rates below are read as given); the defaults (4 SLOs,
// 10 ms) have their own tests.
const gears: PolicyGear[] = [
  { sustainedQps: 1000, serviceRateQps: 1250, budgetMs: 6, ownLatencyMs: 0 },
  { sustainedQps: 2000, serviceRateQps: 2500, budgetMs: 6, ownLatencyMs: 0 },
  { sustainedQps: 4000, serviceRateQps: 5000, budgetMs: 7, ownLatencyMs: 0 },
];
const make = () => new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, overloadHorizonMs: 10, recentMs: 1000 });

t.test('down: a burst the budget absorbs stays, one that would miss goes to the most accurate gear that would not', async (t) => {
  const p = make();
  // wait(0) = backlog 2 / 1250/s = 1.6 ms + (1400 - 1000) * 10 ms / 1250 = 3.2 ms -> 4.8 <= 6
  t.same(p.decide({ nowMs: 0, rateQps: 900, recentRateQps: 1400, backlogItems: 2, current: 0 }), { gear: 0, reason: 'stay' }, 'above sustained, but within the burst budget');
  // wait(0) = 3 / 1250 = 2.4 ms + 600 * 10 / 1250 = 4.8 ms -> 7.2 > 6; wait(1) = 2.4 - 400 * 10 / 2500 = 0.8 <= 6
  t.same(p.decide({ nowMs: 1, rateQps: 900, recentRateQps: 1600, backlogItems: 3, current: 0 }), { gear: 1, reason: 'would_miss' });
  // wait(0) = 0 + 5000 * 10 / 1250 = 40; wait(1) = 4000 * 10 / 2500 = 16; wait(2) = 2000 * 10 / 5000 = 4 <= 7
  t.same(p.decide({ nowMs: 2, rateQps: 6000, recentRateQps: 6000, backlogItems: 0, current: 0 }), { gear: 2, reason: 'would_miss' }, 'skips gears that would miss too');
  // window rate alone (no recent): wait(0) = 2.4 + 500 * 10 / 1250 = 6.4 > 6 -> gear 1
  // A backlog over the budget that the gear's spare capacity clears within the horizon:
  // wait(0) = 8 / 1250 = 6.4 ms + (500 - 1000) * 10 / 1250 = -4 ms -> 2.4 <= 6
  t.same(p.decide({ nowMs: 2.5, rateQps: 500, recentRateQps: 500, backlogItems: 8, current: 0 }), { gear: 0, reason: 'stay' }, 'the spare capacity drains it within the horizon');
  // (a policy of its own: p's last look ran gear 2, whose queue the policy would read as draining at gear 2's rate)
  t.same(make().decide({ nowMs: 3, rateQps: 1500, backlogItems: 3, current: 0 }), { gear: 1, reason: 'would_miss' }, 'without a recent rate the window rate is read');
  // above every gear's service rate, nothing drains: the cheapest
  t.same(p.decide({ nowMs: 4, rateQps: 9000, recentRateQps: 9000, backlogItems: 0, current: 0 }), { gear: 2, reason: 'cannot_meet' });
  t.same(p.decide({ nowMs: 5, rateQps: 9000, recentRateQps: 9000, backlogItems: 0, current: 2 }), { gear: 2, reason: 'stay' }, 'already on the cheapest');
});

t.test('down: whether to leave is read at the near rate, how far at the higher of it and the recent rate', async (t) => {
  // recent window 10 ms (the default): at 2000/s a count of 20 +- 4.5 items, 5 sigma = 2236/s,
  // so a recent 2600/s is within the noise and the near rate is the window's 2000/s
  const p = new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, overloadHorizonMs: 10 });
  t.equal(p.nearRate(2000, 2600), 2000);
  // backlog 5 = 4 ms at gear 0: wait(0) = 4 + 1000 * 10 / 1250 = 12 > 6, down. Gear 1 at 2000/s
  // waits 4 ms (would hold), at 2600/s 4 + 600 * 10 / 2500 = 6.4 > 6; gear 2 at 2600/s
  // 4 + (2600 - 4000) * 10 / 5000 = 1.2 -> gear 2. (A ramp the 200 ms window lags: stepping to
  // the gear that holds the window's rate, then the next a look later, lost two thirds of a
  // tuning trial's items; docs/gear-switching.md.)
  t.same(p.decide({ nowMs: 0, rateQps: 2000, recentRateQps: 2600, backlogItems: 5, current: 0 }), { gear: 2, reason: 'would_miss' });
  t.same(p.decide({ nowMs: 1, rateQps: 2000, recentRateQps: 2000, backlogItems: 5, current: 0 }), { gear: 1, reason: 'would_miss' }, 'a recent rate at the window\'s: the gear that holds it');
  // the recent rate alone does not make a gear leave: at 900/s in the window (5 sigma 1500/s), a
  // recent 1700/s would miss on gear 0 (1.6 + 700 * 10 / 1250 = 7.2 ms) but is noise
  t.same(p.decide({ nowMs: 2, rateQps: 900, recentRateQps: 1700, backlogItems: 2, current: 0 }), { gear: 0, reason: 'stay' });
});

t.test('down when no gear meets the SLO: the most accurate gear that drains the backlog about as fast as the fastest', async (t) => {
  const p = make();
  // backlog 20 items = 16 ms at gear 0; at 100/s every gear misses: wait = 16 - 7.2, 16 - 7.6,
  // 16 - 7.8 ms > 6, 6, 7. drain(0) = 16 / (1 - 0.08) = 17.4 ms, drain(2) = 16 / 0.98 = 16.3 ms:
  // within one horizon (10 ms) -> stay.
  t.same(p.decide({ nowMs: 0, rateQps: 100, recentRateQps: 100, backlogItems: 20, current: 0 }), { gear: 0, reason: 'stay' }, 'switching would not drain it sooner');
  // rate 1100/s: waits 16.8, 12.4, 10.2 ms all miss; drain(0) = 16 / 0.12 = 133 ms, drain(1) =
  // 16 / 0.56 = 28.6, drain(2) = 16 / 0.78 = 20.5; tolerable = 20.5 + 10 = 30.5 -> gear 1
  t.same(p.decide({ nowMs: 1, rateQps: 1100, recentRateQps: 1100, backlogItems: 20, current: 0 }), { gear: 1, reason: 'cannot_meet' });
});

t.test('overload horizon (default 4 SLOs): arrivals above a gear\'s capacity count further ahead than its spare capacity', async (t) => {
  const p = new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, recentMs: 1000 });
  t.equal(p.overloadHorizonMs, 40);
  // 1100/s on gear 0, backlog 2: over one SLO wait = 1.6 + 100 * 10 / 1250 = 2.4 ms (stays, as
  // make() does); over 40 ms: 1.6 + 100 * 40 / 1250 = 4.8 <= 6, still within the budget ...
  t.same(make().decide({ nowMs: 0, rateQps: 1100, recentRateQps: 1100, backlogItems: 2, current: 0 }), { gear: 0, reason: 'stay' });
  t.same(p.decide({ nowMs: 0, rateQps: 1100, recentRateQps: 1100, backlogItems: 2, current: 0 }), { gear: 0, reason: 'stay' });
  // ... 1200/s: 1.6 + 200 * 40 / 1250 = 8 > 6 -> down, where one SLO (1.6 + 1.6 = 3.2) stayed;
  // gear 1 holds 1200/s: 1.6 - 800 * 10 / 2500 < 6
  t.same(make().decide({ nowMs: 1, rateQps: 1200, recentRateQps: 1200, backlogItems: 2, current: 0 }), { gear: 0, reason: 'stay' });
  t.same(p.decide({ nowMs: 1, rateQps: 1200, recentRateQps: 1200, backlogItems: 2, current: 0 }), { gear: 1, reason: 'would_miss' });
  // spare capacity drains over one SLO only: 8 items = 6.4 ms at 500/s -> 6.4 - 4 = 2.4 <= 6
  t.same(p.decide({ nowMs: 2, rateQps: 500, recentRateQps: 500, backlogItems: 8, current: 0 }), { gear: 0, reason: 'stay' });
  // the target is the most accurate gear that would not miss, even above its capacity: at
  // 2100/s with 6 items queued (4.8 ms), gear 1 waits 4.8 + 100 * 10 / 2500 = 5.2 <= 6 ms
  // (one-SLO horizons): its queue absorbs the excess within the SLO, so not gear 2
  t.same(make().decide({ nowMs: 3, rateQps: 2100, recentRateQps: 2100, backlogItems: 6, current: 0 }), { gear: 1, reason: 'would_miss' });
  // at 2300/s gear 1 waits 4.8 + 300 * 10 / 2500 = 6 ms: still within; at 2400/s 6.4 > 6 -> gear 2
  t.same(make().decide({ nowMs: 4, rateQps: 2400, recentRateQps: 2400, backlogItems: 6, current: 0 }), { gear: 2, reason: 'would_miss' });
  t.throws(() => new BacklogGearPolicy(gears, { sloMs: 10, overloadHorizonMs: -1 }), /overloadHorizonMs must be a finite number >= 0/);
});

t.test('the recent rate is read only beyond its Poisson noise', async (t) => {
  const p = new BacklogGearPolicy(gears, { sloMs: 10 });
  t.equal(p.recentMs, 10);
  // window 5000/s: a 10 ms count of 50 +- 7.1 items; 5 sigma = 3536/s
  t.equal(p.nearRate(5000, 8000), 5000, '+3000/s is noise over 10 ms');
  t.equal(p.nearRate(5000, 9000), 9000, '+4000/s is a ramp');
  t.equal(p.nearRate(5000, 1000), 1000, 'and so is a drop');
  t.equal(p.nearRate(5000), 5000, 'no recent rate: the window\'s');
  // At 10/s one arrival fills the 10 ms window (100/s, or 200/s half a bucket in): noise of at
  // least one item (5 x 1 item / 10 ms = 500/s) keeps it from reading as a burst.
  t.equal(p.nearRate(10, 200), 10, 'one arrival at a low rate is not a burst');
  t.equal(p.nearRate(10, 400), 10, 'nor two');
  t.equal(p.nearRate(10, 600), 600, 'three within half a bucket are');
  t.throws(() => new BacklogGearPolicy(gears, { sloMs: 10, recentMs: 0 }), /recentMs must be a finite number > 0/);
});

t.test('the items of normal operation are not queued work (Little\'s law)', async (t) => {
  // Gear 0 with an own latency of 4 ms: at 900/s, 3.6 items are in flight by themselves.
  const withOwn = gears.map((g) => ({ ...g, ownLatencyMs: 4 }));
  const p = new BacklogGearPolicy(withOwn, { sloMs: 10, holdMs: 200 });
  // backlog 10: queued 10 - 3.6 = 6.4 -> 5.12 ms + (900 - 1000) * 10 / 1250 = -0.8 -> 4.3 <= 6
  t.same(p.decide({ nowMs: 0, rateQps: 900, recentRateQps: 900, backlogItems: 10, current: 0 }), { gear: 0, reason: 'stay' });
  // counted whole (own latency 0): 8 ms - 0.8 = 7.2 > 6 -> down
  t.same(make().decide({ nowMs: 0, rateQps: 900, recentRateQps: 900, backlogItems: 10, current: 0 }), { gear: 1, reason: 'would_miss' });
  t.equal(p.queuedItems(0, 10, 900), 10 - 3.6);
  t.equal(p.queuedItems(0, 2, 900), 0, 'never below 0');
});

t.test('up: only once the backlog drains, the better gear would wait within half its budget, and the hold has passed', async (t) => {
  const p = make();
  const at = (nowMs: number, rateQps: number, backlogItems: number, current = 2) => p.decide({ nowMs, rateQps, recentRateQps: rateQps, backlogItems, current });
  // gear 0 qualifies: drain 1 / 1250 = 0.8 ms <= 0.25 * 10; wait 0.8 + (850 - 1000) * 10 / 1250 = -0.4 ms <= 0.5 * 6
  t.same(at(1000, 850, 1), { gear: 2, reason: 'stay' }, 'the hold starts');
  t.same(at(1100, 850, 1), { gear: 2, reason: 'stay' });
  t.same(at(1199, 850, 1), { gear: 2, reason: 'stay' }, 'held 199 of 200 ms');
  t.same(at(1200, 850, 1), { gear: 0, reason: 'drained' }, 'held one window');

  // The band is on the predicted wait (the down rule's, over the 10 ms overload horizon): up to
  // gear 0 while (load - 1000) * 10 / 1250 <= 0.5 * 6 ms, i.e. up to 1375/s; down from it only
  // above 6 ms, 1750/s. At 1300/s (2.4 ms) gear 0, although above its sustained 1000/s: its queue
  // absorbs the excess over the horizon.
  t.same(at(2000, 1300, 0), { gear: 2, reason: 'stay' });
  t.same(at(2200, 1300, 0), { gear: 0, reason: 'drained' }, 'gear 0 above its sustained capacity, inside its band');
  // 1400/s: 3.2 ms > 3 for gear 0; gear 1: (1400 - 2000) * 10 / 2500 < 0
  t.same(at(2300, 1400, 0), { gear: 2, reason: 'stay' });
  t.same(at(2500, 1400, 0), { gear: 1, reason: 'drained' }, 'not gear 0: outside its band');
  t.same(make().decide({ nowMs: 0, rateQps: 1400, recentRateQps: 1400, backlogItems: 0, current: 0 }), { gear: 0, reason: 'stay' }, 'the same load on gear 0 does not take it down (3.2 <= 6 ms): hysteresis');

  // The backlog: 5 items drain in 4 ms under gear 0 (> 2.5 ms), in 2 ms under gear 1.
  t.same(at(3000, 100, 5), { gear: 2, reason: 'stay' });
  t.same(at(3200, 100, 5), { gear: 1, reason: 'drained' }, 'gear 1: the backlog drains within a quarter of the SLO under it');
  // 8 items drain in 6.4 ms under gear 0 and 3.2 ms under gear 1: no up-switch however long.
  for (const ms of [4000, 4200, 4400]) t.same(at(ms, 100, 8), { gear: 2, reason: 'stay' }, `backlog not drained at ${ms} ms`);

  // A look that does not qualify restarts the hold.
  t.same(at(5000, 100, 0), { gear: 2, reason: 'stay' });
  t.same(at(5150, 3700, 0), { gear: 2, reason: 'stay' }, '3700/s: no better gear within its band');
  t.same(at(5210, 100, 0), { gear: 2, reason: 'stay' }, 'a new hold from 5210');
  t.same(at(5409, 100, 0), { gear: 2, reason: 'stay' });
  t.same(at(5410, 100, 0), { gear: 0, reason: 'drained' });

  // The target is the least accurate gear that qualified at every look of the hold.
  t.same(at(6000, 100, 0), { gear: 2, reason: 'stay' });
  t.same(at(6100, 1500, 0), { gear: 2, reason: 'stay' }, 'only gear 1 qualifies at 1500/s');
  t.same(at(6200, 100, 0), { gear: 1, reason: 'drained' }, 'gear 1, not gear 0: the load rose during the hold');

  // A down-switch ends a hold.
  t.same(at(7000, 100, 0, 1), { gear: 1, reason: 'stay' });
  t.same(p.decide({ nowMs: 7100, rateQps: 6000, recentRateQps: 6000, backlogItems: 0, current: 1 }), { gear: 2, reason: 'would_miss' });
  t.same(at(7200, 100, 0, 2), { gear: 2, reason: 'stay' }, 'the hold restarts after the down-switch');
});

t.test('a single large request: its items are backlog (which drains), not arrival rate', async (t) => {
  const monitor = new LoadMonitor({ windowMs: 200, bucketMs: 10, recentMs: 50, bulkRequestItems: 32 });
  const p = make();
  // Quiet traffic: 100 single items per second for a second.
  for (let ms = 0; ms < 1000; ms += 10) monitor.recordRequest(1, ms);
  t.equal(monitor.rateQps(995), 100);
  // One request of 256 items at 1000 ms.
  monitor.recordRequest(256, 1000);
  t.equal(monitor.totalItems, 356, 'every item is counted as offered');
  t.equal(monitor.rateQps(1000), 95, 'a lone large request adds nothing to the rate (19 quiet items left in the window)');
  const look = { nowMs: 1000, rateQps: monitor.rateQps(1000), recentRateQps: monitor.recentRateQps(1000), backlogItems: 256, current: 0 };
  // rate 100/s (recent: 4 items over 40 ms); backlog 256 / 1250 = 205 ms, over every budget
  // whatever the horizon drains (at most 7.8 ms); drain(0) = 205 / (1 - 0.08) = 223, drain(2) =
  // 205 / 0.98 = 209; tolerable = 209 + 20.9 -> stay
  t.same(p.decide(look), { gear: 0, reason: 'stay' }, `rate ${look.rateQps}/s, recent ${look.recentRateQps.toFixed(0)}/s: no switch`);

  // Counted as arrivals (the old way: record()), the same request reads as a burst and would switch.
  const old = new LoadMonitor({ windowMs: 200, bucketMs: 10, recentMs: 50 });
  for (let ms = 0; ms < 1000; ms += 10) old.record(1, ms);
  old.record(256, 1000);
  const rate = old.rateQps(1000);
  const recent = old.recentRateQps(1000);
  t.ok(recent > 5000, `recent rate ${recent.toFixed(0)}/s`);
  t.equal(make().decide({ nowMs: 1000, rateQps: rate, recentRateQps: recent, backlogItems: 256, current: 0 }).gear, 2, 'as arrivals it would throw the gear to the cheapest');

  // A steady stream of large requests is load: one every 100 ms (half the window) counts in full.
  const stream = new LoadMonitor({ windowMs: 200, bucketMs: 10, recentMs: 50, bulkRequestItems: 32 });
  for (let ms = 0; ms <= 1000; ms += 100) stream.recordRequest(256, ms);
  t.equal(stream.rateQps(1005), (256 * 2) / 0.2, 'two 256-item requests in the window: 2560/s');
  const sparse = new LoadMonitor({ windowMs: 200, bucketMs: 10, recentMs: 50, bulkRequestItems: 32 });
  sparse.recordRequest(256, 0);
  sparse.recordRequest(256, 400);
  t.equal(sparse.rateQps(405), (256 * 0.5) / 0.2, 'one every two windows counts at half');
  t.equal(sparse.totalItems, 512);
  t.throws(() => new LoadMonitor({ bulkRequestItems: 0 }), /loadMonitor\.bulkRequestItems must be a number >= 1/);
});

t.test('policyGears: the plan fields when present, derived figures for older plans', async (t) => {
  const stages = [{ maxBatch: 4, maxQueueDelayUs: 1000 }, { maxBatch: 4, maxQueueDelayUs: 1000 }];
  const [old, withFields, noUtil] = policyGears(
    [
      { maxQps: 2000, utilization: 0.8, expectedCostUs: 250, stages },
      { maxQps: 2000, utilization: 0.8, expectedCostUs: 250, stages, sustainedQps: 2600, serviceRateQps: 3000, burstBudgetItems: 15 },
      { maxQps: 2000, expectedCostUs: 250, stages },
    ],
    10,
    2,
  );
  // derived: service = 2000 / 0.8 = 2500/s; budget = 10 - (4 * 250 us + 2 * 1000 us) / 1000 = 7 ms
  t.same(old, { sustainedQps: 2000, serviceRateQps: 2500, budgetMs: 7, ownLatencyMs: 3 });
  // fields: budget = min(7 ms derived, 15 items / 3000/s = 5 ms)
  t.same(withFields, { sustainedQps: 2600, serviceRateQps: 3000, budgetMs: 5, ownLatencyMs: 3 });
  const [lenient] = policyGears([{ maxQps: 2000, utilization: 0.8, expectedCostUs: 250, stages, sustainedQps: 2600, serviceRateQps: 3000, burstBudgetItems: 60 }], 10, 2);
  t.equal(lenient.budgetMs, 7, 'a burst budget of 20 ms of drain does not widen the 7 ms an arrival behind it can wait');
  // no utilization: 2 lanes / 250 us = 8000/s
  t.same(noUtil, { sustainedQps: 2000, serviceRateQps: 8000, budgetMs: 7, ownLatencyMs: 3 });
  t.throws(() => new BacklogGearPolicy([], { sloMs: 10 }), /gears must not be empty/);
  t.throws(() => new BacklogGearPolicy(gears, { sloMs: 0 }), /sloMs must be a finite number > 0/);
  t.throws(() => new BacklogGearPolicy(gears, { sloMs: 10, upWaitFraction: 1 }), /upWaitFraction must be a finite number in \[0, 1\)/);
  t.throws(() => new BacklogGearPolicy(gears, { sloMs: 10, holdMs: -1 }), /upSwitchHoldMs must be a finite number >= 0/);
});

t.test('failing: items failing for load take the gear that holds the load at the measured host scale, once per hold, and scale the way back up', async (t) => {
  const p = make();
  // 800/s is well inside gear 0's planned 1000/s and the backlog is empty: the backlog rule
  // stays, but items fail (the host holds less than planned).
  t.same(p.decide({ nowMs: 0, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 0 }), { gear: 0, reason: 'stay' }, 'no failures: the plan says gear 0 holds it');
  // held 760 of a planned 1000: scale 0.76; gear 1 holds 2000 x 0.76 = 1520 >= 800
  t.same(p.decide({ nowMs: 1, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 0, failedRateQps: 40 }), { gear: 1, reason: 'failing' });
  t.equal(p.hostScale(1), 0.76);
  // Failures of the last window were mostly gear 0's: no second step within the hold (200 ms).
  t.same(p.decide({ nowMs: 100, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 1, failedRateQps: 40 }), { gear: 1, reason: 'stay' }, 'within the hold');
  // Still failing after a hold and one SLO (the window's failures all gear 1's items): gear 1
  // held 750 of 2000, scale 0.375; gear 2 is the last.
  const p2 = make();
  p2.decide({ nowMs: 0, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 0 });
  p2.decide({ nowMs: 1, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 0, failedRateQps: 40 });
  t.same(p2.decide({ nowMs: 211, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 1, failedRateQps: 50 }), { gear: 2, reason: 'failing' }, 'the next step after a hold and one SLO');
  t.equal(p2.upCapacityQps(1, 211), 750);
  t.equal(p2.upCapacityQps(0, 211), 375);
  t.equal(p2.upCapacityQps(0, 10_211), 750, 'x2 after 10 s');
  t.equal(p2.upCapacityQps(0, 30_211), 1000, 'back to the plan\'s once relaxed past it');
  // After a hold but within one SLO more of the switch (t = 1), the window's failures include
  // items queued under gear 0: the step is taken, the scale not read again (0.76 relaxed for 200 ms).
  t.same(p.decide({ nowMs: 201, rateQps: 800, recentRateQps: 800, backlogItems: 0, current: 1, failedRateQps: 50 }), { gear: 2, reason: 'failing' }, 'the next step after a hold');
  t.ok(Math.abs(p.hostScale(201) - 0.76 * 2 ** (200 / 10_000)) < 1e-12, `the scale of gear 0's failures, got ${p.hostScale(201)}`);
  // A large shortfall skips gears: held 500 of 1000 (scale 0.5), gear 1 holds 1000 < 1500.
  t.same(make().decide({ nowMs: 0, rateQps: 1500, backlogItems: 0, current: 0, failedRateQps: 1000 }), { gear: 2, reason: 'failing' });
  const q = make();
  q.decide({ nowMs: 0, rateQps: 800, backlogItems: 0, current: 0, failedRateQps: 40 });
  // load 1100 over gear 0's capacity here, 760 x 2^(t / 10 s) (0.776-0.792 of the plan's 1000):
  // the wait reads (1100 / 0.792 - 1000) * 10 / 1250 = 3.1 ms > 0.5 * 6 at best, so gear 0 is not
  // taken back, although at the plan's capacity it would be (0.8 ms)
  for (let now = 300; now <= 600; now += 50) t.same(q.decide({ nowMs: now, rateQps: 1100, recentRateQps: 1100, backlogItems: 0, current: 1 }), { gear: 1, reason: 'stay' }, `t=${now}: above what gear 0 holds here`);
  // load 700: up once the hold (200 ms) has passed, at t = 900
  const ups: [number, unknown][] = [];
  for (let now = 700; now <= 900; now += 50) ups.push([now, q.decide({ nowMs: now, rateQps: 700, recentRateQps: 700, backlogItems: 0, current: 1 })]);
  t.same(ups, [[700, { gear: 1, reason: 'stay' }], [750, { gear: 1, reason: 'stay' }], [800, { gear: 1, reason: 'stay' }], [850, { gear: 1, reason: 'stay' }], [900, { gear: 0, reason: 'drained' }]]);
  // Never up while items still fail.
  const r = make();
  r.decide({ nowMs: 0, rateQps: 100, backlogItems: 0, current: 0, failedRateQps: 1 });
  for (let now = 10; now <= 190; now += 30) t.same(r.decide({ nowMs: now, rateQps: 100, recentRateQps: 100, backlogItems: 0, current: 1, failedRateQps: 1 }), { gear: 1, reason: 'stay' }, `t=${now}: failing, no up-switch`);
  t.same(make().decide({ nowMs: 0, rateQps: 100, backlogItems: 0, current: 2, failedRateQps: 50 }), { gear: 2, reason: 'stay' }, 'on the cheapest gear: nowhere to go');
});
