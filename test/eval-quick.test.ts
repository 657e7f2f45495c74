// `npm run eval -- --quick` end to end (issue 7): the pipeline runs and writes its JSON, SVG
// charts and markdown with the expected structure. Checks files and structure, not figures.
// Also the trace generators: deterministic, mean = scale, twitter peak 4.75x the mean.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeTrace, peakRatio, rateCurve } from '../testkit/traces.js';
import { packageRoot } from '../ts/contracts/package-root.js';

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
});

const execFileP = promisify(execFile);
const root = packageRoot();
const zoo = join(root, 'models', 'fmnist');
t.test('quick evaluation end to end', { skip: existsSync(join(zoo, 'cascade.json')) && existsSync(join(zoo, 'data', 'heldout.bin')) ? false : 'the zoo is missing' }, async (t) => {
  // The evaluation is a benchmark program (tests do not import benchmarks/): run it as
  // `npm run eval -- --quick --out DIR` does.
  const dir = mkdtempSync(join(tmpdir(), 'cs-eval-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  const run = await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'run.js'), '--quick', '--out', dir], { cwd: root, maxBuffer: 64 << 20 }).catch((e: { code?: number; stderr?: string }) => e);
  t.notOk('code' in run && run.code, `the quick evaluation exits 0${'stderr' in run ? `: ${String(run.stderr).slice(-2000)}` : ''}`);
  const resultPath = join(dir, 'eval-quick.json');
  const docPath = join(dir, 'eval-quick.md');
  t.comment(`quick evaluation: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const r = JSON.parse(readFileSync(resultPath, 'utf8'));
  t.equal(r.schema, 'cascadeserve.eval/1');
  t.equal(r.quick, true);
  const systems = ['cascadeserve', 'msplus', 'static', 'dynamic'];
  t.same([...new Set(r.capacity.map((c: { system: string }) => c.system))].sort(), [...systems].sort(), 'a capacity per system');
  for (const c of r.capacity) {
    t.ok(c.trials.length >= 1, `${c.system}: trials ran`);
    t.ok(c.capacity >= 0);
    for (const tr of c.trials) t.ok(tr.s.requests > 0 && typeof tr.pass === 'boolean');
  }
  t.equal(r.fixedScale.length, systems.length, 'fixed-scale point per system');
  t.ok(r.burst && r.burst.runs.length === systems.length && r.burst.runs[0].bins.length > 3, 'burst time series');
  t.ok(r.simulatorCheck.length >= 1, 'simulator check against a real run');
  for (const k of ['zoo', 'bertV100']) {
    t.ok(r.simulator[k].rows.length >= 1, `simulator ${k} rows`);
    for (const row of r.simulator[k].rows) t.same(Object.keys(row.lanes).sort(), [...systems].sort());
  }
  for (const svg of ['capacity', 'accuracy-latency', 'burst', 'lanes-zoo', 'lanes-bert']) {
    const text = readFileSync(join(dir, `eval-quick-${svg}.svg`), 'utf8');
    t.match(text, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, `${svg}.svg is an SVG`);
    t.match(text, /<\/svg>\n$/);
  }
  const md = readFileSync(docPath, 'utf8');
  t.match(md, /## Evaluation/);
  t.match(md, /npm run eval/);
  t.match(md, /\| accuracy target \| p95 SLO \(ms\) \| trace \|/);
  for (const s of ['plan-50ms-drop5-cascadeserve.json', 'plan-50ms-drop5-static.json']) t.ok(existsSync(join(dir, 'eval-quick-plans', s)), `${s} written`);
  // the report is a function of the stored JSON alone: re-rendering gives the same markdown
  rmSync(docPath);
  await execFileP(process.execPath, [join(root, 'dist', 'benchmarks', 'eval', 'report.js'), resultPath], { cwd: root });
  t.equal(readFileSync(docPath, 'utf8'), md, 're-rendered from eval.json');
});
