// `npm run soak -- [--plan path] [--seconds 60] [--factor 5] [--images 1] [--record]`: the
// overload soak of issue 8. Starts the server as a child process (its resident memory read from
// /proc/<pid>/status), measures capacity (the largest open-loop rate whose p95 stays within
// the plan's SLO with under 1% refused, by a short ramp), holds 1x capacity for 5 s (steady
// state), sends factor x capacity open loop for N seconds, then 1x capacity for 10 s
// (recovery). The load generator runs in a worker thread (node:http keep-alive agents) and
// counts every request's outcome: 2xx, refused (429/503), other status, connection error, or
// no response; the burst's counts are compared with the server's /metrics. Writes soak.json
// (benchmarks/results/ with --record, else benchmarks/local/) and prints a table.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { writeFixturePlan } from '../testkit/server-fixture.js';
import { defaultPlanPath } from '../ts/server/plan-loader.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { table, writeResult } from './stats.js';

interface PhaseSpec {
  url: string;
  body: string; // base64
  headers: Record<string, string>;
  rate: number; // requests per second
  durationMs: number;
  /** Wait this long after the last send for outstanding answers. */
  graceMs: number;
  /** Report p95 per window of this length (recovery). */
  windowMs: number;
}

interface PhaseResult {
  targetRate: number;
  sent: number;
  achievedRate: number;
  ok: number;
  refused: number;
  otherStatus: number;
  connectionErrors: number;
  noResponse: number;
  okP50Ms: number;
  okP95Ms: number;
  okP99Ms: number;
  refusedP50Ms: number;
  refusedP99Ms: number;
  refusedMaxMs: number;
  /** Per window: [p95 of 2xx ms, refused fraction]. */
  windows: [number, number][];
}

// Open loop: at each tick, send as many requests as the schedule says are due, whatever is
// still outstanding. Latency: from the request's creation to the end of its answer.
const kGenerator = `
const { parentPort, workerData: s } = require('node:worker_threads');
const http = require('node:http');
const body = Buffer.from(s.body, 'base64');
const url = new URL(s.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 });
const headers = { ...s.headers, 'content-length': String(body.length) };
const okLat = [], refLat = [];
const windows = [];
let sent = 0, ok = 0, refused = 0, other = 0, errors = 0, outstanding = 0;
const t0 = performance.now();
function win(t) { const w = Math.floor((t - t0) / s.windowMs); while (windows.length <= w) windows.push({ lat: [], n: 0, refused: 0 }); return windows[w]; }
function one() {
  const start = performance.now();
  sent++; outstanding++;
  let done = false;
  const finish = (kind) => {
    if (done) return; done = true; outstanding--;
    const ms = performance.now() - start;
    const w = win(start);
    w.n++;
    if (kind === 'ok') { ok++; okLat.push(ms); w.lat.push(ms); }
    else if (kind === 'refused') { refused++; refLat.push(ms); w.refused++; }
    else if (kind === 'other') other++;
    else errors++;
  };
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (res) => {
    res.on('data', () => {});
    res.on('end', () => finish(res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : res.statusCode === 429 || res.statusCode === 503 ? 'refused' : 'other'));
    res.on('error', () => finish('error'));
  });
  req.on('error', () => finish('error'));
  req.end(body);
}
function tick() {
  const elapsed = performance.now() - t0;
  if (elapsed >= s.durationMs) return end();
  const due = Math.floor((s.rate * Math.min(elapsed, s.durationMs)) / 1000);
  while (sent < due) one();
  setImmediate(tick);
}
function q(a, p) { if (!a.length) return NaN; a.sort((x, y) => x - y); return a[Math.min(a.length - 1, Math.floor(p * a.length))]; }
function end() {
  const sendSeconds = (performance.now() - t0) / 1000;
  const deadline = performance.now() + s.graceMs;
  const wait = () => {
    if (outstanding > 0 && performance.now() < deadline) return setTimeout(wait, 20);
    agent.destroy();
    parentPort.postMessage({
      targetRate: s.rate, sent, achievedRate: sent / sendSeconds, ok, refused, otherStatus: other, connectionErrors: errors, noResponse: outstanding,
      okP50Ms: q(okLat, 0.5), okP95Ms: q(okLat, 0.95), okP99Ms: q(okLat, 0.99),
      refusedP50Ms: q(refLat, 0.5), refusedP99Ms: q(refLat, 0.99), refusedMaxMs: refLat.length ? refLat[refLat.length - 1] : NaN,
      windows: windows.map((w) => [q(w.lat, 0.95), w.n ? w.refused / w.n : 0]),
    });
  };
  wait();
}
tick();
`;

