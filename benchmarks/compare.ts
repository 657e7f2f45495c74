// `npm run bench:compare -- --base <commit>`: the engine, HTTP and planner benchmarks (and the
// Session benchmark when named) of this checkout side by side with those of an earlier commit,
// built in a temporary git worktree.
// The two builds run alternately (base, current, then current, base, ...: a drift of the
// shared machine's load hits both alike), each benchmark `--alternations` times per side at
// its quick size; the report gives per measure the median of each side, the ratio
// current / base and each side's spread (min..max), with the load average around the runs.
//
// Flags: --base <commit> (required), --alternations N (default 3), --benches engine,http,planner,
// --full (the benchmarks' full sizes instead of --quick), --base-dir DIR (where the base is
// built; default <tmpdir>/cascadeserve-base-<commit>; reused when already built there), --fresh
// (rebuild it), --record (results to benchmarks/results/compare-<base>.json instead of
// benchmarks/local/). The base is built with this checkout's node_modules and ONNX Runtime
// headers hard-linked (no download) and its own `node scripts/setup.mjs`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../bindings/binding.js';
import { kExitUsage, parseScriptArgs, type CommandSpec } from '../ts/cli/args.js';
import { median, table, writeResult } from './stats.js';

type BenchName = 'engine' | 'http' | 'planner' | 'session';
/** Run unless --benches says otherwise; 'session' only when named. */
const kBenches: BenchName[] = ['engine', 'http', 'planner'];
const kKnownBenches: BenchName[] = [...kBenches, 'session'];

/** A measure read from a benchmark's result file; `better` says which direction wins. */
interface Measure { bench: BenchName; name: string; unit: string; better: 'higher' | 'lower'; read: (r: any) => number } // eslint-disable-line @typescript-eslint/no-explicit-any

const kMeasures: Measure[] = [
  { bench: 'engine', name: 'saturation resnet b=32 vs C API loop', unit: 'ratio', better: 'higher', read: (r) => r.results.saturation.ratio },
  { bench: 'engine', name: 'saturation resnet b=32', unit: 'items/s', better: 'higher', read: (r) => r.results.saturation.engineItemsPerS },
  { bench: 'engine', name: 'per-request overhead logreg b=32', unit: 'us', better: 'lower', read: (r) => r.results.perRequestOverhead.overheadUs },
  { bench: 'engine', name: 'low-load latency overhead p50', unit: 'us', better: 'lower', read: (r) => r.results.lowLoadLatency.p50OverheadUs },
  { bench: 'engine', name: 'low-load latency overhead p99', unit: 'us', better: 'lower', read: (r) => r.results.lowLoadLatency.p99OverheadUs },
  { bench: 'engine', name: 'batch assembly 32 x 784', unit: 'GB/s', better: 'higher', read: (r) => r.results.core.batch_assembly.gather_gbps },
  { bench: 'engine', name: 'one-item submit, JavaScript thread', unit: 'us', better: 'lower', read: (r) => r.results.oneItemSubmit?.usPerSubmit },
  { bench: 'http', name: 'bare Fastify route', unit: 'req/s', better: 'higher', read: (r) => r.summary.bare.rps },
  { bench: 'http', name: 'JSON infer', unit: 'req/s', better: 'higher', read: (r) => r.summary.json.rps },
  { bench: 'http', name: 'binary infer', unit: 'req/s', better: 'higher', read: (r) => r.summary.binary.rps },
  { bench: 'http', name: 'JSON infer / bare', unit: 'ratio', better: 'higher', read: (r) => r.summary.json.rps / r.summary.bare.rps },
  { bench: 'http', name: 'JSON infer p50', unit: 'ms', better: 'lower', read: (r) => r.summary.json.p50Ms },
  { bench: 'planner', name: 'zoo plan, 1 thread', unit: 's', better: 'lower', read: (r) => median(r.runs.single.map((x: { totalMs: number }) => x.totalMs)) / 1000 },
  { bench: 'planner', name: 'zoo plan, Piscina workers', unit: 's', better: 'lower', read: (r) => median(r.runs.workers.map((x: { totalMs: number }) => x.totalMs)) / 1000 },
  ...[1, 8, 64].map((batch): Measure => ({
    bench: 'session', name: `Session speed-up vs onnxruntime-node, large model b=${batch}`, unit: 'x', better: 'higher',
    read: (r) => {
      const row = r.results.find((x: { model: string; batch: number }) => x.model.startsWith('large') && x.batch === batch);
      return row.onnxruntimeNodeUs / row.oursUs;
    },
  })),
];

