// Issue 18.2: a request too large to be answered within its deadline is refused at once (413,
// "too large for the deadline", no Retry-After: the same request never fits) with the
// `timeout` that would do and the most images that fit the deadline, both computed here from
// the plan's costliest gear; the same request with that timeout is answered 200. The admission
// rule itself is checked on the controller with figures computed by hand.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import * as admission from '../ts/server/admission.js';
import { createServer } from '../ts/server/server.js';
import { items, jsonRequest, postJson, writeFixturePlan } from '../testkit/server-fixture.js';

// The fixture plan's gear, given a per-item cost far above the fixture models' real one, so
// that a request admitted with the suggested timeout has time to spare on a busy machine.
const kCostUs = 1000;
const kSloMs = 100;

t.test('admission: a request whose own items exceed the deadline is refused with the timeout it needs', async (t) => {
  const a = new admission.AdmissionController({ sloMs: kSloMs, parallelism: 2 }, new admission.CostEstimator(kCostUs));
  // Own time = items x cost / lanes x margin: 100 items on 2 lanes = 50 ms x 2 = 100 ms, fits.
  const own = (n: number) => ((n * kCostUs) / 2) * admission.kCompletionMargin;
  t.equal(own(100), 100_000);
  t.same(a.admit(100, undefined, 0), { accepted: true, budgetUs: 100_000 }, '100 images fit the 100 ms SLO exactly');
  const r = a.admit(101, undefined, 0);
  t.equal(r.accepted, false, '101 images do not');
  if (r.accepted) return;
  t.equal(r.kind, 'too_large_for_deadline');
  if (r.kind !== 'too_large_for_deadline') return;
  t.equal(r.neededTimeoutUs, Math.ceil(own(101) / 1000) * 1000, 'needed timeout: own time rounded up to whole ms');
  t.equal(r.maxItemsInBudget, 100, 'most images within the SLO');
  t.match(r.reason, /^too large for the deadline: 101 items need about 101 ms, more than the default deadline of 100 ms \(the plan's SLO\); ask for more time with parameters\.timeout of at least 101000 \(microseconds\), or send at most 100 items per request$/);
  t.same(a.admit(101, r.neededTimeoutUs, 0), { accepted: true, budgetUs: 101_000 }, 'accepted with the suggested timeout');
  const timed = a.admit(101, 50_000, 0);
  t.match(!timed.accepted && timed.reason, /more than the requested timeout of 50 ms/, 'a too short timeout is named as such');
  // Refused for size even with a backlog: the refusal that does not invite a retry comes first.
  const busy = a.admit(500, undefined, 10);
  t.equal(!busy.accepted && busy.kind, 'too_large_for_deadline');
  // A request that fits alone but not behind the backlog stays an overload refusal.
  const queued = a.admit(50, undefined, 200);
  t.equal(!queued.accepted && queued.kind, 'overloaded');
  // The bound is the plan's costliest gear, whatever gear runs: current 100 us, costliest 400 us
  // per image: 100 ms / (400 us x 2) = 125 images, before and after a gear switch.
  const g = new admission.AdmissionController({ sloMs: kSloMs, parallelism: 1 }, new admission.CostEstimator(100, 0.2, 400));
  t.equal(g.maxItemsWithin(100_000), 125);
  t.equal(g.admit(125, undefined, 0).accepted, true);
  t.equal(g.admit(126, undefined, 0).accepted, false, 'bounded by the costliest gear, not the current one');
  g.cost.setExpectedCost(20);
  t.equal(g.maxItemsWithin(100_000), 125, 'a switch to a cheaper gear does not move it');
  // The measured cost (calibration) moves the bound: twice the cost, half the images.
  a.cost.observe(2 * kCostUs * 10, 10);
  t.ok(a.cost.calibration > 1, 'calibration rose');
  t.equal(a.maxItemsWithin(100_000), Math.floor((100_000 * 2) / (a.cost.perItemUs * admission.kCompletionMargin)));
});

t.test('HTTP: 256 images on a plan that cannot answer them within its SLO', async (t) => {
  const { planPath, cleanup } = writeFixturePlan({ sloMs: kSloMs });
  t.teardown(cleanup);
  const plan = JSON.parse(readFileSync(planPath, 'utf8'));
  plan.gears[0].expectedCostUs = kCostUs;
  writeFileSync(planPath, JSON.stringify(plan));
  const server = await createServer({ plan: planPath, port: 0 });
  const url = await server.listen();
  t.teardown(() => server.close());
  const infer = `${url}/v2/models/fixture/infer`;
  const n = 256; // the default maxImagesPerRequest
  const ownUs = n * kCostUs * admission.kCompletionMargin; // one lane
  const neededUs = Math.ceil(ownUs / 1000) * 1000;
  const fitting = Math.floor((kSloMs * 1000) / (kCostUs * admission.kCompletionMargin));

  const refused = await postJson(infer, jsonRequest(items(n, 3), { id: 'big' }));
  t.equal(refused.status, 413, 'refused at once: 413');
  t.equal(refused.headers.get('retry-after'), null, 'no Retry-After: retrying the same request cannot help');
  t.match(refused.json.error, /^too large for the deadline: /);
  t.ok(refused.json.error.includes(`parameters.timeout of at least ${neededUs} (microseconds)`), `names the timeout that would do (${neededUs} us): ${refused.json.error}`);
  t.ok(refused.json.error.includes(`at most ${fitting} items per request`), `names the images that fit the SLO (${fitting})`);
  t.equal(server.cascade.stats.failures.rejected, 1, 'counted as a refusal');
  t.equal(server.engine.inFlight, 0, 'nothing reached the engine');

  const answered = await postJson(infer, jsonRequest(items(n, 3), { id: 'big', parameters: { timeout: neededUs } }));
  t.equal(answered.status, 200, 'the same request with the suggested timeout is answered');
  t.same(answered.json.outputs[0].shape, [n, 4]);

  // At the limit the message gives, no timeout is needed (a new server: the cost estimate is
  // the plan's again, not the one measured above).
  await server.close();
  const again = await createServer({ plan: planPath, port: 0 });
  const url2 = await again.listen();
  t.teardown(() => again.close());
  const over = await postJson(`${url2}/v2/models/fixture/infer`, jsonRequest(items(fitting + 1, 4)));
  t.equal(over.status, 413, `${fitting + 1} images: 413`);
  const at = await postJson(`${url2}/v2/models/fixture/infer`, jsonRequest(items(fitting, 4)));
  t.equal(at.status, 200, `${fitting} images: 200 within the SLO`);
});
