// Open-loop trace replayer: every request leaves at its scheduled time whatever the answers
// (a closed-loop generator slows down with the server and hides overload), over keep-alive
// connections (node:http Agent). Latency is measured from the SCHEDULED send time (or the
// actual one when a request leaves up to kEarlyMs early), so a late generator or a full
// connection pool counts against the system, never for it (no coordinated omission). The
// generator sleeps on timers between sends instead of spinning: a spinning generator took a
// whole core of the two that the server under test also needs. Records per request: latency, HTTP status, the answer (class), the
// gear that answered and whether the answer was right (held-out labels).
//
// Requests carry one image each as UINT8 pixels in Triton's binary tensor extension (784
// bytes after a small JSON header) and ask for the `class` output as JSON.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dataset } from '../../ts/contracts/dataset.js';
import type { Trace } from '../../testkit/traces.js';

export interface ReplayResult {
  /** Per request (trace order). latency: ms from scheduled send to the full answer (Infinity: none). */
  latencyMs: Float64Array;
  status: Uint16Array; // 0 = no answer (connection error or abandoned at the end)
  answer: Int16Array; // -1 = none
  gear: Int16Array; // -1 = none
  correct: Uint8Array;
  /** Largest lateness of a send behind its schedule, ms (generator health). */
  maxSendLagMs: number;
  /** Wall time of the replay, ms. */
  wallMs: number;
}

export interface ReplayOptions {
  url: string;
  model: string;
  heldout: Dataset;
  /** Sockets per host (keep-alive). Default 256. */
  maxSockets?: number;
  /** How long after the last send answers are awaited. Default 3000 ms. */
  drainMs?: number;
  /**
   * Keep-alive pool to reuse (kept open afterwards); default: a fresh one, destroyed at the
   * end. A fresh pool opens its connections during the trial: at a few thousand QPS that
   * connection storm alone held p95 above 500 ms for the first ~300 ms.
   */
  agent?: http.Agent;
}

/** One image as UINT8 in the binary tensor extension: the JSON header and the HTTP headers. */
function binaryRequest(heldout: Dataset): { header: Buffer; headers: Record<string, string> } {
  const elems = heldout.imageSize;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, heldout.rows, heldout.cols], datatype: 'UINT8', parameters: { binary_data_size: elems } }], outputs: [{ name: 'class' }] }));
  return { header, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length), 'content-length': String(header.length + elems) } };
}

/** A request may leave this much before its scheduled time (timer granularity is ~1 ms). */
const kEarlyMs = 0.5;

export async function replay(trace: Trace, o: ReplayOptions): Promise<ReplayResult> {
  const n = trace.sendMs.length;
  if (n > 200_000) throw new RangeError(`trace of ${n} requests: beyond what the replayer sends (scale ${trace.scale})`);
  const url = new URL(`${o.url}/v2/models/${o.model}/infer`);
  const agent = o.agent ?? new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 256 });
  const { header, headers } = binaryRequest(o.heldout);
  const res: ReplayResult = {
    latencyMs: new Float64Array(n).fill(Infinity),
    status: new Uint16Array(n),
    answer: new Int16Array(n).fill(-1),
    gear: new Int16Array(n).fill(-1),
    correct: new Uint8Array(n),
    maxSendLagMs: 0,
    wallMs: 0,
  };
  let pending = 0;
  let allSent: () => void = () => {};
  const drained = new Promise<void>((r) => (allSent = r));
  let sent = 0;
  const t0 = performance.now() + 20;
  const send = (i: number) => {
    const scheduled = Math.min(t0 + trace.sendMs[i], performance.now()); // late: the schedule; early: the actual send
    const img = trace.image[i];
    pending++;
    const done = () => {
      pending--;
      if (pending === 0 && sent === n) allSent();
    };
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        res.latencyMs[i] = performance.now() - scheduled;
        res.status[i] = r.statusCode ?? 0;
        if (r.statusCode === 200) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { outputs: { name: string; data: number[]; parameters?: { gear?: number } }[] };
            const out = body.outputs.find((x) => x.name === 'class') ?? body.outputs[0];
            res.answer[i] = out.data[0];
            res.gear[i] = out.parameters?.gear ?? -1;
            res.correct[i] = out.data[0] === o.heldout.labels[img] ? 1 : 0;
          } catch {
            res.status[i] = 0;
            res.latencyMs[i] = Infinity;
          }
        } else res.latencyMs[i] = Infinity;
        done();
      });
      r.on('error', done);
    });
    req.on('error', () => {
      res.latencyMs[i] = Infinity;
      done();
    });
    req.end(Buffer.concat([header, o.heldout.image(img)]));
  };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < n && t0 + trace.sendMs[sent] <= now + kEarlyMs) {
        res.maxSendLagMs = Math.max(res.maxSendLagMs, now - (t0 + trace.sendMs[sent]));
        send(sent++);
      }
      if (sent === n) return resolve();
      setTimeout(tick, Math.max(0, t0 + trace.sendMs[sent] - performance.now() - kEarlyMs));
    };
    tick();
  });
  if (pending === 0) allSent();
  await Promise.race([drained, new Promise((r) => setTimeout(r, o.drainMs ?? 3000))]);
  if (!o.agent) agent.destroy();
  res.wallMs = performance.now() - t0;
  return res;
}

