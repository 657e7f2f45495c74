// The gear policy's overload horizon: the plan carries it (plan.policy.overloadHorizonMs, which
// the evaluation chooses per plan on its tuning seeds), --overload-horizon-ms overrides it, the
// policy's own default (4 x the SLO) applies without either, and GET /v2/cascadeserve/status
// reports the one in use.
import t from 'tap';
import { createServer } from '../ts/server/server.js';
import type { CascadeStatus } from '../ts/server/status.js';
import { startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
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
