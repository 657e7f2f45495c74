// LoadMonitor.dispersion (ts/server/load-monitor.ts), the switch records' diagnostic of clumped
// arrivals, against a count computed here from the raw arrival times: Poisson arrivals read
// about 1, arrivals delivered in clumps of k read about k (a compound Poisson count's variance
// over mean), a ramp's trend is not read as noise, and a spike in the recent window does not
// move it.
import t from 'tap';
import { mulberry32 } from '../ts/contracts/items.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';

const kBucketMs = 5;
const kWindowMs = 200;
const kRecentMs = 10;

/** Times (ms) of a Poisson process at rateQps over [0, untilMs), each event `clump` arrivals at once. */
function arrivals(rateQps: number, untilMs: number, seed: number, clump = 1): number[] {
  const u = mulberry32(seed);
  const out: number[] = [];
  const eventsPerMs = rateQps / clump / 1000;
  for (let tMs = -Math.log(1 - u()) / eventsPerMs; tMs < untilMs; tMs += -Math.log(1 - u()) / eventsPerMs) {
    for (let k = 0; k < clump; k++) out.push(tMs);
  }
  return out;
}

/**
 * The same statistic from the raw times: counts in recentMs-long blocks ending where the recent
 * window starts (the bucket of nowMs and the one before it), going back over the window.
 */
function expectedDispersion(times: number[], nowMs: number): number {
  const b = Math.floor(nowMs / kBucketMs);
  const m = kRecentMs / kBucketMs;
  const blocks = Math.floor((kWindowMs / kBucketMs - m) / m);
  const counts: number[] = [];
  for (let j = 0; j < blocks; j++) {
    const fromMs = (b - m * (j + 2) + 1) * kBucketMs;
    const toMs = (b - m * (j + 1) + 1) * kBucketMs;
    counts.push(times.filter((x) => x >= fromMs && x < toMs).length);
  }
  const mean = counts.reduce((a, c) => a + c, 0) / blocks;
  if (mean <= 0) return 1;
  let sq = 0;
  for (let j = 1; j < blocks; j++) sq += (counts[j] - counts[j - 1]) ** 2;
  return Math.max(1, sq / (2 * (blocks - 1)) / mean);
}

function fed(times: number[]): LoadMonitor {
  const m = new LoadMonitor({ bucketMs: kBucketMs, windowMs: kWindowMs, recentMs: kRecentMs });
  for (const x of times) m.record(1, x);
  return m;
}

t.test('Poisson arrivals read about 1; clumps of k read about k; both as computed from the raw times', async (t) => {
  const nows = [400, 517.5, 733, 999];
  const poissonReadings: number[] = [];
  const clumpReadings: number[] = [];
  for (const seed of [1, 2, 3]) {
    const poisson = arrivals(5000, 1000, seed);
    const clumped = arrivals(5000, 1000, seed + 10, 20);
    for (const now of nows) {
      const p = poisson.filter((x) => x <= now);
      const c = clumped.filter((x) => x <= now);
      const dp = fed(p).dispersion(now);
      const dc = fed(c).dispersion(now);
      t.ok(Math.abs(dp - expectedDispersion(p, now)) < 1e-9, `Poisson, seed ${seed}, at ${now} ms: ${dp} as computed from the times`);
      t.ok(Math.abs(dc - expectedDispersion(c, now)) < 1e-9, `clumps of 20, seed ${seed}, at ${now} ms: ${dc} as computed from the times`);
      poissonReadings.push(dp);
      clumpReadings.push(dc);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  // 19 blocks: the estimate's own spread is wide (a chi-square on 18 degrees of freedom), so
  // the medians over 12 readings are judged, not each one
  t.ok(median(poissonReadings) >= 1 && median(poissonReadings) < 1.6, `Poisson median ${median(poissonReadings).toFixed(2)} about 1`);
  t.ok(median(clumpReadings) > 10 && median(clumpReadings) < 35, `clumps of 20: median ${median(clumpReadings).toFixed(1)} about 20`);
});

t.test('a ramp is not noise; a spike in the recent window does not widen its own reading', async (t) => {
  // evenly spaced arrivals at 1,000 + 100 x (ms) per second: over the window the 10 ms counts
  // rise from about 210 to 410, whose plain variance over mean is about 10
  const ramp: number[] = [];
  for (let x = 0; x < 400; ) {
    ramp.push(x);
    x += 1000 / (1000 + 100 * x);
  }
  const m = fed(ramp);
  t.equal(m.dispersion(400), 1, 'the trend of neighbouring blocks is taken out');
  t.equal(expectedDispersion(ramp, 400), 1, 'as computed from the times');
  const steady = arrivals(5000, 600, 7);
  const s = fed(steady);
  const before = s.dispersion(600);
  for (let k = 0; k < 200; k++) s.record(1, 599.5);
  t.equal(s.dispersion(600), before, 'the recent window is left out');
  t.ok(s.recentRateQps(600) > 2 * s.rateQps(600), 'while the recent rate reads the spike');
});

t.test('too short a window or no arrivals reads 1', async (t) => {
  t.equal(new LoadMonitor({ bucketMs: 5, windowMs: 200, recentMs: 10 }).dispersion(100), 1, 'no arrivals');
  const short = new LoadMonitor({ bucketMs: 5, windowMs: 40, recentMs: 10 });
  for (let x = 0; x < 40; x += 0.1) short.record(x % 5 < 0.1 ? 30 : 0, x);
  t.equal(short.dispersion(40), 1, 'fewer than 4 blocks before the recent window');
});
