// Issue 8.3, the short run: property-based fuzzing of the request decoder and the binary
// tensor parser (the properties live in testkit/fuzz-properties.ts; `npm run fuzz:long` runs a
// million cases). A fixed seed keeps `npm test` reproducible; the long run uses a fresh one.
import t from 'tap';
import { runFuzz } from '../testkit/fuzz-properties.js';

t.test('decoder and binary parser properties (short run)', async (t) => {
  for (const r of runFuzz(5000, 20240808)) {
    t.notOk(r.failed, `${r.name}: ${r.runs} cases in ${r.seconds.toFixed(2)} s${r.counterexample ? `: ${r.counterexample}` : ''}`);
  }
});
