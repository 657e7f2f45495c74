import t from 'tap';
import { simulate } from '../planner/simulator.js';

t.test('M/D/1: mean latency matches Pollaczek-Khinchine within 5%', async (t) => {
  const D = 1000; // µs
  for (const rho of [0.3, 0.6]) {
    const qps = (rho / D) * 1e6;
    const r = simulate({
      stages: [{ timeUs: [0, D], maxBatch: 1, maxQueueDelayUs: 0, laneEligible: [true] }],
      lanes: 1, exitStage: new Uint8Array(1), qps, arrivals: 'poisson', sloUs: 1e6, requests: 200_000, seed: 42,
    });
    const expected = (D + (rho * D) / (2 * (1 - rho))) / 1000;
    t.ok(Math.abs(r.meanMs - expected) / expected < 0.05, `rho ${rho}: simulated ${r.meanMs.toFixed(4)} ms, analytic ${expected.toFixed(4)} ms`);
    t.ok(Math.abs(r.utilization - rho) < 0.02, `utilization ${r.utilization.toFixed(3)}`);
  }
});

t.test('deterministic for a seed; batching rule; overload detected; bursty is worse', async (t) => {
  const stage = (maxBatch: number, delay: number) => ({ timeUs: [0, ...Array.from({ length: maxBatch }, (_, b) => 200 + 100 * (b + 1))], maxBatch, maxQueueDelayUs: delay, laneEligible: [true, true] });
  const base = { lanes: 2, exitStage: Uint8Array.from([0, 1, 1, 0]), sloUs: 1e5, requests: 5000 };
  const a = simulate({ ...base, stages: [stage(8, 2000), stage(8, 2000)], qps: 3000, arrivals: 'poisson', seed: 9 });
  const b = simulate({ ...base, stages: [stage(8, 2000), stage(8, 2000)], qps: 3000, arrivals: 'poisson', seed: 9 });
  t.same(a, b, 'same seed, same result');
  t.ok(a.meanBatch[0] > 1 && a.meanBatch[0] <= 8, `mean batch ${a.meanBatch[0]}`);
  const low = simulate({ ...base, stages: [stage(8, 2000), stage(8, 2000)], qps: 5, arrivals: 'poisson', seed: 9, requests: 500 });
  t.ok(low.p50Ms >= 2 && low.p50Ms < 5, `at low load the queue delay dominates: p50 ${low.p50Ms} ms`);
  const over = simulate({ ...base, stages: [stage(1, 0), stage(1, 0)], qps: 20000, arrivals: 'poisson', seed: 9, maxBacklog: 1000 });
  t.ok(over.overloaded && over.p95Ms === Infinity, 'overload reported as unbounded p95');
  const pois = simulate({ ...base, stages: [stage(8, 1000), stage(8, 1000)], qps: 6000, arrivals: 'poisson', seed: 5, requests: 20000 });
  const burst = simulate({ ...base, stages: [stage(8, 1000), stage(8, 1000)], qps: 6000, arrivals: 'bursty', seed: 5, requests: 20000 });
  t.ok(burst.p95Ms > pois.p95Ms, `bursty p95 ${burst.p95Ms.toFixed(2)} > Poisson ${pois.p95Ms.toFixed(2)}`);
});

t.test('replayed arrival trace and host overhead', async (t) => {
  const stage = { timeUs: [0, 100, 150], maxBatch: 2, maxQueueDelayUs: 0, laneEligible: [true] };
  // two items submitted together at 0 (one batch of 2), one alone at 10 ms
  const base = { stages: [stage], lanes: 1, exitStage: new Uint8Array(1), qps: 1, arrivals: 'poisson' as const, sloUs: 1e6, warmup: 0 };
  const r = simulate({ ...base, arrivalTimesUs: [0, 0, 10_000] });
  t.equal(r.completed, 3, 'trace length = requests');
  t.equal(r.p50Ms, 0.15, 'the two simultaneous items ran as one batch of 2');
  t.equal(r.meanMs, (0.15 + 0.15 + 0.1) / 3, 'the late item alone');
  const h = simulate({ ...base, arrivalTimesUs: [0, 0, 10_000], hostOverheadUs: 40 });
  t.equal(h.meanMs.toFixed(6), ((0.19 + 0.19 + 0.14) / 3).toFixed(6), 'host overhead added to every latency');
  t.equal(h.utilization, r.utilization, 'host overhead does not occupy the lane');
});
