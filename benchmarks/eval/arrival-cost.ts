// `node dist/benchmarks/eval/arrival-cost.js --plan PLAN[,PLAN...] [--rate 40000] [--arrivals
// 80000] [--repeats 2]`: the JavaScript time a served model spends on one arrival
// (ServedModel.onArrival: the load monitor, the gear controller and its policy), paced at
// --rate arrivals per second by a busy wait, only the call timed; no items are submitted, so
// the engine stays idle and the policy sees the rate alone. It tells whether the policy's own
// work is what limits an in-process replay at tens of thousands of arrivals per second (the
// evaluation's 100 ms cell). Plans in turn, --repeats times; prints microseconds per arrival.
import { performance } from 'node:perf_hooks';
import { loadServingPlan } from '../../ts/server/plan-loader.js';
import { ServedModel } from '../../ts/server/served-model.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const positive = (name: string, dflt: string): number => {
  const v = Number(arg(name, dflt));
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`${name}: expected a positive number, got '${arg(name)}'`);
  return v;
};
const plans = arg('--plan')?.split(',');
if (!plans?.length) throw new Error('--plan: expected one or more plan files, comma-separated');
const rate = positive('--rate', '40000');
const arrivals = Math.round(positive('--arrivals', '80000'));
const repeats = Math.round(positive('--repeats', '2'));
const gapMs = 1000 / rate;

for (let r = 0; r < repeats; r++) {
  for (const path of plans) {
    const served = await ServedModel.cascade(await loadServingPlan(path), {
      maxImagesPerRequest: 256,
      upSwitchHoldMs: 200,
      loadMonitor: { windowMs: 200, bucketMs: 5, recentMs: 10 },
      tickMs: 10,
      warmUp: false,
      log: { info: () => {}, error: () => {} },
    });
    let spentMs = 0;
    let next = performance.now();
    for (let i = 0; i < arrivals; i++) {
      next += gapMs;
      while (performance.now() < next);
      const t0 = performance.now();
      served.onArrival(1);
      spentMs += performance.now() - t0;
    }
    const name = path.replace(/^.*\//, '').replace(/\.json$/, '');
    console.log(`${name} (${served.gears.length} gear(s)): ${((spentMs * 1000) / arrivals).toFixed(2)} us per arrival at ${rate}/s, gear ${served.engineIfReady!.gear.id} at the end`);
    await served.close();
  }
}
