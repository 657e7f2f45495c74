// HTTP view: an open-loop trace replayer. Every request leaves at its scheduled time whatever
// the answers (a closed-loop generator slows down with the server and hides overload), over
// keep-alive connections (http-client.ts: prepared request bytes and a minimal answer parser;
// node:http's client took about twice the CPU per request, and the generator lagged about twice
// as much with it: generator-cost.ts, trial-lag.ts).
// Latency is timed from the request's ACTUAL send; the generator's own lag behind its schedule
// is recorded per request and reported beside the latency (measure.ts), so a generator that
// falls behind on 2 shared cores is seen as such and not charged to the system. The generator
// sleeps on timers between sends instead of spinning: a spinning generator took a whole core of
// the two that the server under test also needs.
// Records per request: latency, whether it was answered, the gear that answered and whether
// the answer was right (held-out labels).
//
// Requests carry one image each as UINT8 pixels in Triton's binary tensor extension (784
// bytes after a small JSON header) and ask for the `class` output as JSON.
import { performance } from 'node:perf_hooks';
import type { Dataset } from '../../ts/contracts/dataset.js';
import type { Trace } from '../../testkit/traces.js';
import { ConnectionPool } from './http-client.js';
import { emptyRecord, quantileOf, type RequestRecord } from './measure.js';

export interface ReplayOptions {
  url: string;
  model: string;
  heldout: Dataset;
  /** Connections at most (keep-alive). Default 256. */
  maxConnections?: number;
  /** How long after the last send answers are awaited. Default 3000 ms. */
  drainMs?: number;
  /**
   * Keep-alive pool to reuse (kept open afterwards); default: a fresh one, destroyed at the
   * end. A fresh pool opens its connections during the trial: at a few thousand QPS that
   * connection storm alone held p95 above 500 ms for the first ~300 ms.
   */
  pool?: ConnectionPool;
}

/**
 * The request for image i as UINT8 in the binary tensor extension: the HTTP head and JSON
 * header (the same for every image), then the pixels, in one buffer.
 */
function binaryRequest(pool: ConnectionPool, path: string, heldout: Dataset): (i: number) => Buffer {
  const elems = heldout.imageSize;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, heldout.rows, heldout.cols], datatype: 'UINT8', parameters: { binary_data_size: elems } }], outputs: [{ name: 'class' }] }));
  const head = pool.requestHead('POST', path, { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) }, header.length + elems);
  return (i) => Buffer.concat([head, header, heldout.image(i)]);
}

/** A request may leave this much before its scheduled time (timer granularity is ~1 ms). */
export const kEarlyMs = 0.5;

/**
 * Calls sendDue(from, to) at each timer tick with the items [from, to) whose time
 * t0 + sendMs[i] (performance.now() milliseconds) has come, in order: the load generator of both
 * views. Resolves once the last one is sent.
 */
export function sendDueOnSchedule(sendMs: ArrayLike<number>, t0: number, sendDue: (from: number, to: number) => void): Promise<void> {
  const n = sendMs.length;
  let next = 0;
  return new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const from = next;
      while (next < n && t0 + sendMs[next] <= now + kEarlyMs) next++;
      if (next > from) sendDue(from, next);
      if (next === n) return resolve();
      setTimeout(tick, Math.max(0, t0 + sendMs[next] - performance.now() - kEarlyMs));
    };
    tick();
  });
}

/** Calls send(i) for every i at t0 + sendMs[i], in order (sendDueOnSchedule, one call per item). */
export function sendOnSchedule(sendMs: ArrayLike<number>, t0: number, send: (i: number) => void): Promise<void> {
  return sendDueOnSchedule(sendMs, t0, (from, to) => {
    for (let i = from; i < to; i++) send(i);
  });
}

export async function replay(trace: Trace, o: ReplayOptions): Promise<RequestRecord> {
  const n = trace.sendMs.length;
  if (n > 400_000) throw new RangeError(`trace of ${n} requests: beyond what the replayer sends (scale ${trace.scale})`);
  const pool = o.pool ?? new ConnectionPool(o.url, { maxConnections: o.maxConnections ?? 256 });
  const request = binaryRequest(pool, `/v2/models/${o.model}/infer`, o.heldout);
  const res = emptyRecord(trace.sendMs);
  let pending = 0;
  let allSent: () => void = () => {};
  const drained = new Promise<void>((r) => (allSent = r));
  let sent = 0;
  const t0 = performance.now() + 20;
  const send = (i: number) => {
    const actual = performance.now();
    res.sendLagMs[i] = actual - (t0 + trace.sendMs[i]);
    const img = trace.image[i];
    pending++;
    pool.send(request(img), (status, answer) => {
      if (status === 200 && answer) {
        try {
          const parsed = JSON.parse(answer.toString('utf8')) as { outputs: { name: string; data: number[]; parameters?: { gear?: number } }[] };
          const out = parsed.outputs.find((x) => x.name === 'class') ?? parsed.outputs[0];
          res.latencyMs[i] = performance.now() - actual;
          res.ok[i] = 1;
          res.gear[i] = out.parameters?.gear ?? -1;
          res.correct[i] = out.data[0] === o.heldout.labels[img] ? 1 : 0;
        } catch {
          /* unreadable answer: a failure */
        }
      }
      pending--;
      if (pending === 0 && sent === n) allSent();
    });
  };
  await sendOnSchedule(trace.sendMs, t0, (i) => {
    sent = i + 1;
    send(i);
  });
  if (pending === 0) allSent();
  await Promise.race([drained, new Promise((r) => setTimeout(r, o.drainMs ?? 3000))]);
  if (!o.pool) pool.destroy();
  res.wallMs = performance.now() - t0;
  return res;
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
  const pool = o.pool ?? new ConnectionPool(o.url, { maxConnections: o.concurrency });
  const request = binaryRequest(pool, `/v2/models/${o.model}/infer`, o.heldout);
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
      pool.send(request(img++ % o.heldout.count), (status) => {
        const now = performance.now();
        if (status === 0) failed++;
        else if (now >= tCount && now < tEnd) {
          if (status === 200) {
            answered++;
            lat.push(now - t);
          } else failed++;
        }
        resolve();
      });
    });
  const client = async () => {
    while (performance.now() < tEnd) await one();
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  if (!o.pool) pool.destroy();
  lat.sort((a, b) => a - b);
  return { throughputQps: answered / (o.durationMs / 1000), answered, failed, p50Ms: quantileOf(lat, 0.5) };
}

/**
 * Opens `count` keep-alive connections in `pool` (concurrent GET /v2/health/live) so that a
 * trial measures the server, not TCP connection set-up (see ReplayOptions.pool).
 */
export function openConnections(pool: ConnectionPool, count: number): Promise<void> {
  return pool.warm(count, '/v2/health/live');
}
