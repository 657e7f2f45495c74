// `npm run bench -- grpc`: requests per second of single-image inference over gRPC with raw
// tensors (raw_input_contents / raw_output_contents), beside REST with binary tensors and REST
// with JSON, in the same run, on the same server and model (the cheapest model of the plan
// alone, `<cascade>.<cheapest>`, so that the protocol's cost shows rather than the model's).
// One load generator for all three, in a worker thread (not on the server's event loop):
// `concurrency` closed loops over keep-alive HTTP/1.1 connections (REST) or one HTTP/2
// channel (gRPC, as gRPC clients use it), rounds interleaved so background load on the machine
// affects all three alike.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { createServer } from '../ts/server/server.js';
import { defaultPlanPath } from '../ts/server/plan-loader.js';
import { protoPath } from '../ts/server/grpc/service.js';
import { writeFixturePlan } from '../testkit/server-fixture.js';
import { median, recordFlag, table, writeResult } from './stats.js';

const kRequire = createRequire(import.meta.url);

type Kind = 'grpc_raw' | 'rest_binary' | 'rest_json';

interface LoadSpec {
  kind: Kind;
  /** REST: the infer URL; gRPC: host:port. */
  target: string;
  /** REST: the body (base64) and headers; gRPC: the model and the raw input (base64). */
  body: string;
  headers: Record<string, string>;
  model: string;
  input: { name: string; shape: number[] };
  protoPath: string;
  /** Resolved paths of @grpc/grpc-js and @grpc/proto-loader (an eval'd worker resolves from the cwd). */
  modules: { grpc: string; loader: string };
  /** Each request's timeout (parameters.timeout), the same for the three. */
  timeoutUs: number;
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

const kGenerator = `
const { parentPort, workerData: spec } = require('node:worker_threads');
const body = Buffer.from(spec.body, 'base64');
let one, close;
if (spec.kind === 'grpc_raw') {
  const grpc = require(spec.modules.grpc);
  const loader = require(spec.modules.loader);
  const def = loader.loadSync(spec.protoPath, { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
  const Service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService;
  const client = new Service(spec.target, grpc.credentials.createInsecure());
  const request = { model_name: spec.model, parameters: { timeout: { int64_param: spec.timeoutUs } }, inputs: [{ name: spec.input.name, datatype: 'FP32', shape: spec.input.shape }], raw_input_contents: [body] };
  one = () => new Promise((resolve) => client.ModelInfer(request, (err, res) => resolve(!err && res.raw_output_contents.length === 1)));
  close = () => client.close();
} else {
  const http = require('node:http');
  const url = new URL(spec.target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const headers = { ...spec.headers, 'content-length': String(body.length) };
  one = () => new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
  close = () => agent.destroy();
}
let measuring = false, stop = false, requests = 0, errors = 0, t0 = 0;
const lat = [];
async function loop() {
  while (!stop) {
    const start = performance.now();
    const ok = await one();
    if (measuring) { if (ok) { requests++; lat.push(performance.now() - start); } else errors++; }
  }
}
const loops = Array.from({ length: spec.concurrency }, loop);
setTimeout(() => { measuring = true; t0 = performance.now(); }, spec.warmupMs);
setTimeout(async () => {
  measuring = false; stop = true;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(loops);
  close();
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

export async function runGrpcBench(opts: { quick: boolean; record?: boolean }): Promise<{ text: string; path: string }> {
  const zooPlan = defaultPlanPath();
  const fixture = existsSync(zooPlan) ? null : writeFixturePlan();
  const planPath = fixture?.planPath ?? zooPlan;
  const server = await createServer({ plan: planPath, port: 0, grpcPort: 0, maxInFlightImages: 4096 });
  try {
    const url = await server.listen();
    const model = `${server.cascade.name}.${server.plan.members[0].name}`;
    const c = server.cascade.contract;
    const image = new Float32Array(c.itemElems);
    for (let i = 0; i < image.length; i++) image[i] = ((i * 7919) % 256) / 255;
    image[0] = 1; // a valid Gather index for the fixture models
    const shape = [1, ...c.itemShape];
    const raw = Buffer.from(image.buffer);
    // A timeout well above the plan's SLO: the figure is throughput, not deadline misses on a
    // busy machine.
    const timeoutUs = 1_000_000;
    const jsonBody = Buffer.from(JSON.stringify({ inputs: [{ name: c.inputName, shape, datatype: 'FP32', data: Array.from(image) }], parameters: { timeout: timeoutUs } }));
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: c.inputName, shape, datatype: 'FP32', parameters: { binary_data_size: raw.length } }], parameters: { binary_data_output: true, timeout: timeoutUs } }));
    const binaryBody = Buffer.concat([header, raw]);

    const concurrency = 16;
    const durationMs = opts.quick ? 1500 : 4000;
    const warmupMs = opts.quick ? 300 : 800;
    const rounds = opts.quick ? 1 : 3;
    const common = { model, input: { name: c.inputName, shape }, protoPath: protoPath(), modules: { grpc: kRequire.resolve('@grpc/grpc-js'), loader: kRequire.resolve('@grpc/proto-loader') }, timeoutUs, concurrency, warmupMs, durationMs };
    const specs: Record<Kind, LoadSpec> = {
      grpc_raw: { ...common, kind: 'grpc_raw', target: server.grpcAddress!, body: raw.toString('base64'), headers: {} },
      rest_binary: { ...common, kind: 'rest_binary', target: `${url}/v2/models/${model}/infer`, body: binaryBody.toString('base64'), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } },
      rest_json: { ...common, kind: 'rest_json', target: `${url}/v2/models/${model}/infer`, body: jsonBody.toString('base64'), headers: { 'content-type': 'application/json' } },
    };
    const kinds = Object.keys(specs) as Kind[];
    const runs: Record<Kind, LoadResult[]> = { grpc_raw: [], rest_binary: [], rest_json: [] };
    for (let r = 0; r < rounds; r++) for (const k of kinds) runs[k].push(await runLoad(specs[k]));
    const summary = Object.fromEntries(
      kinds.map((k) => [
        k,
        {
          rps: median(runs[k].map((x) => x.requests / x.seconds)),
          p50Ms: median(runs[k].map((x) => x.p50Ms)),
          p99Ms: median(runs[k].map((x) => x.p99Ms)),
          errors: runs[k].reduce((a, x) => a + x.errors, 0),
        },
      ]),
    ) as Record<Kind, { rps: number; p50Ms: number; p99Ms: number; errors: number }>;
    const ratios = { grpcRawVsRestBinary: summary.grpc_raw.rps / summary.rest_binary.rps, grpcRawVsRestJson: summary.grpc_raw.rps / summary.rest_json.rps };
    const text = [
      `plan: ${planPath}${fixture ? ' (test fixture: the zoo plan is missing)' : ''}; model ${model}; ${c.itemElems} floats per image; ${concurrency} concurrent requests; ${rounds} x ${durationMs} ms each`,
      table(
        ['protocol', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
        kinds.map((k) => [k, summary[k].rps, summary[k].p50Ms, summary[k].p99Ms, summary[k].errors]),
      ),
      `gRPC raw / REST binary = ${ratios.grpcRawVsRestBinary.toFixed(2)}x; gRPC raw / REST JSON = ${ratios.grpcRawVsRestJson.toFixed(2)}x`,
    ].join('\n');
    const path = writeResult('grpc', { plan: planPath, fixture: fixture !== null, model, itemElems: c.itemElems, concurrency, durationMs, rounds, summary, ratios, runs }, opts.record ?? false);
    return { text, path };
  } finally {
    await server.close();
    fixture?.cleanup();
  }
}

// Run directly: node dist/benchmarks/grpc-bench.js [--quick]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { text, path } = await runGrpcBench({ quick: process.argv.includes('--quick'), record: recordFlag() });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
