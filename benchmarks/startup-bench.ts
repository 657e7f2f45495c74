// `npm run bench -- startup`: the first request a new user sends. Each repetition starts a
// fresh server process on the demo plan (models/fmnist/plan.json, SLO 10 ms) and, once it
// reports ready, sends the README's request (one all-zero UINT8 image as JSON, no timeout of
// its own, so the plan's SLO is its deadline), then 20 more one after another. With the
// warm-up (the default) and without it, alternating, so that a busy stretch of the shared
// machine hits both. Reports the first request's latency and status, the later requests'
// median, and the time from spawn to ready.
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
  firstStatus: number;
  laterMedianMs: number;
  laterStatuses: Record<string, number>;
}

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

/** One fresh server process: spawn, wait for ready, the first request, then the later ones. */
async function oneRun(warmUp: boolean): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'benchmarks', 'startup-bench.js'), '--serve', warmUp ? 'warm' : 'cold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /^listening (\S+)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`the server exited (${code}) before it was ready`)));
    });
    const ready = await fetch(`${url}/v2/health/ready`);
    if (ready.status !== 200) throw new Error(`/v2/health/ready answered ${ready.status} after listen`);
    const readyMs = performance.now() - t0;
    const infer = `${url}/v2/models/fmnist/infer`;
    const body = exampleBody();
    const first = await timedPost(infer, body);
    const later: { ms: number; status: number }[] = [];
    for (let i = 0; i < kLaterRequests; i++) later.push(await timedPost(infer, body));
    const laterStatuses: Record<string, number> = {};
    for (const r of later) laterStatuses[r.status] = (laterStatuses[r.status] ?? 0) + 1;
    return { warmUp, readyMs, firstMs: first.ms, firstStatus: first.status, laterMedianMs: median(later.map((r) => r.ms)), laterStatuses };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

export async function runStartupBench(o: { quick: boolean; record?: boolean }): Promise<{ text: string; path: string }> {
  const reps = o.quick ? 2 : 5;
  const runs: Run[] = [];
  for (let r = 0; r < reps; r++) for (const warmUp of [true, false]) runs.push(await oneRun(warmUp));
  const rows = [true, false].map((warmUp) => {
    const mine = runs.filter((r) => r.warmUp === warmUp);
    const late = mine.filter((r) => r.firstStatus !== 200).length;
    return [warmUp ? 'warm-up (default)' : 'no warm-up', median(mine.map((r) => r.readyMs)).toFixed(0), median(mine.map((r) => r.firstMs)).toFixed(1), Math.max(...mine.map((r) => r.firstMs)).toFixed(1), `${late}/${mine.length}`, median(mine.map((r) => r.laterMedianMs)).toFixed(1)];
  });
  const text = [
    `first request after ready: demo plan (SLO 10 ms), the README's request (one all-zero UINT8 image, JSON); ${reps} fresh server processes each, alternating; medians`,
    table(['server', 'spawn to ready ms', 'first request ms', 'worst first ms', 'first not 200', `next ${kLaterRequests}: median ms`], rows),
  ].join('\n');
  const path = writeResult('startup', { description: "first request's latency after ready, fresh server processes, with and without the warm-up", reps, runs }, o.record ?? false);
  return { text, path };
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
  if (i > 0) {
    await serve(process.argv[i + 1] !== 'cold');
  } else {
    const { text, path } = await runStartupBench({ quick: process.argv.includes('--quick'), record: recordFlag() });
    process.stdout.write(`${text}\n(written to ${path})\n`);
  }
}
