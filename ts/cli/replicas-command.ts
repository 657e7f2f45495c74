// `cascadeserve replicas`: the CLI hook of ts/tools/replicas.ts (options in, report out).
import { parseArgs } from 'node:util';
import type { CliIo } from './main.js';

const kUsage = `Usage: cascadeserve replicas [--plan plan.json] (--peak-qps Q | --trace workload.json)
                            [--lanes N] [--target 0.8] [--json]

How many replicas a load needs and the accuracy each load level then gets, from a gear plan
(default: the embedded demo plan). --trace: {"qps": [rate per second, ...]} or
{"histogram": [{"qps": x, "weight": w}, ...]}. --lanes: lanes per replica (default the
plan's). --target: the HPA's target of the top-gear load ratio (deploy/base/hpa.yaml).
Prints minReplicas and maxReplicas for the HorizontalPodAutoscaler.
`;

export async function runReplicasCommand(argv: string[], io: CliIo): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: { plan: { type: 'string' }, 'peak-qps': { type: 'string' }, trace: { type: 'string' }, lanes: { type: 'string' }, target: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    }));
  } catch (e) {
    io.stderr.write(`cascadeserve replicas: ${(e as Error).message}\n\n${kUsage}`);
    return 2;
  }
  if (v.help) {
    io.stdout.write(kUsage);
    return 0;
  }
  const fail = (msg: string) => {
    io.stderr.write(`cascadeserve replicas: ${msg}\n`);
    return 2;
  };
  if ((v['peak-qps'] === undefined) === (v.trace === undefined)) return fail('give one of --peak-qps or --trace');
  const number = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${flag} must be a number, got '${text}'`);
    return n;
  };
  const { planReplicas, readPlan, readWorkload, formatReplicasReport, ReplicasError } = await import('./replicas.js');
  const { defaultPlanPath } = await import('../server/plan-loader.js');
  try {
    const peak = number('peak-qps', v['peak-qps']);
    if (peak !== undefined && !(peak > 0)) return fail(`--peak-qps must be a positive number, got '${v['peak-qps']}'`);
    const plan = readPlan(v.plan ?? defaultPlanPath());
    const workload = peak !== undefined ? [{ qps: peak, weight: 1 }] : readWorkload(v.trace!);
    const report = planReplicas(plan, workload, { lanesPerReplica: number('lanes', v.lanes), target: number('target', v.target) });
    io.stdout.write(v.json ? JSON.stringify(report, null, 2) + '\n' : formatReplicasReport(report));
    return 0;
  } catch (e) {
    if (e instanceof ReplicasError || e instanceof RangeError) return fail(e.message);
    if (e instanceof Error && e.name === 'PlanValidationError') return fail(`--plan: ${e.message}`);
    throw e;
  }
}
