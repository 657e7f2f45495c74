// `npm run bench -- startup`: the first request a new user sends. Each repetition starts a
// fresh server process on the demo plan (models/fmnist/plan.json, SLO 10 ms) and, once it
// reports ready, sends the README's request (one all-zero UINT8 image as JSON, no timeout of
// its own, so the plan's SLO is its deadline), then 20 more one after another; the server's
// own time for the first one comes from its statistics endpoint (no client-side costs). Then,
// in another fresh process, the same image straight into the cascade's engine (no HTTP): the
// first item after create and the next 20. With the warm-up (the default) and without it,
// alternating, so that a busy stretch of the shared machine hits both. Reports medians over
// the repetitions, the first requests' statuses and the time from spawn to ready.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../bindings/binding.js';
import { median, recordFlag, table, writeResult } from './stats.js';

const kLaterRequests = 20;

interface Run {
  warmUp: boolean;
  readyMs: number;
  firstMs: number;
  /** The server's time for the first request (its statistics: success + fail durations). */
  firstServerMs: number;
  firstStatus: number;
  laterMedianMs: number;
  /** The server's mean time for the later requests (statistics, as for the first). */
  laterServerMeanMs: number;
  laterStatuses: Record<string, number>;
  /** Engine alone, another fresh process: the first item after create, and the next ones. */
  engineFirstMs: number;
  engineLaterMedianMs: number;
  engineWarmUpMs: number;
}

type EngineRun = Pick<Run, 'engineFirstMs' | 'engineLaterMedianMs' | 'engineWarmUpMs'>;

/** The README's example body for the plan's input (one all-zero 28x28 image, UINT8). */
function exampleBody(): string {
  return JSON.stringify({ id: 'example', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'UINT8', data: new Array(784).fill(0) }] });
}

async function timedPost(url: string, body: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await r.arrayBuffer();
  return { ms: performance.now() - t0, status: r.status };
}