function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(kGenerator, { eval: true, workerData: spec });
    w.once('message', (m: PhaseResult) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

async function startServer(planPath: string, extra: string[]): Promise<{ child: ChildProcess; url: string; model: string; exited: Promise<number | null> }> {
  const bin = join(packageRoot(), 'dist', 'ts', 'cli', 'bin.js');
  // The server's log (JSON lines on stderr) gives the URL at info; lines above info (warnings,
  // errors) and anything not JSON are passed on to this process's stderr.
  const child = spawn(process.execPath, [bin, 'serve', '--plan', planPath, '--port', '0', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let out = '';
  child.stderr!.setEncoding('utf8');
  let partial = '';
  child.stderr!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const level = /^\{"level":(\d+)/.exec(line)?.[1];
      if (level === undefined || Number(level) > 30) process.stderr.write(line + '\n');
    }
  });
  const { url, model } = await new Promise<{ url: string; model: string }>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      out += d;
      const m = /serving '([^']+)' at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ model: m[1], url: m[2] });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code} before listening`)));
  });
  return { child, url, model, exited };
}

/** Sums of the success and failure counters of one model, from /metrics. */
async function serverCounts(url: string, model: string): Promise<{ success: number; failure: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let success = 0;
  let failure = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`nv_inference_request_success{model="${model}",`)) success += Number(line.split(' ').pop());
    if (line.startsWith(`nv_inference_request_failure{model="${model}",`)) failure += Number(line.split(' ').pop());
  }
  return { success, failure };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      plan: { type: 'string' },
      seconds: { type: 'string', default: '60' },
      factor: { type: 'string', default: '5' },
      images: { type: 'string', default: '1' },
      'recovery-seconds': { type: 'string', default: '10' },
      'max-event-loop-lag-ms': { type: 'string', default: '50' },
      record: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const factor = Number(values.factor);
  const images = Number(values.images);
  const recoverySeconds = Number(values['recovery-seconds']);
  const zoo = defaultPlanPath();
  const fixture = values.plan === undefined && !existsSync(zoo) ? writeFixturePlan({ sloMs: 50 }) : null;
  const planPath = values.plan ?? fixture?.planPath ?? zoo;
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as { slo: { p95Ms: number } };
  const sloMs = plan.slo.p95Ms;

  const { child, url, model, exited } = await startServer(planPath, ['--max-event-loop-lag-ms', values['max-event-loop-lag-ms']!]);
  const pid = child.pid!;
  try {
    const meta = (await (await fetch(`${url}/v2/models/${model}`)).json()) as { inputs: { name: string; shape: number[] }[] };
    const itemShape = meta.inputs[0].shape.slice(1);
    const elems = itemShape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(images * elems);
    for (let i = 0; i < x.length; i++) x[i] = i % elems === 0 ? (i / elems) % 8 : ((i * 7919) % 256) / 255;
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: meta.inputs[0].name, shape: [images, ...itemShape], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }] }));
    const spec = (rate: number, durationMs: number, windowMs = 1000): PhaseSpec => ({
      url: `${url}/v2/models/${model}/infer`,
      body: Buffer.concat([header, Buffer.from(x.buffer)]).toString('base64'),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      rate,
      durationMs,
      graceMs: 10_000,
      windowMs,
    });

    // Capacity: a ramp of 2-s steps, x1.4 per step, until p95 > SLO, > 1% refused, or the
    // generator falls 10% short of the rate it was asked for.
    const ramp: PhaseResult[] = [];
    let capacity = 0;
    for (let rate = 200; ramp.length < 16; rate = Math.round(rate * 1.4)) {
      const r = await runPhase(spec(rate, 2000));
      ramp.push(r);
      const good = r.okP95Ms <= sloMs && r.refused + r.otherStatus + r.connectionErrors + r.noResponse <= 0.01 * r.sent && r.achievedRate >= 0.9 * rate;
      console.log(`ramp ${rate} req/s: achieved ${r.achievedRate.toFixed(0)}, p95 ${r.okP95Ms.toFixed(1)} ms, refused ${r.refused}${good ? '' : '  <- over capacity'}`);
      if (!good) break;
      capacity = rate;
    }
    if (capacity === 0) throw new Error('capacity below the first ramp step (200 req/s)');

    // Steady state at 1x capacity: the RSS baseline.
    const samples: { t: number; phase: string; rssKb: number }[] = [];
    const t0 = performance.now();
    let phase = 'steady';
    const sampler = setInterval(() => samples.push({ t: (performance.now() - t0) / 1000, phase, rssKb: rssKb(pid) }), 500);
    const steady = await runPhase(spec(capacity, 5000));
    const steadyRss = samples.filter((s) => s.phase === 'steady').map((s) => s.rssKb);
    const steadyRssKb = steadyRss.sort((a, b) => a - b)[Math.floor(steadyRss.length / 2)];

    phase = 'burst';
    const before = await serverCounts(url, model);
    const burst = await runPhase(spec(capacity * factor, seconds * 1000));
    const after = await serverCounts(url, model);
    phase = 'recovery';
    const recovery = await runPhase(spec(capacity, recoverySeconds * 1000, 500));
    clearInterval(sampler);
    const alive = child.exitCode === null && (await fetch(`${url}/v2/health/live`)).status === 200;

    const burstRss = samples.filter((s) => s.phase === 'burst').map((s) => s.rssKb);
    const peakRssKb = Math.max(...samples.map((s) => s.rssKb));
    // Recovered: the first 500-ms window from which on every window has p95 within the SLO
    // and under 1% refused.
    const okWindow = (w: [number, number]) => !(w[0] > sloMs) && w[1] < 0.01;
    let firstGood = recovery.windows.length;
    for (let i = recovery.windows.length - 1; i >= 0 && okWindow(recovery.windows[i]); i--) firstGood = i;
    const recoverySecondsMeasured = firstGood * 0.5;
    const serverSuccess = after.success - before.success;
    const serverFailure = after.failure - before.failure;

    const result = {
      plan: planPath,
      fixturePlan: fixture !== null,
      model,
      maxEventLoopLagMs: Number(values['max-event-loop-lag-ms']),
      imagesPerRequest: images,
      sloP95Ms: sloMs,
      capacityReqPerS: capacity,
      factor,
      burstSeconds: seconds,
      ramp,
      steady,
      burst,
      recovery,
      rss: { steadyKb: steadyRssKb, burstMaxKb: Math.max(...burstRss), peakKb: peakRssKb, ratio: peakRssKb / steadyRssKb, samples },
      accounting: {
        clientOk: burst.ok,
        clientRefused: burst.refused,
        clientOther: burst.otherStatus,
        clientConnectionErrors: burst.connectionErrors,
        clientNoResponse: burst.noResponse,
        serverSuccess,
        serverFailure,
        match: serverSuccess === burst.ok && serverFailure === burst.refused + burst.otherStatus,
      },
      recoverySeconds: recoverySecondsMeasured,
      processAlive: alive,
    };
    const path = writeResult('soak', result, values.record ?? false);
    const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
    console.log(
      [
        `plan ${planPath}${fixture ? ' (test fixture: models/fmnist/plan.json is missing)' : ''}; model '${model}', ${images} image(s) per request, binary tensors; SLO p95 ${sloMs} ms`,
        `capacity ${capacity} req/s (largest ramp step within the SLO); burst ${factor}x = ${capacity * factor} req/s for ${seconds} s`,
        table(
          ['phase', 'target/s', 'sent/s', 'sent', '2xx', 'refused', 'other', 'conn err', 'no answer', 'p95 2xx ms', 'p99 refusal ms'],
          [steady, burst, recovery].map((r, i) => [['steady', 'burst', 'recovery'][i], r.targetRate, f(r.achievedRate), r.sent, r.ok, r.refused, r.otherStatus, r.connectionErrors, r.noResponse, f(r.okP95Ms), f(r.refusedP99Ms)]),
        ),
        `RSS: steady ${(steadyRssKb / 1024).toFixed(1)} MiB, peak ${(peakRssKb / 1024).toFixed(1)} MiB (${(peakRssKb / steadyRssKb).toFixed(2)}x; bound 2x)`,
        `burst accounting: client 2xx ${burst.ok} vs server success ${serverSuccess}; client refused+other ${burst.refused + burst.otherStatus} vs server failure ${serverFailure}: ${result.accounting.match ? 'match' : 'MISMATCH'}`,
        `recovery: p95 within the SLO and < 1% refused from ${recoverySecondsMeasured.toFixed(1)} s after the burst; process ${alive ? 'up' : 'DOWN'}`,
        `written to ${path}`,
      ].join('\n'),
    );
  } finally {
    child.kill('SIGTERM');
    await exited;
    fixture?.cleanup();
  }
}

void main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exitCode = 1;
});
