// `npm run bench`: the hot-path suite (session, engine, http, startup), each printed as a table
// and written as JSON, to benchmarks/local/ (ignored by git) or, with --record, to
// benchmarks/results/ (the figures the README quotes). `-- --quick` for a short run; `-- engine`
// (etc.) for one benchmark. The planner's benchmarks take longer and run under their own names:
// `npm run bench:planner` (planning time) and `npm run bench:fidelity` (simulator vs engine).
import { runEngineBench, runEngineTokenBench } from './engine-bench.js';
import { runGrpcBench } from './grpc-bench.js';
import { runHttpBench } from './http-bench.js';
import { runFidelityBench } from './planner-fidelity.js';
import { runPlannerBench } from './planner-bench.js';
import { runSessionBench } from './session-bench.js';
import { recordFlag } from './stats.js';
import { runStartupBench } from './startup-bench.js';

type Bench = (o: { quick: boolean; record: boolean }) => Promise<{ text: string; path: string }>;

/** The suite `npm run bench` runs without names. */
const kHotPath: Record<string, Bench> = {
  session: runSessionBench,
  engine: runEngineBench,
  http: runHttpBench,
  startup: runStartupBench,
  grpc: runGrpcBench,
};

/** Run only when named (npm run bench:planner, bench:fidelity). */
const kByName: Record<string, Bench> = {
  'engine-tokens': runEngineTokenBench,
  planner: runPlannerBench,
  fidelity: runFidelityBench,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const record = recordFlag(args);
const names = args.filter((a) => !a.startsWith('--'));
const known = { ...kHotPath, ...kByName };
const unknown = names.filter((n) => !(n in known));
if (unknown.length) {
  process.stderr.write(`unknown benchmark '${unknown[0]}'; known: ${Object.keys(known).join(', ')}\n`);
  process.exit(2);
}
for (const name of names.length ? names : Object.keys(kHotPath)) {
  process.stdout.write(`\n== ${name} ==\n`);
  const { text, path } = await known[name]({ quick, record });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