/** Runs this file as a child in `mode`; resolves with the first line matching `line`. */
async function child(args: string[], line: RegExp): Promise<{ match: RegExpExecArray; stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, [join(packageRoot(), 'dist', 'benchmarks', 'startup-bench.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const stop = async () => {
    proc.kill('SIGTERM');
    await exited;
  };
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        const m = line.exec(out);
        if (m) resolve(m);
      });
      proc.on('exit', (code) => reject(new Error(`the child (${args.join(' ')}) exited (${code}) before it reported`)));
    });
    return { match, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The engine alone in a fresh process: its first item, the next ones, the warm-up's time. */
async function engineRun(warmUp: boolean): Promise<EngineRun> {
  const { match, stop } = await child(['--engine', warmUp ? 'warm' : 'cold'], /^engine (\{.*\})$/m);
  await stop();
  return JSON.parse(match[1]) as EngineRun;
}

/** One fresh server process: spawn, wait for ready, the first request, then the later ones. */
async function serverRun(warmUp: boolean): Promise<Omit<Run, keyof EngineRun>> {
  const t0 = performance.now();
  const { match, stop } = await child(['--serve', warmUp ? 'warm' : 'cold'], /^listening (\S+)$/m);
  try {
    const url = match[1];
    const ready = await fetch(`${url}/v2/health/ready`);
    if (ready.status !== 200) throw new Error(`/v2/health/ready answered ${ready.status} after listen`);
    const readyMs = performance.now() - t0;
    const infer = `${url}/v2/models/fmnist/infer`;
    const body = exampleBody();
    const first = await timedPost(infer, body);
    const serverMs = async () => {
      const stats = (await (await fetch(`${url}/v2/models/fmnist/stats`)).json()) as { model_stats: { inference_stats: Record<'success' | 'fail', { ns: number }> }[] };
      const s = stats.model_stats[0].inference_stats;
      return (s.success.ns + s.fail.ns) / 1e6;
    };
    const firstServerMs = await serverMs();
    const later: { ms: number; status: number }[] = [];
    for (let i = 0; i < kLaterRequests; i++) later.push(await timedPost(infer, body));
    const laterServerMeanMs = ((await serverMs()) - firstServerMs) / kLaterRequests;
    const laterStatuses: Record<string, number> = {};
    for (const r of later) laterStatuses[r.status] = (laterStatuses[r.status] ?? 0) + 1;
    return { warmUp, readyMs, firstMs: first.ms, firstServerMs, firstStatus: first.status, laterMedianMs: median(later.map((r) => r.ms)), laterServerMeanMs, laterStatuses };
  } finally {
    await stop();
  }
}

export async function runStartupBench(o: { quick: boolean; record?: boolean }): Promise<{ text: string; path: string }> {
  const reps = o.quick ? 2 : 5;
  const runs: Run[] = [];
  for (let r = 0; r < reps; r++) for (const warmUp of [true, false]) runs.push({ ...(await serverRun(warmUp)), ...(await engineRun(warmUp)) });
  const med = (xs: Run[], k: keyof Run) => median(xs.map((r) => r[k] as number)).toFixed(1);
  const rows = [true, false].map((warmUp) => {
    const mine = runs.filter((r) => r.warmUp === warmUp);
    const late = mine.filter((r) => r.firstStatus !== 200).length;
    return [warmUp ? 'warm-up (default)' : 'no warm-up', med(mine, 'readyMs'), med(mine, 'engineWarmUpMs'), med(mine, 'firstMs'), med(mine, 'firstServerMs'), `${late}/${mine.length}`, med(mine, 'laterMedianMs'), med(mine, 'laterServerMeanMs'), med(mine, 'engineFirstMs'), med(mine, 'engineLaterMedianMs')];
  });
  const text = [
    `first request after ready: demo plan (SLO 10 ms), the README's request (one all-zero UINT8 image, JSON); engine alone: the same image, no HTTP; ${reps} fresh processes each, alternating; medians, ms`,
    table(['server', 'spawn to ready', 'warm-up', 'first request', 'its server time', 'first not 200', `next ${kLaterRequests}`, 'their server time (mean)', 'engine: first item', `next ${kLaterRequests}`], rows),
  ].join('\n');
  const path = writeResult('startup', { description: "first request's latency after ready (server) and first item after create (engine alone), fresh processes, with and without the warm-up; ms", reps, runs }, o.record ?? false);
  return { text, path };
}

/** The child: the demo cascade's engine alone; prints its first item's time and the next ones'. */
async function engineAlone(warm: boolean): Promise<void> {
  const { CascadeEngine } = await import('../ts/engine/engine.js');
  const { warmUp } = await import('../ts/engine/warm-up.js');
  const { defaultPlanPath, loadServingPlan } = await import('../ts/server/plan-loader.js');
  const plan = await loadServingPlan(defaultPlanPath());
  const options = plan.cascadeOptions();
  const engine = await CascadeEngine.create(options);
  let t0 = performance.now();
  if (warm) await warmUp(engine, options, plan.gears.map((g) => g.engine));
  const engineWarmUpMs = performance.now() - t0;
  const image = new Float32Array(engine.itemElems);
  const ms: number[] = [];
  for (let i = 0; i <= kLaterRequests; i++) {
    t0 = performance.now();
    const r = await engine.infer(image);
    if (r.status !== 'ok') throw new Error(`engine item ${i}: ${r.status}`);
    ms.push(performance.now() - t0);
  }
  await engine.close();
  const result: EngineRun = { engineFirstMs: ms[0], engineLaterMedianMs: median(ms.slice(1)), engineWarmUpMs };
  process.stdout.write(`engine ${JSON.stringify(result)}\n`);
}

/** The child: serves the demo plan on a free port, with or without the warm-up. */
async function serve(warmUp: boolean): Promise<void> {
  const { createServer } = await import('../ts/server/server.js');
  const { defaultPlanPath } = await import('../ts/server/plan-loader.js');
  const server = await createServer({ plan: defaultPlanPath(), port: 0, warmUp });
  const url = await server.listen();
  process.stdout.write(`listening ${url}\n`);
  process.once('SIGTERM', () => void server.close());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--serve');
  const e = process.argv.indexOf('--engine');
  if (i > 0) {
    await serve(process.argv[i + 1] !== 'cold');
  } else if (e > 0) {
    await engineAlone(process.argv[e + 1] !== 'cold');
  } else {
    const { text, path } = await runStartupBench({ quick: process.argv.includes('--quick'), record: recordFlag() });
    process.stdout.write(`${text}\n(written to ${path})\n`);
  }
}
