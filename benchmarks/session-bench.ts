// Session.run against onnxruntime-node's InferenceSession.run on the same model, input and
// thread count, and both against the bare C API Run in a native loop (the raw runtime), all in
// one process, interleaved repetition by repetition. Overhead = per-call time - raw runtime.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Session } from '../ts/index.js';
import { packageRoot } from '../bindings/binding.js';
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

async function timeLoop(fn: () => Promise<unknown>, calls: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / calls;
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
      const o: number[] = [], t: number[] = [], r: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        o.push(await timeLoop(() => ours.run(feeds), calls));
        t.push(await timeLoop(() => theirs.run(ortFeeds), calls));
        r.push(ours.measureRuntimeUs(feeds, calls));
      }
      const res = {
        model: c.label, batch, calls, reps,
        oursUs: median(o), onnxruntimeNodeUs: median(t), rawCApiUs: median(r),
        oursOverheadUs: median(o) - median(r), onnxruntimeNodeOverheadUs: median(t) - median(r),
      };
      results.push(res);
      rows.push([c.label, batch, res.rawCApiUs, res.oursUs, res.onnxruntimeNodeUs, res.oursOverheadUs, res.onnxruntimeNodeOverheadUs,
        res.onnxruntimeNodeOverheadUs > 0 ? res.oursOverheadUs / res.onnxruntimeNodeOverheadUs : NaN, res.onnxruntimeNodeUs / res.oursUs]);
    }
    ours.release();
    await theirs.release();
  }
  const text = table(['model', 'batch', 'C API us', 'Session us', 'ort-node us', 'ours ovh us', 'ort-node ovh us', 'ovh ratio', 'speed-up'], rows);
  const path = writeResult('session', { description: 'per-call time of Session.run vs onnxruntime-node InferenceSession.run vs the bare C API Run, single intra-op thread, medians over repetitions', results }, opts.record ?? false);
  return { text, path, results };
}