export interface TrialSummary {
  requests: number;
  ok: number;
  /** Non-200 or unanswered. */
  failed: number;
  /** p95 over ALL requests, failures counted as infinite latency (ms). */
  p95Ms: number;
  p50Ms: number;
  p99Ms: number;
  /** Request-weighted held-out accuracy of the answering gears (failures count 0); see summarize. */
  accuracy: number;
  /** Accuracy of the actual answers over all requests (a failure is not a right answer). */
  accuracyRaw: number;
  /** Accuracy over the answered requests. */
  accuracyAnswered: number;
  maxSendLagMs: number;
}

export function quantileOf(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * gearAccuracy: held-out accuracy of each gear id (the gear's accuracy over the WHOLE held-out
 * half, exact from the profile). `accuracy` is then the request-weighted accuracy of the gears
 * that answered (failures count 0): free of the sampling noise of which images a short trial
 * drew (±0.4 pt at 2,500 requests). `accuracyRaw` is the accuracy of the actual answers.
 */
export function summarize(r: ReplayResult, gearAccuracy?: Map<number, number>, from = 0, to = r.latencyMs.length): TrialSummary {
  const lat = Float64Array.from(r.latencyMs.subarray(from, to)).sort();
  let ok = 0;
  let right = 0;
  let expected = 0;
  for (let i = from; i < to; i++) {
    if (r.status[i] === 200) {
      ok++;
      expected += gearAccuracy?.get(r.gear[i]) ?? r.correct[i];
    }
    right += r.correct[i];
  }
  const requests = to - from;
  return {
    requests,
    ok,
    failed: requests - ok,
    p95Ms: quantileOf(lat, 0.95),
    p50Ms: quantileOf(lat, 0.5),
    p99Ms: quantileOf(lat, 0.99),
    accuracy: requests ? expected / requests : NaN,
    accuracyRaw: requests ? right / requests : NaN,
    accuracyAnswered: ok ? right / ok : NaN,
    maxSendLagMs: r.maxSendLagMs,
  };
}

/** Per time bin: requests, p95 (failures infinite), most frequent gear, accuracy. */
export function timeSeries(trace: Trace, r: ReplayResult, binMs: number): { tMs: number; requests: number; rateQps: number; p95Ms: number; gear: number; accuracy: number; failed: number }[] {
  const bins = Math.ceil(trace.durationMs / binMs);
  const out = [];
  let i = 0;
  for (let b = 0; b < bins; b++) {
    const lat: number[] = [];
    const gears = new Map<number, number>();
    let right = 0;
    let failed = 0;
    while (i < trace.sendMs.length && trace.sendMs[i] < (b + 1) * binMs) {
      lat.push(r.latencyMs[i]);
      if (r.gear[i] >= 0) gears.set(r.gear[i], (gears.get(r.gear[i]) ?? 0) + 1);
      right += r.correct[i];
      if (r.status[i] !== 200) failed++;
      i++;
    }
    lat.sort((a, b2) => a - b2);
    const gear = [...gears.entries()].sort((a, b2) => b2[1] - a[1])[0]?.[0] ?? -1;
    out.push({ tMs: b * binMs, requests: lat.length, rateQps: lat.length / (binMs / 1000), p95Ms: quantileOf(lat, 0.95), gear, accuracy: lat.length ? right / lat.length : NaN, failed });
  }
  return out;
}

export interface SaturationResult {
  /** Answers with status 200 per second of the measured window. */
  throughputQps: number;
  answered: number;
  failed: number;
  p50Ms: number;
}

/**
 * Closed loop at a fixed concurrency: each of `concurrency` clients sends its next request as
 * soon as the previous one is answered. Unlike the open-loop replayer this cannot overload the
 * server, so its throughput is the stack's service rate (no queueing term): the calibration's
 * measure. The first `warmupMs` are not counted.
 */
export async function saturate(o: ReplayOptions & { concurrency: number; durationMs: number; warmupMs?: number }): Promise<SaturationResult> {
  const url = new URL(`${o.url}/v2/models/${o.model}/infer`);
  const agent = o.agent ?? new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const { header, headers } = binaryRequest(o.heldout);
  const tStart = performance.now();
  const tCount = tStart + (o.warmupMs ?? 300);
  const tEnd = tCount + o.durationMs;
  let answered = 0;
  let failed = 0;
  const lat: number[] = [];
  let img = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      const i = img++ % o.heldout.count;
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (r) => {
        r.resume();
        r.on('end', () => {
          const now = performance.now();
          if (now >= tCount && now < tEnd) {
            if (r.statusCode === 200) {
              answered++;
              lat.push(now - t);
            } else failed++;
          }
          resolve();
        });
        r.on('error', () => resolve());
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(Buffer.concat([header, o.heldout.image(i)]));
    });
  const client = async () => {
    while (performance.now() < tEnd) await one();
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  if (!o.agent) agent.destroy();
  lat.sort((a, b) => a - b);
  return { throughputQps: answered / (o.durationMs / 1000), answered, failed, p50Ms: quantileOf(lat, 0.5) };
}

/**
 * Opens `count` keep-alive connections in `agent` (concurrent GET /v2/health/live) so that a
 * trial measures the server, not TCP connection set-up (see ReplayOptions.agent).
 */
export async function openConnections(agent: http.Agent, baseUrl: string, count: number): Promise<void> {
  const url = new URL(`${baseUrl}/v2/health/live`);
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, agent }, (r) => {
            r.resume();
            r.on('end', () => resolve());
            r.on('error', () => resolve());
          });
          req.on('error', () => resolve());
        }),
    ),
  );
}
