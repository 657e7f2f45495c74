// `npm run fuzz:long [-- --cases N]`: a long run of the request-decoder properties in
// testkit/fuzz-properties.ts (default 1,000,000 cases over the properties); writes
// fuzz-long.json (benchmarks/results/ with --record, else benchmarks/local/).
import { pathToFileURL } from 'node:url';
import { fuzzProperties, kTally, runFuzz } from '../testkit/fuzz-properties.js';
import { recordFlag, writeResult } from './stats.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const total = Number(args[args.indexOf('--cases') + 1] ?? NaN);
  const cases = args.includes('--cases') && Number.isInteger(total) && total > 0 ? total : 1_000_000;
  const each = Math.ceil(cases / fuzzProperties().length);
  const seed = Date.now() % 2 ** 31;
  const t0 = performance.now();
  const results = runFuzz(each, seed);
  const tally = { ...kTally };
  const seconds = (performance.now() - t0) / 1000;
  const sum = results.reduce((a, r) => a + r.runs, 0);
  console.log('property'.padEnd(62) + 'cases'.padStart(10) + 'seconds'.padStart(10) + '  result');
  for (const r of results) console.log(r.name.padEnd(62) + String(r.runs).padStart(10) + r.seconds.toFixed(1).padStart(10) + `  ${r.failed ? 'FAILED' : 'ok'}`);
  console.log(`${'total'.padEnd(62)}${String(sum).padStart(10)}${seconds.toFixed(1).padStart(10)}  ${results.some((r) => r.failed) ? 'FAILED' : 'ok'} (seed ${seed})`);
  console.log(`decoder calls: ${tally.accepted} decoded, ${tally.refused} refused with a 4xx, 0 other outcomes`);
  for (const r of results) if (r.counterexample) console.log(`\n${r.name}: ${r.counterexample}`);
  const path = writeResult('fuzz-long', { seed, cases: sum, seconds, decoded: tally.accepted, refused: tally.refused, failed: results.some((r) => r.failed), properties: results }, recordFlag(args));
  console.log(`(written to ${path})`);
  process.exitCode = results.some((r) => r.failed) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
