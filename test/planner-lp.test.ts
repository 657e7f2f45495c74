import t from 'tap';
import { splitLoad } from '../planner/lp-split.js';

t.test('LP split matches a brute-force grid on a tiny case', async (t) => {
  const work = [[0.5, 0.5], [0.3, 0.3], [0.4, 0.4]];
  const eligible = [[true, true], [true, false], [false, true]];
  const r = await splitLoad({ work, eligible, cap: 0.8 });
  let best = Infinity;
  for (let a = 0; a <= 1000; a++) {
    const x = a / 1000; // share of stage 0 on lane 0
    const u0 = work[0][0] * x + work[1][0];
    const u1 = work[0][1] * (1 - x) + work[2][1];
    best = Math.min(best, Math.max(u0, u1));
  }
  t.ok(Math.abs(r.maxUtilization - best) < 1e-3, `LP ${r.maxUtilization} vs brute force ${best}`);
  t.ok(r.feasible);
  for (const row of r.shares) t.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'shares sum to 1');
  t.equal(r.shares[1][1], 0, 'no share on a lane without the model');
});

t.test('LP reports infeasibility under the cap and for unhosted stages', async (t) => {
  const over = await splitLoad({ work: [[1.2, 1.2]], eligible: [[true, true]], cap: 0.5 });
  t.notOk(over.feasible);
  t.ok(Math.abs(over.maxUtilization - 0.6) < 1e-9);
  const none = await splitLoad({ work: [[0.1, 0.1]], eligible: [[false, false]], cap: 0.8 });
  t.notOk(none.feasible);
});
