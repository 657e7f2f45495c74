// `npm run bench:http`: requests per second of single-image inference over HTTP on the
// cheapest model alone (the member model `<cascade>.<cheapest>`, a one-stage gear), with JSON
// and with binary tensors, against a bare Fastify route that parses the same JSON body and
// answers, all measured in one run by the same load generator: node:http keep-alive agents in
// a worker thread, so the generator does not share the server's event loop.
// Targets (issue 6): JSON >= 60% of the bare route; binary >= 1.5x JSON.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { createServer } from '../ts/server/server.js';
import { defaultPlanPath } from '../ts/server/plan-loader.js';
import { writeFixturePlan } from '../testkit/server-fixture.js';
import { median, recordFlag, table, writeResult } from './stats.js';

interface LoadSpec {
  url: string;
  body: string; // base64
  headers: Record<string, string>;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

// The generator: `concurrency` loops, each sending the next request when the last answer has
// been read; counts only answers completed inside the measured interval.
const kGenerator = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const spec = workerData;
const body = Buffer.from(spec.body, 'base64');
const url = new URL(spec.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
const headers = { ...spec.headers, 'content-length': String(body.length) };
let measuring = false, stop = false, requests = 0, errors = 0;
const lat = [];
function one() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        if (measuring) { if (res.statusCode === 200) { requests++; lat.push(performance.now() - t0); } else errors++; }
        resolve();
      });
    });
    req.on('error', () => { if (measuring) errors++; resolve(); });
    req.end(body);
  });
}
async function loop() { while (!stop) await one(); }
const loops = Array.from({ length: spec.concurrency }, loop);
let t0;
setTimeout(() => { measuring = true; t0 = performance.now(); }, spec.warmupMs);
setTimeout(async () => {
  measuring = false; stop = true;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(loops);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN;
  parentPort.postMessage({ requests, errors, seconds, p50Ms: q(0.5), p99Ms: q(0.99) });
}, spec.warmupMs + spec.durationMs);
`;

function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(kGenerator, { eval: true, workerData: spec });
    w.once('message', (m: LoadResult) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

export async function runHttpBench(opts: { quick: boolean; record?: boolean }): Promise<{ text: string; path: string }> {
  // The zoo's plan when it exists, else the test fixture (16 floats per item: a far smaller
  // body than a 28x28 image, which the result records).
  const zooPlan = defaultPlanPath();
  const fixture = existsSync(zooPlan) ? null : writeFixturePlan();
  const planPath = fixture?.planPath ?? zooPlan;
  const server = await createServer({ plan: planPath, port: 0, maxInFlightImages: 4096 });
  const bare = Fastify({ logger: false });
  bare.post('/bare', async (req) => ({ ok: Array.isArray((req.body as { inputs?: unknown[] }).inputs) }));
  try {
    const url = await server.listen();
    const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
    const cheapest = server.plan.members[0].name;
    const model = `${server.cascade.name}.${cheapest}`;
    const c = server.cascade.contract;
    const image = new Float32Array(c.itemElems);
    for (let i = 0; i < image.length; i++) image[i] = ((i * 7919) % 256) / 255;
    // The first value stays a valid Gather index for the fixture models.
    image[0] = 1;
    const shape = [1, ...c.itemShape];
    const jsonBody = JSON.stringify({ inputs: [{ name: c.inputName, shape, datatype: 'FP32', data: Array.from(image) }] });
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: c.inputName, shape, datatype: 'FP32', parameters: { binary_data_size: image.byteLength } }], parameters: { binary_data_output: true } }));
    const binaryBody = Buffer.concat([header, Buffer.from(image.buffer)]);

    const concurrency = 16;
    const durationMs = opts.quick ? 1500 : 4000;
    const warmupMs = opts.quick ? 300 : 800;
    const rounds = opts.quick ? 1 : 3;
    const kinds = {
      bare: { url: `${bareUrl}/bare`, body: jsonBody, headers: { 'content-type': 'application/json' } },
      json: { url: `${url}/v2/models/${model}/infer`, body: jsonBody, headers: { 'content-type': 'application/json' } },
      binary: { url: `${url}/v2/models/${model}/infer`, body: binaryBody, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } },
    };
    const runs: Record<keyof typeof kinds, LoadResult[]> = { bare: [], json: [], binary: [] };
    // Interleaved rounds: background load on the machine affects all three alike.
    for (let r = 0; r < rounds; r++) {
      for (const [name, k] of Object.entries(kinds) as [keyof typeof kinds, (typeof kinds)['bare']][]) {
        const body = Buffer.isBuffer(k.body) ? k.body : Buffer.from(k.body);
        runs[name].push(await runLoad({ url: k.url, body: body.toString('base64'), headers: k.headers, concurrency, warmupMs, durationMs }));
      }
    }
    const rps = (name: keyof typeof kinds) => median(runs[name].map((x) => x.requests / x.seconds));
    const summary = Object.fromEntries(
      (Object.keys(kinds) as (keyof typeof kinds)[]).map((name) => [
        name,
        { rps: rps(name), p50Ms: median(runs[name].map((x) => x.p50Ms)), p99Ms: median(runs[name].map((x) => x.p99Ms)), errors: runs[name].reduce((a, x) => a + x.errors, 0) },
      ]),
    ) as Record<keyof typeof kinds, { rps: number; p50Ms: number; p99Ms: number; errors: number }>;
    const jsonVsBare = summary.json.rps / summary.bare.rps;
    const binaryVsJson = summary.binary.rps / summary.json.rps;
    const rows = (Object.keys(summary) as (keyof typeof summary)[]).map((k) => [k, summary[k].rps, summary[k].p50Ms, summary[k].p99Ms, summary[k].errors]);
    const text = [
      `plan: ${planPath}${fixture ? ' (test fixture: the zoo plan is missing)' : ''}; model ${model}; ${c.itemElems} floats per image; ${concurrency} connections; ${rounds} x ${durationMs} ms each`,
      table(['route', 'req/s', 'p50 ms', 'p99 ms', 'errors'], rows),
      `JSON / bare = ${(jsonVsBare * 100).toFixed(0)}% (target >= 60%); binary / JSON = ${binaryVsJson.toFixed(2)}x (target >= 1.5x)`,
    ].join('\n');
    const path = writeResult('http', {
      plan: planPath,
      fixture: fixture !== null,
      model,
      itemElems: c.itemElems,
      concurrency,
      durationMs,
      rounds,
      summary,
      runs,
      ratios: { jsonVsBare, binaryVsJson },
      targets: { jsonVsBare: 0.6, binaryVsJson: 1.5 },
    }, opts.record ?? false);
    return { text, path };
  } finally {
    await bare.close();
    await server.close();
    fixture?.cleanup();
  }
}

// Run directly: node dist/benchmarks/http-bench.js [--quick] [--record]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { text, path } = await runHttpBench({ quick: process.argv.includes('--quick'), record: recordFlag() });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
