// Cost by length: the profile's optional length fields (lengths, timings[].lengthBuckets), the
// planner's expected batch time over a length mix and the simulator's batches costed at their
// longest item, each against a reference computed here; and the zoo path unchanged.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lengthBucketOf, mixedBatchTimeUs, validateProfile, type BatchTiming, type Profile } from '../ts/contracts/profile-schema.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { computePlan } from '../planner/compute-plan.js';
import { evaluateConfig, stageWork, tableTimeUs } from '../planner/batching.js';
import { simulate, type SimStage } from '../planner/simulator.js';
import { columnsOf, exitStages } from '../planner/cascade-eval.js';
import type { ModelTable, PlanContext } from '../planner/messages.js';
import { mulberry32 } from '../planner/prng.js';
import { syntheticProfile } from './planner-fixture.js';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const kEdges = [8, 16, 32, 64];

/** Batch time model of the fixture: a fixed part plus a part per item and per token. */
const timeAt = (m: number, b: number, len: number) => 150 + [20, 60, 150, 400, 1000][m] * b * (len / 16);
const rows = (m: number, len: number, sizes: number[]): BatchTiming[] => sizes.map((b) => ({ batch: b, p50: timeAt(m, b, len), p95: timeAt(m, b, len) * 1.2, reps: 5 }));

/** syntheticProfile plus lengths (skewed towards short items, longer for harder items) and length buckets. */
function lengthProfile(n = 600, seed = 3): Profile {
  const p = clone(syntheticProfile(n, seed)) as Profile;
  const rnd = mulberry32(seed);
  // longer items are the ones the cheap model is less sure of: their share grows along the cascade
  p.lengths = p.models[0].validation.certainty.max_prob.map((c) => Math.max(1, Math.min(64, Math.round(4 + 60 * (1 - c) * rnd() + 8 * rnd()))));
  const counts = kEdges.map(() => 0);
  for (const len of p.lengths) counts[lengthBucketOf(kEdges, len)]++;
  p.models.forEach((m, i) => {
    const sizes = m.timings[0].batchTimesUs.map((r) => r.batch);
    const buckets = kEdges.map((len, j) => ({ length: len, share: counts[j] / n, batchTimesUs: rows(i, len, sizes) }));
    m.timings[0].lengthBuckets = buckets;
    // the top-level table: the expected time over the mix, as the profiler writes it
    m.timings[0].batchTimesUs = sizes.map((b, k) => {
      const p50 = mixedBatchTimeUs(buckets.map((x) => x.batchTimesUs[k].p50), buckets.map((x) => x.share), b);
      return { batch: b, p50, p95: p50 * 1.2, reps: 5 };
    });
  });
  return validateProfile(p);
}

/** Reference: expected time at the longest of b independent draws, by enumerating every b-tuple of buckets. */
function enumeratedMix(times: number[], shares: number[], b: number): number {
  let total = 0;
  const walk = (depth: number, prob: number, top: number) => {
    if (depth === b) {
      total += prob * times[top];
      return;
    }
    for (let j = 0; j < shares.length; j++) walk(depth + 1, prob * shares[j], Math.max(top, j));
  };
  walk(0, 1, 0);
  return total;
}

