// `npm run bench`: the hot-path microbenchmarks, each printed as a table and written as JSON
// under benchmarks/results/. `npm run bench -- --quick` for a short run; `-- session` (etc.)
// for one benchmark.
import { runEngineBench } from './engine-bench.js';
import { runGrpcBench } from './grpc-bench.js';
import { runHttpBench } from './http-bench.js';
import { runFidelityBench } from './planner-fidelity.js';
import { runPlannerBench } from './planner-bench.js';
import { runSessionBench } from './session-bench.js';

const kBenches: Record<string, (o: { quick: boolean }) => Promise<{ text: string; path: string }>> = {
  session: runSessionBench,
  engine: runEngineBench,
  http: runHttpBench,
  grpc: runGrpcBench,
  fidelity: runFidelityBench,
  planner: runPlannerBench,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names.length ? names : Object.keys(kBenches)) {
  const bench = kBenches[name];
  if (!bench) {
    process.stderr.write(`unknown benchmark '${name}'; known: ${Object.keys(kBenches).join(', ')}\n`);
    process.exit(2);
  }
  process.stdout.write(`\n== ${name} ==\n`);
  const { text, path } = await bench({ quick });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
