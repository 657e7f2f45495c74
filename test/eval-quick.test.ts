// The evaluation (issue 14): `npm run eval -- --quick` end to end (it runs and writes its
// summary and markdown with the expected structure: files and structure, not figures), the
// trace generators, the seed sets (tuning and reported never overlap, in the code and in the
// committed summary), and the committed README tables being a rendering of the committed
// summary alone.
import t from 'tap';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { kHttpSeedCount, kReportedSeeds, kTuningSeeds, makeTrace, peakRatio, rateCurve, rateHistogram, seedOverlap, smoothRate } from '../testkit/traces.js';
import { packageRoot } from '../ts/contracts/package-root.js';

const execFileP = promisify(execFile);
const root = packageRoot();
const systems = ['cascadeserve', 'static', 'dynamic', 'msplus', 'oracle'];
// capacity cells also run the static cascade chosen in hindsight (the strongest static baseline)
const capacitySystems = [...systems, 'staticBest'];

t.test('traces are deterministic, scaled, with the documented peaks', async (t) => {
  const a = makeTrace('twitter', 200, 10_000, 7, 5000);
  const b = makeTrace('twitter', 200, 10_000, 7, 5000);
  t.same(Array.from(a.sendMs.slice(0, 50)), Array.from(b.sendMs.slice(0, 50)), 'same seed, same trace');
  t.ok(Math.abs(a.sendMs.length / 10 - 200) < 200 * 0.1, `mean rate ~ scale (${a.sendMs.length / 10})`);
  t.ok(Math.abs(peakRatio(rateCurve('twitter', 10_000, 7)) - 4.75) < 0.1, 'twitter peak ~4.75x the mean');
  for (const shape of ['azure', 'step', 'constant'] as const) {
    const r = rateCurve(shape, 10_000, 7);
    t.ok(Math.abs(r.reduce((x, y) => x + y, 0) / r.length - 1) < 1e-9, `${shape}: mean 1`);
  }
  for (let i = 1; i < a.sendMs.length; i++) if (a.sendMs[i] < a.sendMs[i - 1]) t.fail('send times ascending');
  const c = makeTrace('twitter', 200, 10_000, 8, 5000);
  t.not(c.image[0] === a.image[0] && c.image[1] === a.image[1] && c.image[2] === a.image[2], true, 'another seed draws other images (paired trace-and-image seed)');
  // images come in passes over the held-out half: each image once per pass
  const n = 5000;
  const big = makeTrace('constant', 1200, 10_000, 7, n);
  t.ok(big.image.length > 2 * n, `enough requests for two passes (${big.image.length})`);
  for (let p = 0; p < 2; p++) {
    const seen = new Uint8Array(n);
    for (let i = p * n; i < (p + 1) * n; i++) seen[big.image[i]]++;
    t.ok(seen.every((x) => x === 1), `pass ${p}: every held-out image exactly once`);
  }
  t.not(Array.from(big.image.slice(0, 20)).join(), Array.from(big.image.slice(n, n + 20)).join(), 'each pass in its own order');
  t.ok(Array.from(big.image.slice(2 * n)).every((x) => x < n), 'the last, partial pass draws valid indices');
});

t.test('tuning and reported seeds do not overlap', async (t) => {
  t.same(seedOverlap(kTuningSeeds, kReportedSeeds), [], 'no seed in both lists');
  t.same(seedOverlap([1, 2, 3], [3, 4]), [3], 'an overlap is found');
  t.ok(kReportedSeeds.length >= 4 && kHttpSeedCount >= 3 && kHttpSeedCount < kReportedSeeds.length, 'at least 3 reported seeds per view; the engine view has more than the HTTP view');
  t.ok(kTuningSeeds.length >= 1);
  const committed = join(root, 'benchmarks', 'results', 'eval-summary.json');
  if (existsSync(committed)) {
    const s = JSON.parse(readFileSync(committed, 'utf8'));
    t.same(seedOverlap(s.seeds.tuning, s.seeds.reported), [], 'the committed summary reports no tuning seed');
    for (const row of s.rows) t.same(seedOverlap(s.seeds.tuning, row.seeds), [], `row ${row.view} ${row.trace}: reported seeds only`);
    t.ok(s.rows.every((r: { view: string; seeds: number[] }) => r.seeds.length >= 3), 'every committed row has at least 3 seeds');
  }
});

