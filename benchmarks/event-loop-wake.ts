// How long the JavaScript thread takes to wake for a message from another thread, by how long
// it has been idle: the cost an off-thread run pays that a run on the JavaScript thread (as
// onnxruntime-node does) does not. A worker thread busy-waits `idleUs`, stamps the time and
// posts (libuv's async handle, the mechanism of Session's and the engine's completions); the
// main thread, parked in its event loop meanwhile, reads the stamp when the message arrives.
// On the VMs measured, a thread idle for 100 us or less woke in about 17 us; idle for 200 us
// or more (a large model's run), about 80 us: the vCPU had halted.
import { Worker } from 'node:worker_threads';
import { median, quantile } from './stats.js';

const kWorker = `
const { parentPort, workerData } = require('node:worker_threads');
const stamp = new BigInt64Array(workerData);
parentPort.on('message', (idleUs) => {
  const until = process.hrtime.bigint() + BigInt(Math.round(idleUs * 1000));
  while (process.hrtime.bigint() < until) {}
  stamp[0] = process.hrtime.bigint();
  parentPort.postMessage(0);
});`;

export interface WakeRow {
  idleUs: number;
  samples: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

export async function eventLoopWakeUs(idleUs: readonly number[], samples: number): Promise<WakeRow[]> {
  const shared = new SharedArrayBuffer(8);
  const stamp = new BigInt64Array(shared);
  const worker = new Worker(kWorker, { eval: true, workerData: shared });
  try {
    const rows: WakeRow[] = [];
    for (const idle of idleUs) {
      const lat: number[] = [];
      for (let i = 0; i < samples; i++) {
        await new Promise<void>((resolve) => {
          worker.once('message', () => {
            lat.push(Number(process.hrtime.bigint() - stamp[0]) / 1000);
            resolve();
          });
          worker.postMessage(idle);
        });
      }
      rows.push({ idleUs: idle, samples, p50Us: median(lat), p90Us: quantile(lat, 0.9), p99Us: quantile(lat, 0.99) });
    }
    return rows;
  } finally {
    await worker.terminate();
  }
}
