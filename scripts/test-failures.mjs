// Run by `npm test` when tap fails: prints every failed assertion again, with its diagnostics,
// from tap's per-file results (.tap/test-results, or the folder given), so that the end of a
// long CI log, often the only part anyone sees, names what failed and why. Exits 1 (it runs
// only after a failure). `node scripts/test-failures.mjs [RESULTS_DIR]`
// tap keeps a file's results until that file runs again, so after a partial run (or a test
// file deleted since) a failure listed here may be older than this run; `npm test` runs them all.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const results = process.argv[2] ?? join(import.meta.dirname, '..', '.tap', 'test-results');
const kDiagLines = 40; // per failed assertion: enough for a message and the start of its YAML

function* tapFiles(dir) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* tapFiles(p);
    else if (e.endsWith('.tap')) yield p;
  }
}

let failed = 0;
const out = ['', '==== failed assertions (from .tap/test-results) ===='];
for (const file of tapFiles(results)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const here = [];
  for (let i = 0; i < lines.length; i++) {
    // a failed leaf: "not ok" followed by its YAML block, not a subtest's summary line
    if (!/^\s*not ok /.test(lines[i]) || !/^\s*---\s*$/.test(lines[i + 1] ?? '')) continue;
    if (/# time=/.test(lines[i])) continue;
    const block = [lines[i]];
    for (let j = i + 1; j < lines.length && block.length < kDiagLines; j++) {
      block.push(lines[j]);
      if (/^\s*\.\.\.\s*$/.test(lines[j])) break;
    }
    here.push(block.join('\n'));
  }
  if (!here.length) continue;
  failed += here.length;
  out.push(`-- ${relative(results, file).replace(/\.tap$/, '')}`, ...here);
}
out.push(failed ? `==== ${failed} failed assertion(s) listed above ====` : '==== tap failed, but no failed assertion was found in .tap/test-results (a crash or a timeout?) ====');
console.log(out.join('\n'));
process.exit(1);
