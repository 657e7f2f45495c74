// The engine's token path (typed inputs, a dynamic sequence axis), measured in one run on the
// two-INT64-input fixture test/fixtures/tokens_meanpool.onnx (make_token_fixtures.py):
//  - per-request overhead: items/s through submitTensors at saturation (batch 32, every item
//    of length 16, so no padding) against the bare C API Run loop at the same batch and length;
//  - padding waste under a tweet-like length mix (log-normal, median 18, sigma 0.6, in
//    [3, 64]): padded / own positions of the FIFO batches the engine formed (its own counters),
//    at batch 8 and 32, and what same-length batching (the policy of models that are not
//    pad-invariant) does to the batch size and throughput on the same mix;
//  - throughput on the mix against onnxruntime-node running the same model one request at a
//    time on each unpadded item.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packageRoot } from '../bindings/binding.js';
import { CascadeEngine, Session, type EngineModel, type ItemResult } from '../ts/index.js';
import { median } from './stats.js';

const kMaxLength = 64;
const kVocab = 50;

function tokenModel(padInvariant = true): EngineModel {
  const inputs = [
    { name: 'input_ids', datatype: 'INT64' as const, itemDims: [-1], padValue: 0 },
    { name: 'attention_mask', datatype: 'INT64' as const, itemDims: [-1], padValue: 0 },
  ];
  return { name: 'meanpool', path: join(packageRoot(), 'test', 'fixtures', 'tokens_meanpool.onnx'), inputs, output: 'logits', classes: 3, padInvariant };
}

/** Deterministic uniform [0, 1) stream. */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/** Tweet-like token counts: log-normal (median 18, sigma 0.6), rounded, clamped to [3, 64]. */
export function lengthMix(count: number, seed: number): Int32Array {
  const u = uniform(seed);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const normal = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    out[i] = Math.min(kMaxLength, Math.max(3, Math.round(Math.exp(Math.log(18) + 0.6 * normal))));
  }
  return out;
}

interface Chunk { count: number; length: number; lengths: Int32Array; ids: BigInt64Array; mask: BigInt64Array }

/** Items of the given lengths, padded to `length`: ids in [1, vocab), mask ones then zeros. */
function chunkOf(lengths: Int32Array, length: number, seed: number): Chunk {
  const u = uniform(seed);
  const count = lengths.length;
  const ids = new BigInt64Array(count * length);
  const mask = new BigInt64Array(count * length);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < lengths[i]; p++) {
      ids[i * length + p] = BigInt(1 + Math.floor(u() * (kVocab - 1)));
      mask[i * length + p] = 1n;
    }
  }
  return { count, length, lengths, ids, mask };
}

/** Items/s through the engine with `chunks` submitted round-robin, four calls in flight, for `seconds`. */
async function saturate(engine: CascadeEngine, chunks: Chunk[], seconds: number): Promise<number> {
  const submit = (c: Chunk): Promise<ItemResult>[] => engine.submitTensors({ count: c.count, length: c.length, lengths: c.lengths, tensors: { input_ids: c.ids, attention_mask: c.mask } });
  for (const c of chunks.slice(0, 4)) await Promise.all(submit(c)); // warm-up: sessions, buffers
  let done = 0;
  let next = 0;
  let running = true;
  const start = process.hrtime.bigint();
  const feed = async () => {
    while (running) {
      const results = await Promise.all(submit(chunks[next++ % chunks.length]));
      done += results.length;
    }
  };
  const feeders = [feed(), feed(), feed(), feed()];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const counted = done;
  running = false;
  await Promise.all(feeders);
  return counted / elapsed;
}

async function engineRun(chunks: Chunk[], maxBatch: number, seconds: number, padInvariant = true) {
  const model = tokenModel(padInvariant);
  const engine = await CascadeEngine.create({
    models: [model], lanes: [{}], maxQueueSizePerStage: 4096,
    gear: { id: 1, stages: [{ model: model.name, threshold: 0, maxBatch, maxQueueDelayUs: 2000 }] },
  });
  const itemsPerS = await saturate(engine, chunks, seconds);
  const q = engine.stats().queues[0];
  await engine.close();
  return { itemsPerS, meanBatch: q.items / Math.max(1, q.batches), paddingWaste: q.paddedPositions / Math.max(1, q.itemPositions) };
}

