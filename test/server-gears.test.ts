// Load monitor and gear switching: the load-range rule (replicas), the arrival-rate window, every
// switch decided and timed once, and a stepped load (low, high, low) over HTTP that switches to
// the cheap gear and back, seen in the responses and the metrics. Checked by counts and order; the load
// steps are far apart from the gear boundary so that a slow machine does not change them.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { gearIndexForLoad } from '../ts/server/gear-policy.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';
import type { GearSwitchEvent } from '../ts/server/gear-controller.js';
import { kSwitchLogLength } from '../ts/server/model-stats.js';
import type { CascadeStatus } from '../ts/server/status.js';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const gears = [
  { minQps: 0, maxQps: 100 },
  { minQps: 100, maxQps: 1000 },
  { minQps: 1200, maxQps: 5000 },
];

t.test('gearIndexForLoad: ranges (min, max], gaps and overflow go cheaper', async (t) => {
  t.equal(gearIndexForLoad(gears, 0), 0);
  t.equal(gearIndexForLoad(gears, 100), 0);
  t.equal(gearIndexForLoad(gears, 100.5), 1);
  t.equal(gearIndexForLoad(gears, 1100), 2, 'a gap between gears takes the cheaper one');
  t.equal(gearIndexForLoad(gears, 1e9), 2, 'overflow takes the cheapest');
});

t.test('load monitor: items per second over the sliding window', async (t) => {
  const m = new LoadMonitor({ bucketMs: 10, windowMs: 200 });
  for (let ms = 0; ms < 200; ms += 2) m.record(1, 1000 + ms); // 100 items in 200 ms
  t.equal(m.rateQps(1199), 500);
  t.equal(m.rateQps(1299), 250, 'half the window has expired');
  t.equal(m.rateQps(1400), 0, 'all expired');
  m.record(3, 5000);
  t.equal(m.rateQps(5000), 15, 'after a long idle gap only the new arrivals count');
  t.equal(m.totalItems, 103);
});

t.test('load monitor: the recent window reads a ramp the long window still averages away', async (t) => {
  const m = new LoadMonitor({ bucketMs: 10, windowMs: 200, recentMs: 50 });
  t.equal(m.options.recentMs, 50);
  for (let ms = 0; ms < 150; ms += 10) m.record(1, 1000 + ms); // 100/s for 150 ms
  for (let ms = 150; ms < 200; ms += 1) m.record(1, 1000 + ms); // then 1000/s for 50 ms
  // long window [1000, 1200): 15 + 50 items over 0.2 s
  t.equal(m.rateQps(1199), 325);
  // recent window: buckets 115..119 (1150..1199 ms), 50 items over 4 whole buckets + 9 ms
  t.equal(m.recentRateQps(1199), 50 / 0.049);
  // a fresh bucket: only the elapsed part of it counts (5 ms), not its full width
  m.record(2, 1200);
  t.equal(m.recentRateQps(1205), (40 + 2) / 0.045, 'buckets 116..119 hold 40 items, bucket 120 holds 2');
  t.throws(() => new LoadMonitor({ bucketMs: 10, windowMs: 200, recentMs: 5 }), /recentMs must be a number from bucketMs \(10\) to windowMs \(200\)/);
  t.throws(() => new LoadMonitor({ bucketMs: 10, windowMs: 200, recentMs: 300 }), /recentMs/);
  const small = new LoadMonitor({ bucketMs: 10, windowMs: 10 });
  t.equal(small.options.recentMs, 10, 'the default fits a short window');
});