t.test('profile length fields: optional, validated, failing field named', async (t) => {
  const good = lengthProfile();
  t.doesNotThrow(() => validateProfile(clone(good)), 'a profile with lengths and length buckets loads');
  const plain = clone(good) as any;
  delete plain.lengths;
  for (const m of plain.models) delete m.timings[0].lengthBuckets;
  t.doesNotThrow(() => validateProfile(plain), 'and one without them (an old profile)');
  const committed = JSON.parse(readFileSync(join(packageRoot(), 'models', 'fmnist', 'profile.json'), 'utf8'));
  t.doesNotThrow(() => validateProfile(committed), "the zoo's committed profile loads");
  const cases: [string, (p: any) => void, RegExp][] = [
    ['lengths count', (p) => p.lengths.pop(), /^ {2}lengths: expected 600 elements \(labels\.length\), got 599$/m],
    ['lengths zero', (p) => (p.lengths[7] = 0), /lengths\[7\]: expected a positive integer length/],
    ['lengths fraction', (p) => (p.lengths[3] = 2.5), /lengths\[3\]: expected a positive integer length/],
    ['not an array', (p) => (p.models[1].timings[0].lengthBuckets = {}), /models\[1\]\.timings\[0\]\.lengthBuckets: expected an array/],
    ['edges not increasing', (p) => (p.models[0].timings[0].lengthBuckets[2].length = 16), /models\[0\]\.timings\[0\]\.lengthBuckets\[2\]\.length: expected lengths in strictly increasing order \(previous 16\)/],
    ['share out of range', (p) => (p.models[2].timings[0].lengthBuckets[1].share = 1.5), /models\[2\]\.timings\[0\]\.lengthBuckets\[1\]\.share: expected a number in \[0, 1\]/],
    [
      'shares not summing to 1',
      (p) => {
        delete p.lengths;
        p.models[0].timings[0].lengthBuckets[0].share += 0.1;
      },
      /models\[0\]\.timings\[0\]\.lengthBuckets: expected shares summing to 1/,
    ],
    [
      'shares that are not the lengths',
      (p) => {
        const b = p.models[3].timings[0].lengthBuckets;
        const d = Math.min(b[0].share, 0.05);
        b[0].share -= d;
        b[1].share += d;
      },
      /models\[3\]\.timings\[0\]\.lengthBuckets\[0\]\.share: expected [0-9.]+ \(\d+ of the 600 items in lengths fall in this bucket\)/,
    ],
    ['last edge below the longest item', (p) => (p.models[4].timings[0].lengthBuckets[3].length = 33), new RegExp(`models\\[4\\]\\.timings\\[0\\]\\.lengthBuckets\\[3\\]\\.length: expected the last bucket to cover the longest item \\(lengths holds ${Math.max(...good.lengths!)}\\)`)],
    ['batch sizes differ', (p) => p.models[0].timings[0].lengthBuckets[1].batchTimesUs.pop(), /models\[0\]\.timings\[0\]\.lengthBuckets\[1\]\.batchTimesUs: expected the batch sizes of the timing's batchTimesUs \(1, 2, 4, 8, 16, 32, 64\), got 1, 2, 4, 8, 16, 32/],
    ['bucket p50', (p) => (p.models[1].timings[0].lengthBuckets[0].batchTimesUs[2].p50 = -3), /models\[1\]\.timings\[0\]\.lengthBuckets\[0\]\.batchTimesUs\[2\]\.p50: expected a positive number/],
  ];
  for (const [name, mutate, re] of cases) {
    const bad = clone(good);
    mutate(bad);
    t.throws(() => validateProfile(bad), re, name);
  }
});

t.test('expected batch time over a length mix equals the enumeration of every batch', async (t) => {
  const shares = [0.5, 0.3, 0.15, 0.05];
  const times = [100, 180, 400, 1500];
  for (let b = 1; b <= 6; b++) t.ok(Math.abs(mixedBatchTimeUs(times, shares, b) - enumeratedMix(times, shares, b)) < 1e-9 * times[3], `b=${b}`);
  t.equal(mixedBatchTimeUs(times, [0, 0, 1, 0], 7), 400, 'all items in one bucket: that bucket');
  t.ok(mixedBatchTimeUs(times, shares, 16) > mixedBatchTimeUs(times, shares, 2), 'larger batches are more likely to hold a long item');
  // the planner's table lookup uses it per batch size, the step rule between measured sizes
  const m: ModelTable = { name: 'x', memoryBytes: 1, batch: [1, 4], p50Us: [1, 1], lengthBuckets: times.map((_, j) => ({ length: kEdges[j], share: shares[j], p50Us: [times[j], 3 * times[j]] })) };
  t.ok(Math.abs(tableTimeUs(m, 3) - enumeratedMix(times.map((x) => 3 * x), shares, 3)) < 1e-6, 'b=3 takes the b=4 row of every bucket at 3 draws');
  t.equal(tableTimeUs({ ...m, lengthBuckets: undefined }, 3), 1, 'without buckets: the plain step table');
});

t.test('planner: stage work by length, against the reference, and capacity in the expected direction', async (t) => {
  const profile = lengthProfile();
  const cols = columnsOf(profile);
  const spec = { models: [0, 2, 4], thresholds: [0.6, 0.7], measure: 'max_prob' as const };
  const exit = exitStages(cols, spec);
  const n = exit.length;
  const reach = [0, 1, 2].map((s) => exit.filter((e) => e >= s).length / n);
  const table = (m: number, len?: number): ModelTable => {
    const tm = profile.models[m].timings[0];
    const base = { name: profile.models[m].name, memoryBytes: 1, batch: tm.batchTimesUs.map((r) => r.batch) };
    if (len !== undefined) return { ...base, p50Us: base.batch.map((b) => timeAt(m, b, len)) };
    return { ...base, p50Us: tm.batchTimesUs.map((r) => r.p50), lengthBuckets: tm.lengthBuckets!.map((k) => ({ length: k.length, share: k.share, p50Us: k.batchTimesUs.map((r) => r.p50) })) };
  };
  const ctxWith = (models: ModelTable[], itemLengths?: Int32Array): PlanContext => ({
    cascades: [{ spec, accuracy: 0.9, expectedCostUs: 1, reach, exitStage: exit }],
    models,
    lanes: 1,
    hosts: models.map(() => [true]),
    sloUs: 50_000,
    cap: 0.8,
    delayFraction: 0.3,
    batchSizes: [1, 2, 4, 8, 16, 32, 64],
    sim: { requests: 2000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50 },
    ...(itemLengths ? { itemLengths } : {}),
  });
  const lengths = Int32Array.from(profile.lengths!);
  const byLength = ctxWith(profile.models.map((_, m) => table(m)), lengths);
  const cfg = { maxBatch: [8, 8, 8], maxQueueDelayUs: [2000, 2000, 2000] };
  const qps = 300;
  // reference: per stage, the items reaching it, their bucket mix, the enumerated expectation
  const work = stageWork(byLength, 0, qps, cfg);
  for (let s = 0; s < 3; s++) {
    const m = spec.models[s];
    const rate = qps * reach[s];
    const b = Math.floor(Math.max(1, Math.min(8, 1 + (rate * 2000) / 1e6)));
    const counts = kEdges.map(() => 0);
    let reached = 0;
    for (let i = 0; i < n; i++) {
      if (exit[i] < s) continue;
      let j = 0;
      while (j < kEdges.length - 1 && lengths[i] > kEdges[j]) j++;
      counts[j]++;
      reached++;
    }
    const sizes = profile.models[m].timings[0].batchTimesUs.map((r) => r.batch);
    const row = sizes.findIndex((x) => x >= b);
    const expected = enumeratedMix(kEdges.map((len) => timeAt(m, sizes[row], len)), counts.map((c) => c / reached), b);
    t.ok(Math.abs(work[s] - (rate * expected) / b / 1e6) < 1e-9, `stage ${s}: work ${work[s].toFixed(5)} = reference`);
  }
  t.ok(reach[2] > 0 && reach[2] < 1, 'the cascade sends some items to its last stage');
  // The data's lengths reach up to 64 tokens while half the items are at most 16: a profile
  // timed only at 16 tokens overstates capacity, one timed only at 64 understates it.
  const total = (ctx: PlanContext) => stageWork(ctx, 0, qps, cfg).reduce((a, b) => a + b, 0);
  const short = total(ctxWith(profile.models.map((_, m) => table(m, 16))));
  const long = total(ctxWith(profile.models.map((_, m) => table(m, 64))));
  const mixed = total(byLength);
  t.ok(short < mixed && mixed < long, `work per second: at 16 tokens ${short.toFixed(3)} < by length ${mixed.toFixed(3)} < at 64 tokens ${long.toFixed(3)}`);
  // the simulator under the same mix: busier than at 16 tokens, less than at 64
  const sim = async (ctx: PlanContext) => (await evaluateConfig(ctx, 0, qps, cfg)).simUtilization;
  const [uShort, uMixed, uLong] = [await sim(ctxWith(profile.models.map((_, m) => table(m, 16)))), await sim(byLength), await sim(ctxWith(profile.models.map((_, m) => table(m, 64))))];
  t.ok(uShort < uMixed && uMixed < uLong, `simulated utilization ${uShort.toFixed(3)} < ${uMixed.toFixed(3)} < ${uLong.toFixed(3)}`);
  // a plan on the profile with lengths serves less load than one that believes every item is short
  const asShort = clone(profile);
  delete asShort.lengths;
  asShort.models.forEach((m, i) => {
    delete m.timings[0].lengthBuckets;
    m.timings[0].batchTimesUs = rows(i, 16, m.timings[0].batchTimesUs.map((r) => r.batch));
  });
  const opts = { sloP95Ms: 20, lanes: 1, loadLevels: 8, maxGears: 4, maxQps: 40_000, threads: 1, sim: { requests: 1000 } };
  const top = (p: Profile) => computePlan(p, opts).then(({ plan }) => Math.max(0, ...plan.gears.map((g) => g.maxQps)));
  const [capShort, capMixed] = [await top(asShort), await top(profile)];
  t.ok(capMixed < capShort, `planned capacity by length ${capMixed} qps < at 16 tokens ${capShort} qps`);
});

t.test('simulator: a batch costs its longest item\'s bucket', async (t) => {
  // one stage, one lane, batches of exactly 4 (arrivals in groups of 4 at once, no delay)
  const times = [[0, 100, 200, 300, 400], [0, 1000, 2000, 3000, 4000]];
  const stage = (lengthTimeUs?: SimStage['lengthTimeUs']): SimStage => ({ timeUs: times[0], maxBatch: 4, maxQueueDelayUs: 0, laneEligible: [true], ...(lengthTimeUs ? { lengthTimeUs } : {}) });
  const groups = 50;
  const arrivalTimesUs = Array.from({ length: groups * 4 }, (_, i) => Math.floor(i / 4) * 10_000);
  const exitStage = new Uint8Array(64);
  const itemLength = Int32Array.from({ length: 64 }, (_, i) => (i % 8 === 0 ? 50 : 10)); // 1 item in 8 is long
  const run = (s: SimStage, lens?: Int32Array) => simulate({ stages: [s], lanes: 1, exitStage, ...(lens ? { itemLength: lens } : {}), qps: 400, arrivals: 'poisson', arrivalTimesUs, requests: arrivalTimesUs.length, warmup: 0, sloUs: 1e6, seed: 9 });
  const buckets = [{ length: 16, timeUs: times[0] }, { length: 64, timeUs: times[1] }];
  const plain = run(stage());
  t.same(run(stage(buckets)), plain, 'without item lengths the buckets are ignored');
  t.same(run(stage()), run(stage(), itemLength), 'without buckets the item lengths change nothing');
  const mixed = run(stage(buckets), itemLength);
  // reference: replay the route draws (the simulator draws item = floor(u * n) per request
  // from its route stream); a group of 4 costs 4000 µs when any of its items is long, else 400
  const rndRoute = mulberry32(9 ^ 0x9e3779b9);
  let busyUs = 0;
  for (let g = 0; g < groups; g++) {
    let long = false;
    for (let j = 0; j < 4; j++) long = itemLength[Math.floor(rndRoute() * 64)] > 16 || long;
    busyUs += long ? 4000 : 400;
  }
  // every group finds the lane idle (10 ms apart, at most 4 ms of work): its 4 requests take the batch's time
  t.ok(Math.abs(mixed.meanMs - busyUs / groups / 1000) < 1e-9, `mean latency ${mixed.meanMs} ms = reference ${busyUs / groups / 1000} ms`);
  t.ok(Math.abs(plain.meanMs - 0.4) < 1e-9, 'all short: 400 µs per batch');
  t.ok(mixed.meanMs > plain.meanMs, 'long items make the mean latency longer');
});

t.test('the zoo plan: one length bucket holding every item plans exactly as no length data; a slower long bucket does not', async (t) => {
  // The length path reduces to the plain one (the expected time over one bucket is its table,
  // the simulator times every batch at that table), so adding length data changes a plan only
  // through the lengths themselves. (Before cost by length, the same settings reproduced the
  // committed models/fmnist/plan.json exactly.)
  const profile = validateProfile(JSON.parse(readFileSync(join(packageRoot(), 'models', 'fmnist', 'profile.json'), 'utf8')));
  const opts = { sloP95Ms: 10, lanes: 1, maxQps: 25000, loadLevels: 16, maxGears: 8, maxStages: 2, threads: 1 };
  const plain = (await computePlan(profile, opts)).plan;
  const oneBucket = clone(profile);
  oneBucket.lengths = oneBucket.labels.map(() => 1);
  for (const m of oneBucket.models) for (const tm of m.timings) tm.lengthBuckets = [{ length: 1, share: 1, batchTimesUs: clone(tm.batchTimesUs) }];
  const same = (await computePlan(validateProfile(oneBucket), opts)).plan;
  t.same(same.gears, plain.gears, 'gears');
  t.same(same.unservable, plain.unservable, 'unservable');
  // control: half the items in a second bucket three times slower
  const twoBuckets = clone(oneBucket);
  twoBuckets.lengths = twoBuckets.labels.map((_, i) => (i % 2 === 0 ? 1 : 2));
  for (const m of twoBuckets.models) for (const tm of m.timings) tm.lengthBuckets = [{ length: 1, share: 0.5, batchTimesUs: clone(tm.batchTimesUs) }, { length: 2, share: 0.5, batchTimesUs: tm.batchTimesUs.map((r) => ({ ...r, p50: 3 * r.p50, p95: 3 * r.p95 })) }];
  const slower = (await computePlan(validateProfile(twoBuckets), opts)).plan;
  // accuracy over the load grid (each gear's accuracy over its range): lower when items cost more
  const meanAccuracy = (p: typeof plain) => p.gears.reduce((a, g) => a + g.expectedAccuracy * (g.maxQps - g.minQps), 0) / 25000;
  t.ok(meanAccuracy(slower) < meanAccuracy(plain), `accuracy over the grid: ${meanAccuracy(slower).toFixed(4)} with the slower long items < ${meanAccuracy(plain).toFixed(4)}`);
});
