// Items failing for load reach the gear policy (GearPolicyInput.failedRateQps): a request
// refused at admission because too much is in flight counts, and so does one answered past its
// deadline; one with its own timeout shorter than the plan's SLO does not (a client's tight
// deadline is not load). The policy is a spy that never switches; the failures come from a
// small in-flight bound, or a deadline passing, while the engine is paused.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GearPolicyInput } from '../ts/contracts/gear-policy.js';
import type { CascadeServer } from '../ts/server/server.js';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

/** 48 requests of 8 images against a bound of 16 in flight, engine paused: 2 admitted, 46 refused. */
async function burst(server: CascadeServer, url: string, extra: Record<string, unknown>): Promise<number[]> {
  const infer = `${url}/v2/models/fixture/infer`;
  server.engine.pause();
  let answered = 0;
  const all = Array.from({ length: 48 }, (_, i) => postJson(infer, jsonRequest(items(8, i + 1), extra)).then((a) => (answered++, a.status)));
  for (let polls = 0; answered < 46 && polls < 2000; polls++) await sleep(5);
  server.engine.resume();
  return Promise.all(all);
}

for (const [label, extra, counted] of [
  ['the default deadline (the plan\'s SLO)', {}, true],
  ['a timeout shorter than the SLO', { parameters: { timeout: 500_000 } }, false],
] as const) {
  t.test(`refusals for load with ${label}: ${counted ? 'counted' : 'not counted'}`, async (t) => {
    const seen: GearPolicyInput[] = [];
    const spy = () => ({ decide: (input: GearPolicyInput) => (seen.push(input), { gear: input.current, reason: 'stay' as const }), reset: () => {} });
    // SLO 1000 ms (accurateMaxQps 100): time enough for the admitted ones after the pause.
    const { server, url, stop } = await startFixtureServer({ accurateMaxQps: 100 }, { gearPolicy: spy, maxInFlightImages: 16 });
    t.teardown(stop);
    const statuses = await burst(server, url, extra);
    t.equal(statuses.filter((s) => s === 429).length, 46, '46 refused for load');
    t.equal(statuses.filter((s) => s === 200).length, 2, '2 admitted and answered');
    const failed = Math.max(0, ...seen.map((x) => x.failedRateQps ?? 0));
    if (counted) t.ok(failed > 0, `the policy saw items failing for load (up to ${failed.toFixed(0)}/s)`);
    else t.equal(failed, 0, 'the policy saw none');
    t.ok(seen.every((x) => x.failedRateQps !== undefined), 'the server always passes the failure rate');
  });
}

t.test('items past their deadline (the plan\'s SLO) count too', async (t) => {
  const seen: GearPolicyInput[] = [];
  const spy = () => ({ decide: (input: GearPolicyInput) => (seen.push(input), { gear: input.current, reason: 'stay' as const }), reset: () => {} });
  const { server, url, stop } = await startFixtureServer({ accurateMaxQps: 100, sloMs: 100 }, { gearPolicy: spy, maxInFlightImages: 64 });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  // Held in the queue past the 100 ms deadline: every item of the 4 requests times out.
  server.engine.pause();
  const all = Array.from({ length: 4 }, (_, i) => postJson(infer, jsonRequest(items(2, i + 1))).then((a) => a.status));
  for (let polls = 0; server.engine.inFlight < 8 && polls < 2000; polls++) await sleep(5);
  t.equal(server.engine.inFlight, 8, 'all 4 requests admitted');
  await sleep(150); // the deadline passes while the engine holds them
  server.engine.resume();
  t.same(await Promise.all(all), [504, 504, 504, 504], 'answered 504: past the deadline');
  await postJson(infer, jsonRequest(items(1, 9))); // one more look of the policy
  t.ok(Math.max(...seen.map((x) => x.failedRateQps ?? 0)) > 0, 'the policy saw items failing for load');
});