t.test('every switch is decided, swapped and timed once, both ways', async (t) => {
  const events: GearSwitchEvent[] = [];
  const { url, server, stop } = await startFixtureServer(
    { accurateMaxQps: 100 },
    { upSwitchHoldMs: 0, loadWindowMs: 20, loadBucketMs: 10, onGearSwitch: (_m, e) => events.push(e) },
  );
  t.teardown(stop);
  const controller = server.cascade.gearController!;
  // A request of 30 items (under the 32 of a large request: it counts as arrivals) reads as
  // 3,000/s, far above 100/s (the gear's service rate is 200/s, its budget ~1 s: 300/s over
  // the horizon would miss): the cheap gear at once; once the 20 ms window has emptied (35 ms
  // later: no bucket of the burst is left in it), the next look (the controller's tick or ours)
  // switches back (hold 0). Two switches per round. One call per burst: single requests in a
  // loop could be spread by the OS descheduling this process, and a pause of one window in the
  // middle of a burst is, correctly, a drop in load.
  const rounds = 40;
  for (let i = 0; i < rounds; i++) {
    controller.onArrival(30);
    t.equal(server.engine.gear.id, 2, `round ${i}: the burst took the cheap gear`);
    await sleep(35);
    controller.evaluate();
    t.equal(server.engine.gear.id, 1, `round ${i}: back to the accurate gear`);
  }
  const expected = Array.from({ length: rounds }, () => [{ from: 1, to: 2 }, { from: 2, to: 1 }]).flat();
  t.same(events.map(({ from, to }) => ({ from, to })), expected, 'one event per switch, alternating');
  t.ok(events.every((e) => Number.isFinite(e.switchUs) && e.switchUs > 0), 'every switch timed');
  const text = await (await fetch(`${url}/metrics`)).text();
  t.match(text, new RegExp(`cascadeserve_gear_switch_duration_seconds_count\\{model="fixture",version="1"\\} ${2 * rounds}\n`), 'all of them in the metrics');
  // Each switch counted by from, to and reason, and the last 64 in the status route's log.
  t.match(text, new RegExp(`cascadeserve_gear_switch_events_total\\{model="fixture",version="1",from="1",to="2",reason="would_miss"\\} ${rounds}\n`), 'down: would_miss');
  t.match(text, new RegExp(`cascadeserve_gear_switch_events_total\\{model="fixture",version="1",from="2",to="1",reason="drained"\\} ${rounds}\n`), 'up: drained');
  const status = (await (await fetch(`${url}/v2/cascadeserve/status`)).json()) as CascadeStatus;
  t.equal(status.recent_switches.length, kSwitchLogLength, 'the log is bounded');
  t.same(
    status.recent_switches.map((e) => [e.from, e.to, e.reason]),
    Array.from({ length: kSwitchLogLength / 2 }, () => [[1, 2, 'would_miss'], [2, 1, 'drained']]).flat(),
    'the latest switches, oldest first',
  );
  const logged = events.slice(-kSwitchLogLength);
  t.same(
    status.recent_switches.map((e) => [e.from_index, e.to_index, e.rate_qps, e.recent_rate_qps, e.backlog_items, e.recent_dispersion]),
    logged.map((e) => [e.fromIndex, e.toIndex, e.rateQps, e.recentRateQps, e.backlogItems, e.recentDispersion]),
    'each with the load the decision read, as the event callback reported it',
  );
  // a 20 ms window holds too few 10 ms blocks to measure clumping: read as Poisson
  t.ok(events.every((e) => e.recentDispersion === 1), 'dispersion 1 on a window too short to measure it');
  t.ok(status.recent_switches.every((e, i, a) => i === 0 || e.time_ms >= a[i - 1].time_ms), 'in time order');
  const sorted = events.map((e) => e.switchUs).sort((a, b) => a - b);
  // Reported, not asserted: speed is for benchmarks, not for a test on a shared machine.
  t.comment(`decision + swap: median ${sorted[sorted.length >> 1].toFixed(1)} us, max ${sorted[sorted.length - 1].toFixed(1)} us over ${sorted.length} switches`);
});

