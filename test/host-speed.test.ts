// The host speed monitor (ts/server/host-speed.ts) and the gear policy's use of its reading
// (ts/server/gear-policy.ts, "Host speed"): planned batch times interpolated between profiled
// sizes, the measured-over-planned ratio of decayed sums, no reading without enough recent
// work, and gears whose capacities are divided by the slowdown. Expected values are worked out
// by hand in the comments.
import t from 'tap';
import { HostSpeedMonitor, plannedBatchUs } from '../ts/server/host-speed.js';
import { BacklogGearPolicy, kMaxSlowdown, type PolicyGear } from '../ts/server/gear-policy.js';

const times = { batch: [1, 8, 32], p50Us: [100, 400, 1000] };

t.test('planned batch time: proportional below and above the profiled sizes, linear between them', async (t) => {
  t.equal(plannedBatchUs(times, 1), 100);
  t.equal(plannedBatchUs(times, 0.5), 50);
  t.equal(plannedBatchUs(times, 4.5), 250, '100 + (3.5 / 7) x 300');
  t.equal(plannedBatchUs(times, 8), 400);
  t.equal(plannedBatchUs(times, 20), 700, '400 + (12 / 24) x 600');
  t.equal(plannedBatchUs(times, 64), 2000, '1000 x 64 / 32');
});

t.test('the reading: measured over planned busy time of the batches run, decayed, none without recent work', async (t) => {
  const m = new HostSpeedMonitor([times, { batch: [1], p50Us: [50] }], { timeConstantMs: 100, minPlannedUs: 1000 });
  const at = (busyUs: number, b0: number, i0: number, b1: number, i1: number) => ({ lanes: [{ busyUs: busyUs / 2 }, { busyUs: busyUs / 2 }], queues: [{ model: 0, batches: b0, items: i0 }, { model: 1, batches: b1, items: i1 }] });
  m.sample(at(0, 0, 0, 0, 0), 0);
  t.equal(m.slowdown(), undefined, 'the first sample only marks the start');
  // model 0: 10 batches of 8 (10 x 400 us), model 1: 20 single items (20 x 50 us): 5,000 us planned, 7,500 measured
  m.sample(at(7500, 10, 80, 20, 20), 10);
  t.equal(m.slowdown(), 1.5);
  // the next 10 ms: 4 batches of 4.5 items (4 x 250 us) and nothing else, run in 1,000 us
  m.sample(at(8500, 14, 98, 20, 20), 20);
  const d = Math.exp(-10 / 100);
  t.ok(Math.abs(m.slowdown()! - (7500 * d + 1000) / (5000 * d + 1000)) < 1e-12, 'decayed sums: the recent work weighs more');
  // idle: the sums decay below the least planned work for a reading
  m.sample(at(8500, 14, 98, 20, 20), 20 + 100 * Math.log(10));
  t.equal(m.slowdown(), undefined, `planned work decayed to ${((5000 * d + 1000) / 10).toFixed(0)} us < 1,000`);
  t.throws(() => new HostSpeedMonitor([{ batch: [2, 1], p50Us: [1, 2] }]), /times\[0\]: batch sizes must ascend/);
  t.throws(() => new HostSpeedMonitor([times], { timeConstantMs: 0 }), /timeConstantMs must be > 0/);
});

t.test('the policy divides every gear\'s capacity by the slowdown and stretches its own latency', async (t) => {
  // SLO 10 ms, horizons 10 ms; gear 0 holds 1,000/s (drains 1,250/s), own latency 2 ms
  const gears: PolicyGear[] = [
    { sustainedQps: 1000, serviceRateQps: 1250, budgetMs: 6, ownLatencyMs: 2 },
    { sustainedQps: 4000, serviceRateQps: 5000, budgetMs: 7, ownLatencyMs: 1 },
  ];
  const p = new BacklogGearPolicy(gears, { sloMs: 10, holdMs: 200, overloadHorizonMs: 10, recentMs: 1000 });
  // at 900/s, nothing queued: wait(0) = (900 - 1000) x 10 / 1250 < 0 -> stays
  t.same(p.decide({ nowMs: 0, rateQps: 900, backlogItems: 0, current: 0 }), { gear: 0, reason: 'stay' }, 'at the plan\'s speed');
  t.equal(p.slowdown, 1);
  // slowdown 1.5: gear 0 holds 667/s and drains 833/s, own latency 3 ms, budget 6 - 2 x 0.5 = 5 ms:
  // wait(0) = (900 - 666.7) x 10 / 833.3 = 2.8 ms -> still within 5
  t.same(p.decide({ nowMs: 1, rateQps: 900, backlogItems: 0, current: 0, slowdown: 1.5 }), { gear: 0, reason: 'stay' });
  // slowdown 2: holds 500/s, drains 625/s, budget 6 - 2 = 4 ms: wait(0) = 400 x 10 / 625 = 6.4 ms > 4;
  // gear 1 at half speed: 900 < 2,000 sustained -> down to it
  t.same(p.decide({ nowMs: 2, rateQps: 900, backlogItems: 0, current: 0, slowdown: 2 }), { gear: 1, reason: 'would_miss' }, 'half speed: gear 0 no longer holds 900/s');
  t.equal(p.slowdown, 2);
  // queued work drains at the measured speed: 2 ms own latency x 2 = 4 ms of normal in-flight (3.6 items at 900/s)
  t.equal(p.queuedItems(0, 10, 900), 10 - (900 * 4) / 1000);
  // a reading beyond the bounds is taken at the bound
  p.decide({ nowMs: 3, rateQps: 10, backlogItems: 0, current: 1, slowdown: 100 });
  t.equal(p.slowdown, kMaxSlowdown);
  // no reading: the plan's figures again
  t.same(p.decide({ nowMs: 4, rateQps: 900, backlogItems: 0, current: 0 }), { gear: 0, reason: 'stay' });
  t.equal(p.slowdown, 1);
});