t.test('load histogram and smoothing', async (t) => {
  const h = rateHistogram('twitter', [1, 2], 6000, 16);
  t.equal(h.weight.length, 16);
  t.ok(Math.abs(h.weight.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'time fractions sum to 1');
  const top = Math.max(...[1, 2].flatMap((s) => rateCurve('twitter', 6000, s)));
  t.ok(Math.abs(h.upper[15] - top) < 1e-9, 'the last bin ends at the highest rate');
  // the fraction below half the top, counted directly
  const rates = [1, 2].flatMap((s) => rateCurve('twitter', 6000, s));
  const below = rates.filter((r) => Math.floor((r / top) * 16) < 8).length / rates.length;
  t.ok(Math.abs(h.weight.slice(0, 8).reduce((a, b) => a + b, 0) - below) < 1e-9, 'bins hold the time spent in them');
  t.same(smoothRate([0, 0, 3, 0, 0], 3), [0, 1, 1, 1, 0], 'centred moving average');
  t.same(smoothRate([1, 2, 3], 1), [1, 2, 3]);
});

const zoo = join(root, 'models', 'fmnist');
t.test('quick evaluation end to end', { skip: existsSync(join(zoo, 'cascade.json')) && existsSync(join(zoo, 'data', 'heldout.bin')) ? false : 'the zoo is missing' }, async (t) => {
  // The evaluation is a benchmark program (tests do not import benchmarks/): run it as
  // `npm run eval -- --quick --out DIR` does.
  const dir = mkdtempSync(join(tmpdir(), 'cs-eval-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  const run = await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--out', dir], { cwd: root, maxBuffer: 64 << 20 }).catch((e: { code?: number; stderr?: string }) => e);
  t.notOk('code' in run && run.code, `the quick evaluation exits 0${'stderr' in run ? `: ${String(run.stderr).slice(-2000)}` : ''}`);
  t.comment(`quick evaluation: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const summaryPath = join(dir, 'eval-quick-summary.json');
  const s = JSON.parse(readFileSync(summaryPath, 'utf8'), (_, v) => (v === 'Infinity' ? Infinity : v));
  // the shape of issue 14 item 6
  t.ok(Array.isArray(s.seeds.tuning) && Array.isArray(s.seeds.reported), 'seeds: {tuning, reported}');
  t.same(seedOverlap(s.seeds.tuning, s.seeds.reported), []);
  t.same([...new Set(s.rows.map((r: { view: string }) => r.view))].sort(), ['engine', 'http'], 'a row per view');
  for (const r of s.rows) {
    t.ok(r.target > 0.5 && r.target < 1, 'target: a fraction');
    t.equal(r.sloMs, 50);
    t.equal(r.trace, 'twitter');
    t.same(Object.keys(r.capacity).sort(), [...capacitySystems].sort(), 'capacity: every system (null where not run)');
    t.ok(r.selectionMargin >= 0 && r.selectionMargin < 0.05, `the selection margin is recorded (${r.selectionMargin})`);
    for (const sys of capacitySystems) {
      const c = r.capacity[sys];
      if (r.view === 'http' && sys === 'oracle') t.equal(c, null, 'no oracle in the HTTP view');
      else {
        t.ok(c && typeof c.median === 'number' && typeof c.min === 'number' && typeof c.max === 'number', `${r.view} ${sys}: median, min, max`);
        t.ok(c.min <= c.median && c.median <= c.max);
        // no passing scale is "below X"; a seed the generator's lag kept from being measured is counted apart
        if (c.median === 0) t.ok(c.below > 0 || c.unmeasured > 0, `${r.view} ${sys}: no passing scale is "below X" or "not measured"`);
        t.ok(r.detail[sys].trials >= 1, `${r.view} ${sys}: trials ran`);
      }
    }
    // where the first seed's search starts: the engine view's plans at their simulated capacity
    // on the tuning seeds (a one-gear plan's always, bounded by latency alone; a switched plan's
    // where its simulated answers meet the target; the oracle at the fluid model's prediction),
    // the HTTP view's at the fluid model's (the simulator has no front end)
    for (const sys of [...capacitySystems, 'msplusTop']) {
      const d = r.detail[sys];
      if (!d) continue;
      if (r.view === 'engine' && ['static', 'staticBest', 'dynamic', 'msplusTop'].includes(sys)) t.ok(d.simulatedQps > 0, `${r.view} ${sys}: the simulated capacity is recorded (${d.simulatedQps})`);
      else if (r.view === 'engine' && sys !== 'oracle') t.ok(d.simulatedQps === undefined || d.simulatedQps > 0, `${r.view} ${sys}: a simulated capacity where the simulator's answers met the target (${d.simulatedQps})`);
      else t.equal(d.simulatedQps, undefined, `${r.view} ${sys}: no simulated capacity`);
    }
  }
  t.same(s.fixedHardware.map((x: { scaleStep: number }) => x.scaleStep), [1, 2], 'the fixed-hardware view at each step of the quick ladder');
  t.ok(s.fixedHardware[1].scaleQps > s.fixedHardware[0].scaleQps * 1.99 && s.fixedHardware[1].scaleQps < s.fixedHardware[0].scaleQps * 2.01, 'step 2 replays twice the base scale');
  for (const f of s.fixedHardware) {
    t.equal(f.view, 'engine');
    t.same(Object.keys(f.systems).sort(), [...systems].sort());
    for (const sys of systems) {
      const x = f.systems[sys];
      t.ok(x.accuracy >= 0 && x.accuracy <= 1 && typeof x.p95Ms === 'number' && Number.isInteger(x.failed) && x.failed <= x.requests, `fixed hardware x${f.scaleStep} ${sys}: accuracy, p95Ms, failed`);
    }
  }
  // the fixed view's switched plans carry the overload horizon chosen for accuracy on the tuning seeds
  for (const sys of ['cascadeserve', 'msplus']) {
    const plan = JSON.parse(readFileSync(join(dir, 'eval-quick-plans', `fixed-engine-twitter-50ms-${sys}.json`), 'utf8'));
    t.ok([50, 100, 200].includes(plan.policy?.overloadHorizonMs), `fixed hardware ${sys}: an overload horizon of 1, 2 or 4 SLOs (${plan.policy?.overloadHorizonMs})`);
    t.match(plan.policy?.chosenBy, /highest median accuracy/, `fixed hardware ${sys}: chosen for accuracy`);
  }
  t.equal(s.meta.complete, true, 'the run says it finished');
  t.ok(s.meta.loadAverage.samples >= 2, 'the machine load was sampled');
  const trials = JSON.parse(readFileSync(join(dir, 'eval-quick-trials.json'), 'utf8'));
  const all = trials.cells.flatMap((c: { systems: Record<string, { seeds: { trials: { s: { requests: number; lagP95Ms: number; violationRate: number } }[] }[] }> }) => Object.values(c.systems).flatMap((x) => x.seeds.flatMap((y) => y.trials)));
  // the first trial of the engine view's first seed is at the recorded centre
  const engineCell = trials.cells.find((c: { view: string }) => c.view === 'engine');
  for (const sys of ['static', 'dynamic']) {
    const x = engineCell.systems[sys];
    t.ok(x.simulatedQps > 0 && Math.abs(x.seeds[0].trials[0].scale / x.simulatedQps - 1) < 1e-9, `engine ${sys}: the first trial at the simulated capacity (${x.seeds[0].trials[0].scale} vs ${x.simulatedQps})`);
  }
  t.ok(all.length >= 9 && all.every((x: { s: { requests: number; lagP95Ms: number } }) => x.s.requests > 0 && typeof x.s.lagP95Ms === 'number'), 'every trial records its requests and the generator lag');
  // the markdown is a function of the summary alone: re-rendering gives the same text
  const md = readFileSync(join(dir, 'eval-quick.md'), 'utf8');
  t.match(md, /### Acceptance/);
  t.match(md, /### Capacity, engine view/);
  t.match(md, /### Fixed hardware, engine view/);
  rmSync(join(dir, 'eval-quick.md'));
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'report.js'), summaryPath], { cwd: root });
  t.equal(readFileSync(join(dir, 'eval-quick.md'), 'utf8'), md, 're-rendered from the summary');
  t.notMatch(md, /Measured at another commit/, 'one run, one commit: nothing said');
  t.ok(s.rows.every((r: { commit?: string; cpuModel?: string }) => r.commit === undefined && r.cpuModel === undefined), 'no row names its own commit or CPU');
  // a cell kept from an earlier run (--add) names the commit it was measured at, and the CPU where it was another
  const mixed = { ...s, rows: s.rows.map((r: object, i: number) => (i === 0 ? { ...r, commit: 'feedfacecafe0123' } : i === 1 ? { ...r, cpuModel: 'Another CPU 9000' } : r)) };
  const mixedPath = join(dir, 'mixed-summary.json');
  writeFileSync(mixedPath, JSON.stringify(mixed, (_, v) => (v === Infinity ? 'Infinity' : v)));
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'report.js'), mixedPath, '--doc', join(dir, 'mixed.md')], { cwd: root });
  const mixedMd = readFileSync(join(dir, 'mixed.md'), 'utf8');
  t.match(mixedMd, new RegExp(`\\*\\*Measured at another commit or on another CPU\\*\\* \\(kept from an earlier run by \`--add\`\\): ${s.rows[0].view} view, [^;]* at feedfacec`), 'the kept cell and its commit are named');
  t.match(mixedMd, /view, [^;]* on Another CPU 9000/, 'a cell measured on another CPU names it');
  // --add with every part kept runs nothing and rewrites the summary: each part keeps the commit
  // and the CPU it was measured on (the earlier summary's where the trials file lacks them), and
  // the best model's accuracy survives though no part ran
  const trialsPath = join(dir, 'eval-quick-trials.json');
  const stored = JSON.parse(readFileSync(trialsPath, 'utf8'));
  t.ok(stored.cells.every((c: { commit?: string; cpuModel?: string }) => typeof c.commit === 'string' && typeof c.cpuModel === 'string'), 'every measured cell records its commit and CPU');
  stored.cells[0].commit = 'feedfacecafe0123';
  stored.cells[0].cpuModel = 'Another CPU 9000';
  delete stored.cells[1].cpuModel;
  writeFileSync(trialsPath, JSON.stringify(stored));
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--add', '--out', dir], { cwd: root, maxBuffer: 64 << 20 });
  const again = JSON.parse(readFileSync(summaryPath, 'utf8'), (_, v) => (v === 'Infinity' ? Infinity : v));
  t.equal(again.rows.length, s.rows.length, '--add: every row kept');
  t.same([again.rows[0].commit, again.rows[0].cpuModel], ['feedfacecafe0123', 'Another CPU 9000'], '--add: a kept cell keeps its own commit and CPU');
  t.equal(again.rows[1].cpuModel, undefined, '--add: a cell without a CPU takes the earlier summary\'s, this machine\'s (not named)');
  t.equal(again.meta.bestHeld, s.meta.bestHeld, '--add: the best model\'s accuracy kept though no part ran');
  t.match(readFileSync(join(dir, 'eval-quick.md'), 'utf8'), /at feedfacec[0-9a-f]* on Another CPU 9000/, '--add: the table names both');
  // --take: the cells of a run made alone (--out) replace the stored cells of the same view,
  // trace, target and SLO, as measured there; the others are kept
  const other = mkdtempSync(join(tmpdir(), 'cs-eval-take-'));
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  const taken = JSON.parse(readFileSync(trialsPath, 'utf8'));
  const cell = taken.cells[1];
  cell.commit = 'beefbeefcafe4567';
  cell.systems.cascadeserve.median = 12_345;
  writeFileSync(join(other, 'eval-quick-trials.json'), JSON.stringify({ ...taken, cells: [cell], fixed: [] }));
  await t.rejects(execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--take', other, '--out', dir], { cwd: root }), /--take: needs --add/, '--take alone is refused');
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--add', '--take', other, '--out', dir], { cwd: root, maxBuffer: 64 << 20 });
  const took = JSON.parse(readFileSync(summaryPath, 'utf8'), (_, v) => (v === 'Infinity' ? Infinity : v));
  t.equal(took.rows.length, s.rows.length, '--take: a cell replaced, none added');
  const same = (r: { view: string; trace: string; sloMs: number }) => r.view === cell.view && r.trace === cell.trace && r.sloMs === cell.sloMs;
  t.same([took.rows.filter(same).length, took.rows.find(same).commit, took.rows.find(same).capacity.cascadeserve.median], [1, 'beefbeefcafe4567', 12_345], '--take: the taken cell as measured there');
  t.equal(took.rows[0].commit, 'feedfacecafe0123', '--take: the other cells kept');
  // a summary made of parts gives the parts' own times added: each cell its longest system's,
  // the fixed-hardware view its steps'
  const revive = (_: string, v: unknown) => (v === 'Infinity' ? Infinity : v);
  const parts = JSON.parse(readFileSync(trialsPath, 'utf8'), revive) as { cells: { systems: Record<string, { wallS?: number }> }[]; fixed: { wallS?: number }[] };
  const cellsS = parts.cells.reduce((a, c) => a + Math.max(0, ...Object.values(c.systems).map((x) => x.wallS ?? 0)), 0);
  t.ok(parts.fixed.length > 0 && parts.fixed.every((f) => typeof f.wallS === 'number' && f.wallS > 0), 'every fixed-hardware step records its time');
  const fixedS = parts.fixed.reduce((a, f) => a + f.wallS!, 0);
  t.ok(Math.abs(took.meta.wallS - (cellsS + fixedS)) < 1e-6, `--add: the run time is the parts' (${took.meta.wallS} s vs ${cellsS} + ${fixedS})`);
  // a fixed-hardware view taken from a run that measured nothing else and recorded no step
  // times (before FixedResult.wallS): that run's time is the view's
  const fixedOnly = mkdtempSync(join(tmpdir(), 'cs-eval-take-fixed-'));
  t.teardown(() => rmSync(fixedOnly, { recursive: true, force: true }));
  writeFileSync(join(fixedOnly, 'eval-quick-trials.json'), JSON.stringify({ ...parts, cells: [], fixed: parts.fixed.map(({ wallS: _, ...f }) => f), wallS: 600 }, (_, v) => (v === Infinity ? 'Infinity' : v)));
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--add', '--take', fixedOnly, '--out', dir], { cwd: root, maxBuffer: 64 << 20 });
  const tookFixed = JSON.parse(readFileSync(summaryPath, 'utf8'), revive);
  t.ok(Math.abs(tookFixed.meta.wallS - (cellsS + 600)) < 1e-6, `--take: a fixed view without step times counts its run's time (${tookFixed.meta.wallS} s vs ${cellsS} + 600)`);
  // a system none of whose seeds was measured (the generator lagged in every pass) is said so,
  // and no ratio or criterion is computed against it
  const row = s.rows.find((r: { view: string }) => r.view === 'engine');
  const lagged = { ...s, rows: [{ ...row, capacity: { ...row.capacity, static: { median: 0, min: 0, max: 0, unmeasured: 1 } } }] };
  const laggedPath = join(dir, 'lagged-summary.json');
  writeFileSync(laggedPath, JSON.stringify(lagged, (_, v) => (v === Infinity ? 'Infinity' : v)));
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'report.js'), laggedPath, '--doc', join(dir, 'lagged.md')], { cwd: root });
  const laggedMd = readFileSync(join(dir, 'lagged.md'), 'utf8');
  t.match(laggedMd, /\| not measured \(the load generator lagged; 1 seed\) \|/, 'the capacity says not measured');
  t.match(laggedMd, /CascadeServe >= 1\.25x the stronger static cascade \| [^|]+ \| not measured \| not measured \|/, 'the criterion against it is not measured, neither met nor missed');
});

t.test('the committed README tables are rendered from the committed summary', { skip: existsSync(join(root, 'benchmarks', 'results', 'eval-summary.json')) ? false : 'no committed summary' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-eval-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const readme = join(dir, 'README.md');
  copyFileSync(join(root, 'README.md'), readme);
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'report.js'), join(root, 'benchmarks', 'results', 'eval-summary.json'), '--doc', join(dir, 'doc.md'), '--readme', readme], { cwd: root });
  t.equal(readFileSync(readme, 'utf8'), readFileSync(join(root, 'README.md'), 'utf8'), 'README.md unchanged by re-rendering');
  t.equal(readFileSync(join(dir, 'doc.md'), 'utf8'), readFileSync(join(root, 'docs', 'evaluation-results.md'), 'utf8'), 'docs/evaluation-results.md unchanged by re-rendering');
});
