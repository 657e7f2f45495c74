// The evaluation's capacity search (benchmarks/eval/capacity.ts) against a fake system whose
// capacity and generator lag are known: the bracket, the generator's ceiling ("at least"), and
// the lag limit, where a pass with the generator lagging beyond the limit is no pass and the
// scale becomes the ceiling.
import t from 'tap';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/contracts/package-root.js';

// Tests do not import benchmarks/ (test/tsconfig.json): the compiled module is loaded at run
// time, typed here by what the test uses.
interface Trial { seed: number; scale: number; pass: boolean; switches: number; s: { lagP95Ms: number } }
interface SeedCapacity { capacity: number | null; belowQps?: number; atLeast?: boolean; generatorBoundQps?: number }
type Search = (seed: number, tryScale: (scale: number) => Promise<Trial>, o: { centerQps: number; trials: number; maxTrials: number; floorQps: number; ceilingQps: number; lagLimitMs?: number }) => Promise<SeedCapacity>;
const { searchCapacity } = (await import(pathToFileURL(join(packageRoot(), 'dist', 'benchmarks', 'eval', 'capacity.js')).href)) as { searchCapacity: Search };

/** A system holding `capacityQps`, driven by a generator lagging `lagMsPerKqps` ms per 1,000 QPS. */
function fake(capacityQps: number, lagMsPerKqps: number) {
  const tried: Trial[] = [];
  const tryScale = async (scale: number): Promise<Trial> => {
    const trial: Trial = { seed: 1, scale, pass: scale <= capacityQps, switches: 0, s: { lagP95Ms: (scale / 1000) * lagMsPerKqps } };
    tried.push(trial);
    return trial;
  };
  return { tried, tryScale };
}

const base = { trials: 3, maxTrials: 6, floorQps: 5, ceilingQps: 60_000 };

t.test('without a lag limit: the capacity to within the bracket, or at least the ceiling', async (t) => {
  const a = fake(10_000, 0);
  const r = await searchCapacity(1, a.tryScale, { ...base, centerQps: 9000 });
  t.ok(r.capacity! <= 10_000 && r.capacity! > 10_000 / 1.21, `capacity ${r.capacity} within 1.21x below 10,000`);
  t.notOk(r.atLeast);
  const b = fake(1e9, 0);
  const top = await searchCapacity(1, b.tryScale, { ...base, centerQps: 50_000 });
  t.equal(top.capacity, 60_000);
  t.equal(top.atLeast, true, 'passed at the ceiling: at least');
});

t.test('a pass with the generator lagging beyond the limit sets the ceiling: at least the largest clean pass below it', async (t) => {
  // the system holds 100,000; the generator lags 0.2 ms per 1,000 QPS: past 8 ms above 40,000
  const a = fake(100_000, 0.2);
  const r = await searchCapacity(1, a.tryScale, { ...base, centerQps: 45_000, lagLimitMs: 8 });
  t.equal(r.atLeast, true);
  t.ok(r.generatorBoundQps! > 40_000, `generator bound at ${r.generatorBoundQps}`);
  t.ok(r.capacity! <= 40_000 && r.capacity! * 1.21 * 1.001 >= r.generatorBoundQps!, `capacity ${r.capacity} within the bracket below the bound ${r.generatorBoundQps}`);
  for (const x of a.tried) if (x.scale === r.capacity) t.ok(x.s.lagP95Ms <= 8, 'the reported scale passed with the lag within the limit');
});

t.test('a system below the generator limit is measured as without one', async (t) => {
  const a = fake(20_000, 0.2);
  const r = await searchCapacity(1, a.tryScale, { ...base, centerQps: 18_000, lagLimitMs: 8 });
  t.notOk(r.atLeast);
  t.equal(r.generatorBoundQps, undefined);
  t.ok(r.capacity! <= 20_000 && r.capacity! > 20_000 / 1.21, `capacity ${r.capacity}`);
});

t.test('a failing trial fails whatever the lag; a bound found above a failure leaves the failure the limit', async (t) => {
  // fails above 30,000; the generator lags past the limit above 25,000
  const a = fake(30_000, 0.4);
  const r = await searchCapacity(1, a.tryScale, { ...base, centerQps: 50_000, lagLimitMs: 10 });
  t.ok(r.capacity! <= 25_000, `capacity ${r.capacity} not above the generator's limit`);
  t.equal(r.atLeast, true);
  const b = fake(5000, 10);
  const low = await searchCapacity(1, b.tryScale, { ...base, centerQps: 8000, lagLimitMs: 1 });
  // every trial above 5,000 fails; lagging passes below 100 QPS would not count, none is reached
  t.ok(low.capacity === null || low.capacity <= 5000, `capacity ${low.capacity}`);
  for (const x of b.tried) if (x.scale > 5000) t.notOk(x.pass);
});
