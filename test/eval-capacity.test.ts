// The evaluation's capacity search (benchmarks/eval/capacity.ts) against a fake system whose
// capacity and generator lag are known: the bracket, the generator's ceiling ("at least"), and
// the lag limit, where a pass with the generator lagging beyond the limit is no pass and the
// scale becomes the ceiling. Tests do not import benchmarks/ (test/layers.test.ts): the
// compiled module runs in a child process, as test/eval-quick.test.ts runs the evaluation.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/contracts/package-root.js';

interface Tried { scale: number; pass: boolean; lagP95Ms: number }
interface Outcome { capacity: number | null; belowQps?: number; atLeast?: boolean; unmeasured?: boolean; generatorBoundQps?: number; tried: Tried[] }
interface Case { capacityQps: number; lagMsPerKqps: number; centerQps: number; lagLimitMs?: number; trials?: number; maxTrials?: number }

/** Searches a system holding `capacityQps`, driven by a generator lagging `lagMsPerKqps` ms per 1,000 QPS. */
function search(c: Case): Outcome {
  const module = pathToFileURL(join(packageRoot(), 'dist', 'benchmarks', 'eval', 'capacity.js')).href;
  const script = `
    const { searchCapacity } = await import(${JSON.stringify(module)});
    const c = ${JSON.stringify(c)};
    const tried = [];
    const r = await searchCapacity(1, async (scale) => {
      const trial = { seed: 1, scale, pass: scale <= c.capacityQps, switches: 0, s: { lagP95Ms: (scale / 1000) * c.lagMsPerKqps } };
      tried.push({ scale, pass: trial.pass, lagP95Ms: trial.s.lagP95Ms });
      return trial;
    }, { centerQps: c.centerQps, trials: c.trials ?? 3, maxTrials: c.maxTrials ?? 6, floorQps: 5, ceilingQps: 60000, ...(c.lagLimitMs !== undefined ? { lagLimitMs: c.lagLimitMs } : {}) });
    process.stdout.write(JSON.stringify({ capacity: r.capacity, belowQps: r.belowQps, atLeast: r.atLeast, unmeasured: r.unmeasured, generatorBoundQps: r.generatorBoundQps, tried }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Outcome;
}

t.test('without a lag limit: the capacity to within the bracket, or at least the ceiling', async (t) => {
  const r = search({ capacityQps: 10_000, lagMsPerKqps: 0, centerQps: 9000 });
  t.ok(r.capacity! <= 10_000 && r.capacity! > 10_000 / 1.21, `capacity ${r.capacity} within 1.21x below 10,000`);
  t.notOk(r.atLeast);
  const top = search({ capacityQps: 1e9, lagMsPerKqps: 0, centerQps: 50_000 });
  t.equal(top.capacity, 60_000);
  t.equal(top.atLeast, true, 'passed at the ceiling: at least');
});

t.test('the search starts at the centre and steps the way the outcome points: two trials for a centre within 1.21x', async (t) => {
  const close = (a: number, b: number) => Math.abs(a / b - 1) < 1e-9;
  for (const [centerQps, want] of [
    [9000, [[9000, true], [9000 * 1.21, false]]],
    [11_500, [[11_500, false], [11_500 / 1.21, true]]],
    // the centre itself the capacity: it passes, the next step fails
    [10_000, [[10_000, true], [12_100, false]]],
  ] as [number, [number, boolean][]][]) {
    const r = search({ capacityQps: 10_000, lagMsPerKqps: 0, centerQps, trials: 2, maxTrials: 4 });
    t.equal(r.tried.length, 2, `centre ${centerQps}: two trials`);
    t.ok(r.tried.every((x, i) => close(x.scale, want[i][0]) && x.pass === want[i][1]), `centre ${centerQps}: ${JSON.stringify(r.tried.map((x) => [Math.round(x.scale), x.pass]))}`);
    t.ok(r.capacity! <= 10_000 && r.capacity! * 1.21 * 1.001 > 10_000, `centre ${centerQps}: capacity ${r.capacity} within 1.21x below 10,000`);
  }
  // one step more when the centre is 1.21-1.46x off: three trials
  const three = search({ capacityQps: 10_000, lagMsPerKqps: 0, centerQps: 7500, trials: 2, maxTrials: 4 });
  t.same(three.tried.map((x) => x.pass), [true, true, false]);
  t.ok(close(three.tried[2].scale, 7500 * 1.21 * 1.21), `steps of 1.21x: ${three.tried.map((x) => Math.round(x.scale))}`);
  // far off: three steps of 1.21x, then x1.5 until the outcome flips, then bisection
  const far = search({ capacityQps: 10_000, lagMsPerKqps: 0, centerQps: 2500, trials: 2, maxTrials: 8 });
  const ratios = far.tried.slice(1, 5).map((x, i) => x.scale / far.tried[i].scale);
  t.ok(ratios.slice(0, 3).every((x) => close(x, 1.21)) && close(ratios[3], 1.5), `step ratios ${ratios.map((x) => x.toFixed(3))}`);
  t.ok(far.capacity! <= 10_000 && far.capacity! * 1.21 * 1.001 > 10_000, `far: capacity ${far.capacity} within 1.21x below 10,000 after ${far.tried.length} trials`);
  // with three trials at least, a flip after one step is bisected once more: within 1.1x
  const fine = search({ capacityQps: 10_000, lagMsPerKqps: 0, centerQps: 9000, trials: 3, maxTrials: 5 });
  t.equal(fine.tried.length, 3);
  t.ok(fine.capacity! <= 10_000 && fine.capacity! * 1.1 * 1.001 > 10_000, `three trials: capacity ${fine.capacity} within 1.1x`);
});

t.test('a pass with the generator lagging beyond the limit sets the ceiling: at least the largest clean pass below it', async (t) => {
  // the system holds 100,000; the generator lags 0.2 ms per 1,000 QPS: past 8 ms above 40,000
  const r = search({ capacityQps: 100_000, lagMsPerKqps: 0.2, centerQps: 45_000, lagLimitMs: 8 });
  t.equal(r.atLeast, true);
  t.ok(r.generatorBoundQps! > 40_000, `generator bound at ${r.generatorBoundQps}`);
  t.ok(r.capacity! <= 40_000 && r.capacity! * 1.21 * 1.001 >= r.generatorBoundQps!, `capacity ${r.capacity} within the bracket below the bound ${r.generatorBoundQps}`);
  const at = r.tried.find((x) => x.scale === r.capacity)!;
  t.ok(at.pass && at.lagP95Ms <= 8, 'the reported scale passed with the lag within the limit');
});

t.test('a system below the generator limit is measured as without one', async (t) => {
  const r = search({ capacityQps: 20_000, lagMsPerKqps: 0.2, centerQps: 18_000, lagLimitMs: 8 });
  t.notOk(r.atLeast);
  t.equal(r.generatorBoundQps, undefined);
  t.ok(r.capacity! <= 20_000 && r.capacity! > 20_000 / 1.21, `capacity ${r.capacity}`);
});

t.test('a failing trial fails whatever the lag', async (t) => {
  // fails above 30,000; the generator lags past the limit above 25,000
  const r = search({ capacityQps: 30_000, lagMsPerKqps: 0.4, centerQps: 50_000, lagLimitMs: 10 });
  t.ok(r.capacity! <= 25_000, `capacity ${r.capacity} not above the generator's limit`);
  t.equal(r.atLeast, true);
});

