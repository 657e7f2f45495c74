// Engine hot-path benchmarks (issue: native cascade engine), all measured in one run:
//  - core (C++ only, benchmarks/native/bench_engine_core.cc): batch assembly vs memcpy,
//    threshold evaluation rows/s per measure;
//  - saturation: engine throughput on the strongest model at a fixed batch size against the
//    bare C API Run loop on the same model, batch size and thread count;
//  - per-request overhead on the cheapest model: time per request through the engine at
//    saturation minus the model's own compute per request;
//  - low-load latency on the cheapest model: one request at a time, submit to result, minus
//    the model's compute;
//  - one-item submits: the submitting thread's time per engine.submit call of one item while
//    a lane gathers a batch (what each one-item request costs the event loop);
//  - the token path (typed inputs, a dynamic axis): engine-token-bench.ts.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../bindings/binding.js';
import { CascadeEngine, Session, } from '../ts/index.js';
import { runTokenBench, tokenRows } from './engine-token-bench.js';
import { benchModels, type FloatModel } from './zoo-models.js';
import { median, quantile, table, writeResult } from './stats.js';

function runCoreBench(): Record<string, Record<string, number>> {
  const root = packageRoot();
  const build = join(root, 'build-native-tests');
  const steps: [string, string[]][] = [
    ['cmake', ['-S', join(root, 'native', 'tests'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DSANITIZE=']],
    ['cmake', ['--build', build, '--target', 'bench_engine_core', '-j', '2']],
    [join(build, 'bench_engine_core'), []],
  ];
  let out = '';
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    out = r.stdout;
  }
  return JSON.parse(out) as Record<string, Record<string, number>>;
}

function itemsFor(model: FloatModel, n: number): Float32Array {
  const per = model.itemDims.reduce((a, b) => a * b, 1);
  return new Float32Array(n * per).map((_, i) => ((i * 2654435761) % 251) / 251);
}

/** C API Run per call at `batch` rows, in a native loop (median of reps). */
async function rawRunUs(model: FloatModel, batch: number, reps: number, iterations: number): Promise<number> {
  const s = await Session.create(model.path, { intraOpThreads: 1 });
  const feeds = { [model.input]: { data: itemsFor(model, batch), dims: [batch, ...model.itemDims] } };
  s.measureRuntimeUs(feeds, Math.max(3, iterations >> 3));
  const xs: number[] = [];
  for (let r = 0; r < reps; r++) xs.push(s.measureRuntimeUs(feeds, iterations));
  s.release();
  return median(xs);
}

/** Items per second through the engine, 1 lane, batches of exactly `batch`, kept saturated. */
async function engineItemsPerSecond(model: FloatModel, batch: number, seconds: number): Promise<number> {
  const engine = await CascadeEngine.create({
    models: [model], lanes: [{}],
    gear: { id: 1, stages: [{ model: model.name, threshold: 0, maxBatch: batch, maxQueueDelayUs: 10_000_000 }] },
    maxQueueSizePerStage: batch * 64,
  });
  const chunk = itemsFor(model, batch);
  // Warm-up, then keep four batches in flight: each finished batch submits the next.
  await Promise.all(engine.submit(chunk));
  let done = 0;
  let running = true;
  const start = process.hrtime.bigint();
  const feed = async () => {
    while (running) {
      const results = await Promise.all(engine.submit(chunk));
      done += results.length;
    }
  };
  const feeders = [feed(), feed(), feed(), feed()];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const counted = done;
  running = false;
  await Promise.all(feeders);
  await engine.close();
  return counted / elapsed;
}

async function lowLoadLatencyUs(model: FloatModel, requests: number): Promise<number[]> {
  const engine = await CascadeEngine.create({ models: [model], lanes: [{}], gear: { id: 1, stages: [{ model: model.name, threshold: 0, maxBatch: 1, maxQueueDelayUs: 0 }] } });
  const one = itemsFor(model, 1);
  for (let i = 0; i < 200; i++) await engine.infer(one);
  const lat: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = process.hrtime.bigint();
    await engine.infer(one);
    lat.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  await engine.close();
  return lat;
}

/**
 * What a one-item request costs the submitting (JavaScript) thread while the engine is busy:
 * microseconds per engine.submit call of one item, timed around the calls only, with a lane
 * gathering a batch (maxBatch 64, 2 ms queue delay) from groups of 16 such submits. A server
 * submits each request's items in a call of their own, so at thousands of requests a second
 * this is the event loop's share of the engine, beside the codec and the front end.
 */
async function oneItemSubmitUs(model: FloatModel, groups: number): Promise<number> {
  const engine = await CascadeEngine.create({ models: [model], lanes: [{}], gear: { id: 1, stages: [{ model: model.name, threshold: 0, maxBatch: 64, maxQueueDelayUs: 2000 }] } });
  const one = itemsFor(model, 1);
  const group = 16;
  let ns = 0n;
  let calls = 0;
  for (let g = 0; g < groups; g++) {
    const pending: Promise<unknown>[] = [];
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < group; k++) pending.push(engine.submit(one)[0]);
    if (g >= groups / 10) {
      ns += process.hrtime.bigint() - t0;
      calls += group;
    }
    await Promise.all(pending);
  }
  await engine.close();
  return Number(ns) / 1000 / calls;
}

export async function runEngineBench(opts: { quick?: boolean; record?: boolean } = {}) {
  const quick = opts.quick ?? false;
  const reps = quick ? 3 : 5;
  const { cheapest, strongest, fromZoo } = benchModels();
  const core = runCoreBench();
  const batch = 32;

  const strongRaw = await rawRunUs(strongest, batch, reps, quick ? 10 : 30);
  const strongEngine: number[] = [];
  for (let r = 0; r < reps; r++) strongEngine.push(await engineItemsPerSecond(strongest, batch, quick ? 1 : 2));
  const strongRawItems = (batch / strongRaw) * 1e6;
  const strongEngineItems = median(strongEngine);

  const cheapRaw = await rawRunUs(cheapest, batch, reps, quick ? 2000 : 5000);
  const cheapEngine: number[] = [];
  for (let r = 0; r < reps; r++) cheapEngine.push(await engineItemsPerSecond(cheapest, batch, quick ? 1 : 2));
  const perRequestUs = 1e6 / median(cheapEngine);
  const computePerRequestUs = cheapRaw / batch;

  const cheapRaw1 = await rawRunUs(cheapest, 1, reps, quick ? 2000 : 10000);
  const lat = await lowLoadLatencyUs(cheapest, quick ? 2000 : 10000);
  const p50 = median(lat) - cheapRaw1;
  const p99 = quantile(lat, 0.99) - cheapRaw1;

  const oneItem: number[] = [];
  for (let r = 0; r < reps; r++) oneItem.push(await oneItemSubmitUs(cheapest, quick ? 500 : 2000));

  const tokens = await runTokenBench({ quick, reps });

  const results = {
    models: { cheapest: cheapest.name, strongest: strongest.name, fromZoo },
    core,
    saturation: { model: strongest.name, batch, lanes: 1, engineItemsPerS: strongEngineItems, cApiItemsPerS: strongRawItems, ratio: strongEngineItems / strongRawItems, target: 0.95 },
    perRequestOverhead: { model: cheapest.name, batch, engineUsPerRequest: perRequestUs, computeUsPerRequest: computePerRequestUs, overheadUs: perRequestUs - computePerRequestUs, targetUs: 2 },
    lowLoadLatency: { model: cheapest.name, requests: lat.length, computeUs: cheapRaw1, p50OverheadUs: p50, p99OverheadUs: p99, targetP99Us: 100 },
    oneItemSubmit: { model: cheapest.name, usPerSubmit: median(oneItem), usPerSubmitByRep: oneItem },
    tokens,
  };
  const c = core as { batch_assembly: { gather_gbps: number; gather_padded_gbps: number; memcpy_gbps: number }; token_batch_assembly: { batch_length: number; gather_padded_gbps: number; memcpy_gbps: number }; certainty_rows_per_s: { max_prob: number; margin: number; entropy: number } };
  const text = table(['measure', 'ours', 'baseline', 'ratio / note'], [
    ['batch assembly GB/s (32 x 784 floats)', c.batch_assembly.gather_gbps, c.batch_assembly.memcpy_gbps, `${(c.batch_assembly.gather_gbps / c.batch_assembly.memcpy_gbps).toFixed(2)} of memcpy; padded gather ${c.batch_assembly.gather_padded_gbps}`],
    [`token batch assembly GB/s (32 x INT64, padded to ${c.token_batch_assembly.batch_length})`, c.token_batch_assembly.gather_padded_gbps, c.token_batch_assembly.memcpy_gbps, `${(c.token_batch_assembly.gather_padded_gbps / c.token_batch_assembly.memcpy_gbps).toFixed(2)} of memcpy`],
    ['threshold rows/s max_prob (10 classes)', c.certainty_rows_per_s.max_prob, '-', ''],
    ['threshold rows/s margin', c.certainty_rows_per_s.margin, '-', ''],
    ['threshold rows/s entropy', c.certainty_rows_per_s.entropy, '-', ''],
    [`saturation items/s ${strongest.name} b=${batch}`, strongEngineItems, strongRawItems, `${(results.saturation.ratio * 100).toFixed(1)}% of C API loop (target 95%)`],
    [`per-request us ${cheapest.name} b=${batch}`, perRequestUs, computePerRequestUs, `overhead ${(perRequestUs - computePerRequestUs).toFixed(2)} us (target 2)`],
    [`low-load latency overhead us ${cheapest.name}`, `p50 ${p50.toFixed(1)}`, `p99 ${p99.toFixed(1)}`, `compute ${cheapRaw1.toFixed(1)} us (target p99 100)`],
    [`one-item submit, JavaScript thread us per call ${cheapest.name}`, median(oneItem), '-', 'a lane gathering a batch meanwhile'],
    ...tokenRows(tokens),
  ]);
  const path = writeResult('engine', { description: 'engine hot path: core C++ microbenchmarks, saturation vs C API loop, per-request overhead, low-load latency, one-item submit time on the JavaScript thread (medians over repetitions)', results }, opts.record ?? false);
  return { text, path, results };
}

/** The token path alone (`npm run bench -- engine-tokens`): no zoo models needed. */
export async function runEngineTokenBench(opts: { quick?: boolean; record?: boolean } = {}) {
  const quick = opts.quick ?? false;
  const tokens = await runTokenBench({ quick, reps: quick ? 3 : 5 });
  const text = table(['measure', 'ours', 'baseline', 'ratio / note'], tokenRows(tokens));
  const path = writeResult('engine-tokens', { description: 'engine token path: per-request overhead vs the C API loop, padding waste under a tweet-like length mix, throughput vs onnxruntime-node one request at a time (medians over repetitions)', results: tokens }, opts.record ?? false);
  return { text, path, results: tokens };
}
