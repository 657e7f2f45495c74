// What the HTTP view's load generator costs per request: its client (http-client.ts) against
// node:http's Agent, the client it replaced, side by side in one process against one
// `cascadeserve serve` of the demo plan. Each run sends an open-loop constant rate for a few
// seconds; runs alternate between the clients. Reported per client, median [min-max] over the
// runs: the generator's CPU per request (user + system, this process), its lag behind the
// schedule (p95) and the answers' latency (p50, p95).
//
// `node dist/benchmarks/eval/generator-cost.js [--qps 1500] [--seconds 3] [--runs 3] [--plan models/fmnist/plan.json]`
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseScriptArgs, type CommandSpec } from '../../ts/cli/args.js';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { loadManifest } from '../../ts/contracts/manifest.js';
import { sendOnSchedule } from './replay.js';
import { quantileOf } from './measure.js';
import { startServer, type ServerProc } from './server-proc.js';

type Send = (done: (status: number) => void) => void;

interface RunResult {
  cpuUsPerRequest: number;
  lagP95Ms: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  answered: number;
  sent: number;
}

/** The two clients, each sending one image (784 UINT8 pixels, binary extension) per request. */
function clients(srv: ServerProc, model: string): { ours: Send; nodeHttp: Send; close: () => void } {
  const elems = 784;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'UINT8', parameters: { binary_data_size: elems } }], outputs: [{ name: 'class' }] }));
  const body = Buffer.concat([header, Buffer.alloc(elems, 7)]);
  const path = `/v2/models/${model}/infer`;
  const url = new URL(srv.url);
  const head = srv.pool.requestHead('POST', path, { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) }, body.length);
  // Each client builds its request per send, as the replayer does (replay.ts).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length), 'content-length': String(body.length) };
  // Both read the answer's JSON, as the replayer does.
  const ours: Send = (done) =>
    srv.pool.send(Buffer.concat([head, body]), (status, answer) => {
      if (answer) JSON.parse(answer.toString('utf8'));
      done(status);
    });
  const nodeHttp: Send = (done) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: 'POST', agent, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        done(r.statusCode ?? 0);
      });
      r.on('error', () => done(0));
    });
    req.on('error', () => done(0));
    req.end(Buffer.from(body));
  };
  return { ours, nodeHttp, close: () => agent.destroy() };
}

async function run(send: Send, qps: number, ms: number): Promise<RunResult> {
  const n = Math.round((qps * ms) / 1000);
  const sendMs = Float64Array.from({ length: n }, (_, i) => (i * 1000) / qps);
  const lag: number[] = [];
  const lat: number[] = [];
  let answered = 0;
  let done = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => (allDone = r));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 20;
  await sendOnSchedule(sendMs, t0, (i) => {
    const at = performance.now();
    lag.push(at - t0 - sendMs[i]);
    send((status) => {
      if (status === 200) answered++;
      lat.push(performance.now() - at);
      if (++done === n) allDone();
    });
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, 3000))]);
  const cpu = process.cpuUsage(cpu0);
  lag.sort((a, b) => a - b);
  lat.sort((a, b) => a - b);
  return { cpuUsPerRequest: (cpu.user + cpu.system) / n, lagP95Ms: quantileOf(lag, 0.95), latencyP50Ms: quantileOf(lat, 0.5), latencyP95Ms: quantileOf(lat, 0.95), answered, sent: n };
}

function spread(xs: number[], digits: number): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${quantileOf(s, 0.5).toFixed(digits)} [${s[0].toFixed(digits)}-${s[s.length - 1].toFixed(digits)}]`;
}

const kSpec: CommandSpec = {
  name: 'generator-cost',
  description: "The HTTP view's load generator (http-client.ts) against node:http's Agent, side by side against one server of the demo plan: CPU per request, lag and latency, median [min-max] over alternating runs.",
  flags: [
    { name: 'qps', kind: 'number', above: 0, max: 20000, default: 1500, help: 'open-loop rate of each run' },
    { name: 'seconds', kind: 'number', above: 0, max: 60, default: 3, help: 'length of each run' },
    { name: 'runs', kind: 'integer', min: 1, max: 20, default: 3, help: 'runs per client' },
    { name: 'plan', kind: 'input-file', help: 'the plan to serve (default: models/fmnist/plan.json)' },
  ],
};

async function main(): Promise<void> {
  const parsed = parseScriptArgs(kSpec, process.argv.slice(2), 'node dist/benchmarks/eval/generator-cost.js');
  if (!parsed) return;
  const v = parsed.values;
  const qps = (v.qps as number | undefined) ?? 1500;
  const ms = ((v.seconds as number | undefined) ?? 3) * 1000;
  const runs = (v.runs as number | undefined) ?? 3;
  const planPath = (v.plan as string | undefined) ?? join(packageRoot(), 'models', 'fmnist', 'plan.json');
  const model = (await loadManifest(join(packageRoot(), 'models', 'fmnist', 'cascade.json'))).name;
  const srv = await startServer(planPath);
  const c = clients(srv, model);
  const results: Record<'ours' | 'nodeHttp', RunResult[]> = { ours: [], nodeHttp: [] };
  try {
    for (let i = 0; i < 2; i++) for (const k of ['nodeHttp', 'ours'] as const) await run(c[k], Math.min(qps, 500), 500); // warm-up
    for (let r = 0; r < runs; r++)
      for (const k of r % 2 === 0 ? (['nodeHttp', 'ours'] as const) : (['ours', 'nodeHttp'] as const)) {
        const x = await run(c[k], qps, ms);
        results[k].push(x);
        console.log(`${k} run ${r + 1}: ${x.cpuUsPerRequest.toFixed(1)} us CPU per request, lag p95 ${x.lagP95Ms.toFixed(2)} ms, latency p50 ${x.latencyP50Ms.toFixed(2)} / p95 ${x.latencyP95Ms.toFixed(2)} ms, ${x.answered} of ${x.sent} answered 200`);
      }
  } finally {
    c.close();
    await srv.stop();
  }
  console.log(`\n${qps} QPS open loop, ${ms / 1000} s per run, ${runs} runs per client (median [min-max]):`);
  for (const k of ['ours', 'nodeHttp'] as const) {
    const rs = results[k];
    console.log(
      `  ${k === 'ours' ? 'http-client.ts' : 'node:http Agent'}: CPU ${spread(rs.map((x) => x.cpuUsPerRequest), 1)} us per request, lag p95 ${spread(rs.map((x) => x.lagP95Ms), 2)} ms, latency p95 ${spread(rs.map((x) => x.latencyP95Ms), 2)} ms`,
    );
  }
  const ratio = quantileOf([...results.ours.map((x) => x.cpuUsPerRequest)].sort((a, b) => a - b), 0.5) / quantileOf([...results.nodeHttp.map((x) => x.cpuUsPerRequest)].sort((a, b) => a - b), 0.5);
  console.log(`  CPU per request, ours / node:http: ${ratio.toFixed(2)}x`);
}

await main();