t.test('stepped load (low, high, low): cheap gear and back, in responses and metrics', async (t) => {
  const switches: { from: number; to: number }[] = [];
  // The cheap gear above 20/s, measured over 1 s (long and recent windows alike): the low
  // phases send at most 5/s and the high one 120 requests in bursts of 40, so how fast this
  // machine answers them moves neither phase near the boundary.
  const { url, stop } = await startFixtureServer(
    { accurateMaxQps: 20 },
    { upSwitchHoldMs: 150, loadWindowMs: 1000, loadRecentMs: 1000, onGearSwitch: (_m, e) => switches.push({ from: e.from, to: e.to }) },
  );
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const gearOf = (r: { json: { outputs: { parameters: { gear: number } }[] } }) => r.json.outputs[0].parameters.gear;
  const seen: number[] = [];
  const x = items(1);

  // Low: one image every 200 ms, at most 5/s.
  for (let i = 0; i < 5; i++) {
    seen.push(gearOf(await postJson(infer, jsonRequest(x))));
    await sleep(200);
  }
  // High: bursts of 40 single-image requests at once.
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(Array.from({ length: 40 }, () => postJson(infer, jsonRequest(x))));
    for (const r of rs) {
      t.equal(r.status, 200);
      seen.push(gearOf(r));
    }
  }
  // Low again until the window has emptied and the hold has passed: the accurate gear answers.
  for (let i = 0; i < 100 && seen[seen.length - 1] !== 1; i++) {
    await sleep(200);
    seen.push(gearOf(await postJson(infer, jsonRequest(x))));
  }
  const compact = seen.filter((g, i) => i === 0 || g !== seen[i - 1]);
  t.same(compact, [1, 2, 1], `gears in responses, in order: ${compact.join(' -> ')}`);
  t.same(switches, [{ from: 1, to: 2 }, { from: 2, to: 1 }], 'one switch to the cheap gear, one back');

  const text = await (await fetch(`${url}/metrics`)).text();
  t.match(text, /cascadeserve_gear_switches_total\{model="fixture",version="1",direction="cheaper"\} 1\n/);
  t.match(text, /cascadeserve_gear_switches_total\{model="fixture",version="1",direction="more_accurate"\} 1\n/);
  t.match(text, /cascadeserve_gear\{model="fixture",version="1"\} 1\n/);
  t.match(text, /cascadeserve_expected_accuracy\{model="fixture",version="1"\} 0\.9\n/);
  t.match(text, /cascadeserve_gear_switch_duration_seconds_count\{model="fixture",version="1"\} 2\n/, 'both switches timed');
});

t.test('one large request is backlog, not a burst: no switch; the same images as single requests switch', async (t) => {
  const switches: GearSwitchEvent[] = [];
  // The accurate gear sustains 20 images/s (service rate 40/s at the plan's 50% utilization):
  // 256 single images within the 1 s window are far above it; one request of 256 images adds
  // 256 items of backlog (6.4 s of drain at 40/s, over every gear's budget) and no arrival rate,
  // so no gear would drain it markedly sooner than the running one.
  const { url, stop } = await startFixtureServer(
    { accurateMaxQps: 20 },
    { upSwitchHoldMs: 60_000, loadWindowMs: 1000, loadRecentMs: 1000, onGearSwitch: (_m, e) => switches.push(e) },
  );
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const gearOf = (r: { json: { outputs: { parameters: { gear: number } }[] } }) => r.json.outputs[0].parameters.gear;
  const large = await postJson(infer, jsonRequest(items(256)));
  t.equal(large.status, 200);
  t.equal(gearOf(large), 1, 'answered by the accurate gear');
  await sleep(50); // the controller's ticks look at the load (and the backlog, if any is left)
  t.same(switches, [], 'no switch for one large request');
  const singles = await Promise.all(Array.from({ length: 256 }, (_, i) => postJson(infer, jsonRequest(items(1, i + 2)))));
  t.ok(singles.every((r) => r.status === 200), 'every single request answered');
  t.ok(switches.length >= 1, `the same images as 256 single requests switched: ${switches.map((e) => `${e.from}->${e.to} ${e.reason}`).join(', ')}`);
  t.match(switches[0], { from: 1, to: 2, reason: 'would_miss' });
});
