// Session.run against onnxruntime-node's InferenceSession.run on the same model, input and
// thread count, and both against the bare C API Run in a native loop (the raw runtime), all in
// one process, interleaved repetition by repetition. Overhead = per-call time - raw runtime.
// onnxruntime-node runs a model synchronously on the JavaScript thread (in a setImmediate
// callback) while Session.run runs large models on another thread, so each side also reports
// how long the event loop is busy per call: the loop's active time over the timed calls
// (performance.eventLoopUtilization), which other requests of the process cannot use.
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Session } from '../ts/index.js';
import { packageRoot } from '../bindings/binding.js';
import { eventLoopWakeUs } from './event-loop-wake.js';
import { median, table, writeResult } from './stats.js';

interface Case { label: string; path: string; input: string; itemDims: number[] }

function cases(): Case[] {
  const root = packageRoot();
  const manifestPath = join(root, 'models', 'fmnist', 'cascade.json');
  if (existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { models: { name: string; file: string; input?: string }[]; input: { name: string } };
    const first = m.models[0];
    const last = m.models[m.models.length - 1];
    const mk = (label: string, x: { name: string; file: string; input?: string }) => ({
      label: `${label} (${x.name})`,
      path: join(dirname(manifestPath), x.file),
      input: x.input ?? m.input.name,
      itemDims: [1, 28, 28],
    });
    return [mk('small', first), mk('large', last)];
  }
  return [{ label: 'small (test mlp)', path: join(root, 'test', 'fixtures', 'mlp_small.onnx'), input: 'x', itemDims: [16] }];
}

/** Microseconds per call, and microseconds per call the event loop was busy. */
async function timeLoop(fn: () => Promise<unknown>, calls: number): Promise<{ us: number; loopBusyUs: number }> {
  const elu0 = performance.eventLoopUtilization();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / calls;
  const elu = performance.eventLoopUtilization(elu0);
  return { us, loopBusyUs: (elu.active * 1000) / calls };
}

export async function runSessionBench(opts: { quick?: boolean; record?: boolean } = {}) {
  const reps = opts.quick ? 3 : 7;
  const rows: (string | number)[][] = [];
  const results = [];
  for (const c of cases()) {
    const ours = await Session.create(c.path, { intraOpThreads: 1 });
    const theirs = await ort.InferenceSession.create(c.path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    for (const batch of [1, 8, 64]) {
      const dims = [batch, ...c.itemDims];
      const n = dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n).map((_, i) => ((i * 7919) % 255) / 255);
      const feeds = { [c.input]: { data, dims } };
      const ortFeeds = { [c.input]: new ort.Tensor('float32', data, dims) };
      // Calls per repetition: about 100 ms of raw runtime work each (50 ms when quick).
      const probe = ours.measureRuntimeUs(feeds, 5);
      const calls = Math.max(5, Math.round((opts.quick ? 50_000 : 100_000) / Math.max(probe, 1)));
      await timeLoop(() => ours.run(feeds), Math.min(calls, 200));
      await timeLoop(() => theirs.run(ortFeeds), Math.min(calls, 200));
      const o: number[] = [], t: number[] = [], r: number[] = [], ob: number[] = [], tb: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const ourRep = await timeLoop(() => ours.run(feeds), calls);
        const theirRep = await timeLoop(() => theirs.run(ortFeeds), calls);
        o.push(ourRep.us);
        ob.push(ourRep.loopBusyUs);
        t.push(theirRep.us);
        tb.push(theirRep.loopBusyUs);
        r.push(ours.measureRuntimeUs(feeds, calls));
      }
      const res = {
        model: c.label, batch, calls, reps,
        oursUs: median(o), onnxruntimeNodeUs: median(t), rawCApiUs: median(r),
        oursOverheadUs: median(o) - median(r), onnxruntimeNodeOverheadUs: median(t) - median(r),
        speedUp: median(t) / median(o),
        oursLoopBusyUs: median(ob), onnxruntimeNodeLoopBusyUs: median(tb),
        oursUsByRep: o, onnxruntimeNodeUsByRep: t,
      };
      results.push(res);
      rows.push([c.label, batch, res.rawCApiUs, res.oursUs, res.onnxruntimeNodeUs, res.oursOverheadUs, res.onnxruntimeNodeOverheadUs,
        res.onnxruntimeNodeOverheadUs > 0 ? res.oursOverheadUs / res.onnxruntimeNodeOverheadUs : NaN, res.speedUp, res.oursLoopBusyUs, res.onnxruntimeNodeLoopBusyUs]);
    }
    ours.release();
    await theirs.release();
  }
  // Why the off-thread path costs more at batch 1 of a large model: the wake-up after a long idle.
  const wake = await eventLoopWakeUs([20, 100, 500], opts.quick ? 200 : 1000);
  const text = [
    table(['model', 'batch', 'C API us', 'Session us', 'ort-node us', 'ours ovh us', 'ort-node ovh us', 'ovh ratio', 'speed-up', 'ours loop busy us', 'ort-node loop busy us'], rows),
    `speed-up = ort-node us / Session us (>= 1: Session is faster); loop busy = event-loop active time per call; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `event-loop wake-up after another thread's message, by idle time: ${wake.map((w) => `idle ${w.idleUs} us -> p50 ${w.p50Us.toFixed(1)} us, p90 ${w.p90Us.toFixed(1)} us, p99 ${w.p99Us.toFixed(1)} us`).join('; ')}`,
  ].join('\n');
  const path = writeResult('session', { description: 'per-call time of Session.run vs onnxruntime-node InferenceSession.run vs the bare C API Run, single intra-op thread, medians over repetitions; loop busy = event-loop active time per call; eventLoopWake: the JavaScript thread\'s wake-up latency for a message from another thread by how long it was idle (benchmarks/event-loop-wake.ts)', loadAverage: loadavg(), results, eventLoopWake: wake }, opts.record ?? false);
  return { text, path, results };
}
