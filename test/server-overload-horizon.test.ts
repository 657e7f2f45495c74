// The gear policy's overload horizon: the plan carries it (plan.policy.overloadHorizonMs, which
// the evaluation chooses per plan on its tuning seeds), --overload-horizon-ms overrides it, the
// policy's own default (4 x the SLO) applies without either, and GET /v2/cascadeserve/status
// reports the one in use. The host speed: a plan with batch times engages it, and the status
// route reports the slowdown the policy's figures are at (host_slowdown); --no-host-speed and a
// plan without batch times leave them at the plan's (1).
import t from 'tap';
import { createServer } from '../ts/server/server.js';
import type { CascadeStatus } from '../ts/server/status.js';
import { items, jsonRequest, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { kMinSlowdown } from '../ts/server/gear-policy.js';
import { startServeProcess } from '../testkit/serve-process.js';

const status = async (url: string) => (await (await fetch(`${url}/v2/cascadeserve/status`)).json()) as CascadeStatus;

t.test('the plan\'s horizon, the option over it, the default without either', async (t) => {
  const cases: [string, Parameters<typeof startFixtureServer>[0], Parameters<typeof startFixtureServer>[1], number][] = [
    ['no plan field, no option: 4 x the SLO', { sloMs: 30 }, {}, 120],
    ['the plan\'s field', { sloMs: 30, policy: { overloadHorizonMs: 45, chosenBy: 'a test' } }, {}, 45],
    ['the option over the plan\'s field', { sloMs: 30, policy: { overloadHorizonMs: 45 } }, { overloadHorizonMs: 7 }, 7],
    ['0 is a horizon (the excess counts over no time)', { sloMs: 30 }, { overloadHorizonMs: 0 }, 0],
  ];
  for (const [what, plan, options, want] of cases) {
    const { url, stop } = await startFixtureServer(plan, options);
    try {
      t.equal((await status(url)).overload_horizon_ms, want, what);
    } finally {
      await stop();
    }
  }
});

t.test('a bad horizon is refused naming the option or the plan field', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  try {
    await t.rejects(createServer({ plan: planPath, port: 0, overloadHorizonMs: -1 }), /overloadHorizonMs must be a finite number >= 0/);
  } finally {
    cleanup();
  }
  t.throws(() => writeFixturePlan({ policy: { overloadHorizonMs: -5 } }), /policy\.overloadHorizonMs/);
});

t.test('cascadeserve serve --overload-horizon-ms', async (t) => {
  const { planPath, cleanup } = writeFixturePlan({ sloMs: 20, policy: { overloadHorizonMs: 60 } });
  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--grpc-port', '0', '--overload-horizon-ms', '35']);
  try {
    t.equal((await status(serve.url)).overload_horizon_ms, 35);
  } finally {
    t.equal(await serve.stop(), 0, 'drains and exits 0');
    cleanup();
  }
});

t.test('host speed: a plan that claims its models far slower than they run reads as the fastest bound', async (t) => {
  // a second per batch of any size: every batch run here takes microseconds, so measured over
  // planned busy time is about 1e-5, taken at the policy's lower bound
  const slow = [{ batch: 1, p50Us: 1e6 }, { batch: 64, p50Us: 1e6 }];
  const cases: [string, Parameters<typeof startFixtureServer>[0], Parameters<typeof startFixtureServer>[1], number][] = [
    ['batch times in the plan', { batchTimesUs: { small: slow, gather: slow } }, {}, kMinSlowdown],
    ['turned off (--no-host-speed)', { batchTimesUs: { small: slow, gather: slow } }, { hostSpeed: false }, 1],
    ['a plan without batch times', {}, {}, 1],
  ];
  for (const [what, plan, options, want] of cases) {
    const { url, stop } = await startFixtureServer(plan, options);
    try {
      for (let i = 0; i < 10; i++) {
        const r = await fetch(`${url}/v2/models/fixture/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(jsonRequest(items(8, i + 1))) });
        t.equal(r.status, 200);
      }
      await new Promise((r) => setTimeout(r, 50)); // a few controller ticks
      t.equal((await status(url)).host_slowdown, want, what);
    } finally {
      await stop();
    }
  }
});

t.test('cascadeserve serve --no-host-speed', async (t) => {
  const { planPath, cleanup } = writeFixturePlan({ batchTimesUs: { small: [{ batch: 1, p50Us: 1e6 }], gather: [{ batch: 1, p50Us: 1e6 }] } });
  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--grpc-port', '0', '--no-host-speed']);
  try {
    await fetch(`${serve.url}/v2/models/fixture/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(jsonRequest(items(8, 3))) });
    await new Promise((r) => setTimeout(r, 50));
    t.equal((await status(serve.url)).host_slowdown, 1, 'the plan\'s figures');
  } finally {
    t.equal(await serve.stop(), 0, 'drains and exits 0');
    cleanup();
  }
});