/** Items/s of onnxruntime-node running each item alone, unpadded, one at a time (awaiting each). */
async function ortNodeOneAtATime(chunks: Chunk[], seconds: number): Promise<number> {
  const session = await ort.InferenceSession.create(tokenModel().path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feedsOf = (c: Chunk, i: number) => {
    const n = c.lengths[i];
    const at = i * c.length;
    return { input_ids: new ort.Tensor('int64', c.ids.subarray(at, at + n), [1, n]), attention_mask: new ort.Tensor('int64', c.mask.subarray(at, at + n), [1, n]) };
  };
  for (let i = 0; i < 200; i++) await session.run(feedsOf(chunks[0], i % chunks[0].count));
  let done = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  for (let k = 0; process.hrtime.bigint() < until; k++) {
    const c = chunks[k % chunks.length];
    for (let i = 0; i < c.count; i++) await session.run(feedsOf(c, i));
    done += chunks[k % chunks.length].count;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  await session.release();
  return done / elapsed;
}

export async function runTokenBench(o: { quick: boolean; reps: number }) {
  const seconds = o.quick ? 1 : 2;
  const batch = 32;
  // Overhead: every item of length 16 (no padding), against the C API at batch 32, length 16.
  const fixed = [chunkOf(new Int32Array(batch).fill(16), 16, 1), chunkOf(new Int32Array(batch).fill(16), 16, 2)];
  const session = await Session.create(tokenModel().path, { intraOpThreads: 1 });
  const feeds = { input_ids: { data: fixed[0].ids, dims: [batch, 16] }, attention_mask: { data: fixed[0].mask, dims: [batch, 16] } };
  session.measureRuntimeUs(feeds, 200);
  const rawUs: number[] = [];
  const fixedRuns: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    rawUs.push(session.measureRuntimeUs(feeds, o.quick ? 1000 : 3000));
    fixedRuns.push((await engineRun(fixed, batch, seconds)).itemsPerS);
  }
  session.release();
  const engineUsPerRequest = 1e6 / median(fixedRuns);
  const computeUsPerRequest = median(rawUs) / batch;

  // The mix: 16 calls of 32 items (each call padded to its own longest item).
  const chunks = Array.from({ length: 16 }, (_, k) => {
    const lengths = lengthMix(batch, 100 + k);
    return chunkOf(lengths, Math.max(...lengths), 200 + k);
  });
  const own = chunks.reduce((a, c) => a + c.lengths.reduce((x, y) => x + y, 0), 0);
  const meanLength = own / (chunks.length * batch);
  const fifo32: Awaited<ReturnType<typeof engineRun>>[] = [];
  const ortNode: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    fifo32.push(await engineRun(chunks, batch, seconds));
    ortNode.push(await ortNodeOneAtATime(chunks, seconds));
  }
  const fifo8 = await engineRun(chunks, 8, seconds);
  const sameLength32 = await engineRun(chunks, batch, seconds, false);
  const mixItemsPerS = median(fifo32.map((x) => x.itemsPerS));
  const ortNodeItemsPerS = median(ortNode);
  return {
    model: 'test/fixtures/tokens_meanpool.onnx (input_ids, attention_mask INT64 [N, S])',
    perRequestOverhead: { batch, length: 16, engineUsPerRequest, computeUsPerRequest, overheadUs: engineUsPerRequest - computeUsPerRequest },
    lengthMix: { distribution: 'log-normal, median 18, sigma 0.6, rounded, in [3, 64]', meanLength, items: chunks.length * batch },
    paddingWaste: {
      definition: 'padded positions / own positions of the batches run (engine counters)',
      fifoBatch32: median(fifo32.map((x) => x.paddingWaste)),
      fifoBatch8: fifo8.paddingWaste,
      sameLengthBatch32: sameLength32.paddingWaste,
      meanBatchFifo32: median(fifo32.map((x) => x.meanBatch)),
      meanBatchSameLength32: sameLength32.meanBatch,
      itemsPerSSameLength32: sameLength32.itemsPerS,
    },
    throughput: { engineItemsPerS: mixItemsPerS, ortNodeOneAtATimeItemsPerS: ortNodeItemsPerS, ratio: mixItemsPerS / ortNodeItemsPerS },
  };
}

export type TokenBenchResults = Awaited<ReturnType<typeof runTokenBench>>;

/** Table rows for the token path. */
export function tokenRows(t: TokenBenchResults): (string | number)[][] {
  const w = t.paddingWaste;
  return [
    [`token per-request us b=${t.perRequestOverhead.batch} len=${t.perRequestOverhead.length}`, t.perRequestOverhead.engineUsPerRequest, t.perRequestOverhead.computeUsPerRequest, `overhead ${t.perRequestOverhead.overheadUs.toFixed(2)} us`],
    [`token padding waste FIFO b=32 (mean length ${t.lengthMix.meanLength.toFixed(1)})`, w.fifoBatch32, `b=8: ${w.fifoBatch8.toFixed(3)}`, `same-length b=32: ${w.sameLengthBatch32.toFixed(3)}, mean batch ${w.meanBatchSameLength32.toFixed(1)} vs ${w.meanBatchFifo32.toFixed(1)}`],
    ['token items/s on the mix (engine vs onnxruntime-node 1 at a time)', t.throughput.engineItemsPerS, t.throughput.ortNodeOneAtATimeItemsPerS, `${t.throughput.ratio.toFixed(2)}x; same-length b=32: ${w.itemsPerSSameLength32.toFixed(0)} items/s`],
  ];
}