t.test('a search in which the generator lagged beyond the limit in every pass measured nothing, and says so', async (t) => {
  // holds 5,000, but the generator lags 1 ms per 100 QPS against a 1 ms limit: no clean pass above 100 QPS
  const r = search({ capacityQps: 5000, lagMsPerKqps: 10, centerQps: 8000, lagLimitMs: 1 });
  t.equal(r.unmeasured, true, 'unmeasured (the evaluation goes on; one such search used to end the run)');
  t.equal(r.capacity, null, 'no capacity');
  t.equal(r.belowQps, undefined, 'not "below": nothing failed');
  t.equal(r.tried.length, 6, 'every trial the search had was spent going down');
  const passes = r.tried.filter((x) => x.pass);
  t.ok(passes.length >= 1 && passes.every((x) => x.lagP95Ms > 1), `every pass (${passes.length}) had the generator lagging`);
  t.equal(r.generatorBoundQps, Math.min(...passes.map((x) => x.scale)), 'the lowest lagging pass is the bound');
});

t.test('confirmation: trials at a scale until a majority of three agrees', async (t) => {
  const module = pathToFileURL(join(packageRoot(), 'dist', 'benchmarks', 'eval', 'capacity.js')).href;
  // Each case: the outcomes the trials would have, in order; what the scale is decided, and how many trials ran.
  const cases: [boolean[], boolean, number][] = [[[true, true, false], true, 2], [[false, false, true], false, 2], [[true, false, true], true, 3], [[false, true, false], false, 3], [[true, false, false], false, 3]];
  const script = `
    const { majorityAt } = await import(${JSON.stringify(module)});
    const out = [];
    for (const outcomes of ${JSON.stringify(cases.map((c) => c[0]))}) {
      let i = 0;
      const r = await majorityAt(1000, 3, async (scale) => { const pass = outcomes[i++]; return { seed: 1, scale, pass, switches: 0, s: { p95Ms: pass ? 10 : 99, accuracy: 0.9, failed: i } }; });
      out.push({ pass: r.pass, votes: r.votes.length, firstFailed: r.s.failed });
    }
    process.stdout.write(JSON.stringify(out));`;
  const got = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { pass: boolean; votes: number; firstFailed: number }[];
  t.same(got.map((g) => [g.pass, g.votes]), cases.map((c) => [c[1], c[2]]));
  // the summary kept is the first trial that voted with the majority: trial 2 in [true, false, false], else trial 1
  t.same(got.map((g) => g.firstFailed), [1, 1, 1, 1, 2]);
});