const kSpec: CommandSpec = {
  name: 'bench:compare',
  description: 'The engine, HTTP and planner benchmarks of this checkout and of a build of --base, run alternately; medians and ratios current/base.',
  flags: [
    { name: 'base', kind: 'string', help: 'the commit to compare with', value: 'COMMIT', required: true },
    { name: 'alternations', kind: 'integer', min: 1, max: 20, default: 3, help: 'runs of each benchmark per side' },
    { name: 'benches', kind: 'string', default: kBenches.join(','), value: 'LIST', help: 'which benchmarks, comma-separated, of engine,http,planner,session' },
    { name: 'full', kind: 'boolean', help: "the benchmarks' full sizes instead of --quick" },
    { name: 'base-dir', kind: 'string', value: 'DIR', help: 'where the base commit is built (reused when already built there)' },
    { name: 'fresh', kind: 'boolean', help: 'rebuild the base even when built' },
    { name: 'record', kind: 'boolean', help: 'write benchmarks/results/compare-<base>.json (default: benchmarks/local/)' },
  ],
};

function sh(cmd: string, args: string[], cwd: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

function fail(message: string, code = 1): never {
  process.stderr.write(`bench:compare: ${message}\n`);
  process.exit(code);
}

/** Checks out and builds `sha` in `dir` (once: a marker file records a finished build). */
function prepareBase(root: string, sha: string, dir: string, fresh: boolean): void {
  const marker = join(dir, '.bench-compare-built');
  if (!fresh && existsSync(marker) && readFileSync(marker, 'utf8').trim() === sha) {
    process.stdout.write(`base ${sha.slice(0, 9)}: reusing the build in ${dir}\n`);
    return;
  }
  if (existsSync(dir)) {
    sh('git', ['worktree', 'remove', '--force', dir], root);
    rmSync(dir, { recursive: true, force: true });
    sh('git', ['worktree', 'prune'], root);
  }
  process.stdout.write(`base ${sha.slice(0, 9)}: checking out into ${dir} and building (minutes)\n`);
  const add = sh('git', ['worktree', 'add', '--detach', dir, sha], root);
  if (!add.ok) fail(`git worktree add ${dir} ${sha} failed:\n${add.out}`);
  // Hard links (cp -al): no copy of the bytes and no registry; the base's build writes new files.
  const links: [string, string][] = [[join(root, 'node_modules'), join(dir, 'node_modules')]];
  if (existsSync(join(root, '.cache', 'onnxruntime-dev'))) links.push([join(root, '.cache', 'onnxruntime-dev'), join(dir, '.cache', 'onnxruntime-dev')]);
  for (const [from, to] of links) {
    mkdirSync(join(to, '..'), { recursive: true });
    const r = sh('cp', ['-al', from, to], root);
    if (!r.ok) fail(`cp -al ${from} ${to} failed:\n${r.out}`);
  }
  const build = sh('node', ['scripts/setup.mjs'], dir);
  if (!build.ok) fail(`building ${sha.slice(0, 9)} in ${dir} failed:\n${build.out.slice(-4000)}`);
  writeFileSync(marker, `${sha}\n`);
}

interface Run { side: 'base' | 'current'; bench: BenchName; round: number; load1: [number, number]; values: Record<string, number> }

function runBench(tree: string, bench: BenchName, full: boolean): { values: Record<string, number>; path: string } {
  const args = ['dist/benchmarks/run.js', bench, ...(full ? [] : ['--quick'])];
  const r = sh('node', args, tree);
  const path = /\(written to (.+)\)/.exec(r.out)?.[1];
  if (!r.ok || !path) fail(`node ${args.join(' ')} in ${tree} failed:\n${r.out.slice(-4000)}`);
  const result = JSON.parse(readFileSync(path, 'utf8'));
  const values: Record<string, number> = {};
  for (const m of kMeasures.filter((x) => x.bench === bench)) {
    try {
      values[m.name] = m.read(result);
    } catch {
      values[m.name] = NaN; // a measure this build's benchmark does not report
    }
  }
  return { values, path };
}

function main(): void {
  const parsed = parseScriptArgs(kSpec, process.argv.slice(2), 'npm run bench:compare --');
  if (!parsed) return;
  const v = parsed.values;
  const o = {
    base: v.base as string | undefined, alternations: (v.alternations as number | undefined) ?? 3, benches: (v.benches as string | undefined) ?? kBenches.join(','),
    full: v.full === true, 'base-dir': v['base-dir'] as string | undefined, fresh: v.fresh === true, record: v.record === true,
  };
  if (!o.base) fail('--base <commit> is required (for example --base HEAD~1)', kExitUsage);
  const benches = o.benches.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = benches.find((b) => !(kKnownBenches as string[]).includes(b));
  if (unknown !== undefined || benches.length === 0) fail(`--benches: unknown benchmark '${unknown ?? ''}'; known: ${kKnownBenches.join(', ')}`, kExitUsage);
  const root = packageRoot();
  const rev = sh('git', ['rev-parse', '--verify', `${o.base}^{commit}`], root);
  if (!rev.ok) fail(`--base: '${o.base}' names no commit of this repository`, kExitUsage);
  const sha = rev.out.trim();
  const head = sh('git', ['rev-parse', '--short=9', 'HEAD'], root).out.trim();
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no'], root).out.trim() !== '';
  const baseDir = o['base-dir'] ?? join(tmpdir(), `cascadeserve-base-${sha.slice(0, 12)}`);
  prepareBase(root, sha, baseDir, o.fresh ?? false);

  const trees = { base: baseDir, current: root };
  const runs: Run[] = [];
  const loadStart = loadavg();
  for (let round = 0; round < o.alternations; round++) {
    // ABBA: the side that runs first alternates from one round to the next.
    const order: ('base' | 'current')[] = round % 2 === 0 ? ['base', 'current'] : ['current', 'base'];
    for (const bench of benches as BenchName[]) {
      for (const side of order) {
        const before = loadavg()[0];
        const { values } = runBench(trees[side], bench, o.full ?? false);
        runs.push({ side, bench, round, load1: [before, loadavg()[0]], values });
        process.stdout.write(`round ${round + 1}/${o.alternations} ${bench} ${side}: ${Object.entries(values).map(([k, v]) => `${k} ${fmtNum(v)}`).join('; ')} (load ${before.toFixed(2)})\n`);
      }
    }
  }
  const loadEnd = loadavg();

  const rows: (string | number)[][] = [];
  const summary = [];
  for (const m of kMeasures.filter((x) => benches.includes(x.bench))) {
    const of = (side: 'base' | 'current') => runs.filter((r) => r.side === side && r.bench === m.bench).map((r) => r.values[m.name]).filter(Number.isFinite);
    const b = of('base');
    const c = of('current');
    const bm = b.length ? median(b) : NaN;
    const cm = c.length ? median(c) : NaN;
    const ratio = cm / bm;
    summary.push({ bench: m.bench, measure: m.name, unit: m.unit, better: m.better, base: b, current: c, baseMedian: bm, currentMedian: cm, ratio });
    rows.push([m.bench, `${m.name} (${m.unit}, ${m.better} is better)`, fmtNum(bm), spread(b), fmtNum(cm), spread(c), Number.isFinite(ratio) ? ratio.toFixed(3) : 'n/a']);
  }
  const loads = runs.flatMap((r) => r.load1);
  const text = [
    `current ${head}${dirty ? ' (with uncommitted changes)' : ''} vs base ${sha.slice(0, 9)}; ${o.alternations} alternation(s) per benchmark, ${o.full ? 'full' : 'quick'} sizes; medians, spread = min..max`,
    table(['bench', 'measure', 'base', 'base spread', 'current', 'current spread', 'current/base'], rows),
    `load average (1 min) during the runs: median ${fmtNum(median(loads))}, ${fmtNum(Math.min(...loads))}..${fmtNum(Math.max(...loads))}; at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}`,
  ].join('\n');
  const path = writeResult(`compare-${sha.slice(0, 9)}`, {
    description: 'engine, HTTP and planner benchmarks of this checkout vs a build of an earlier commit, run alternately; medians of each side and current/base ratios',
    current: head, dirty, base: sha, alternations: o.alternations, sizes: o.full ? 'full' : 'quick',
    loadAverage: { start: loadStart, end: loadEnd, during: loads }, summary, runs,
  }, o.record ?? false);
  process.stdout.write(`${text}\n(written to ${path})\n`);
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function spread(xs: number[]): string {
  return xs.length ? `${fmtNum(Math.min(...xs))}..${fmtNum(Math.max(...xs))}` : '-';
}

main();
