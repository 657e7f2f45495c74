// Session runs real ONNX models through the C API; outputs are checked against a matrix
// product computed here and against onnxruntime-node's own InferenceSession.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Session } from '../ts/index.js';
import { fixture } from '../testkit/paths.js';

interface Weights { w1: number[][]; b1: number[]; w2: number[][]; b2: number[] }
const weights = JSON.parse(readFileSync(fixture('mlp_small.weights.json'), 'utf8')) as Weights;

function mlpReference(x: Float32Array, rows: number): Float64Array {
  const out = new Float64Array(rows * 4);
  for (let r = 0; r < rows; r++) {
    const h = new Float64Array(8);
    for (let j = 0; j < 8; j++) {
      let s = weights.b1[j];
      for (let i = 0; i < 16; i++) s += x[r * 16 + i] * weights.w1[i][j];
      h[j] = Math.max(0, s);
    }
    for (let k = 0; k < 4; k++) {
      let s = weights.b2[k];
      for (let j = 0; j < 8; j++) s += h[j] * weights.w2[j][k];
      out[r * 4 + k] = s;
    }
  }
  return out;
}

function randomInput(rows: number, seed: number): Float32Array {
  const x = new Float32Array(rows * 16);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

t.test('reports inputs and outputs with -1 for dynamic dimensions', async (t) => {
  const s = await Session.create(fixture('mlp_small.onnx'));
  t.same(s.inputs, [{ name: 'x', type: 'float32', shape: [-1, 16] }]);
  t.same(s.outputs, [{ name: 'y', type: 'float32', shape: [-1, 4] }]);
  s.release();
});

t.test('outputs equal a TypeScript matrix product and onnxruntime-node', async (t) => {
  const s = await Session.create(fixture('mlp_small.onnx'));
  const theirs = await ort.InferenceSession.create(fixture('mlp_small.onnx'));
  for (const rows of [1, 3, 64]) {
    const x = randomInput(rows, rows);
    const ours = await s.run({ x: { data: x, dims: [rows, 16] } });
    t.same(ours.y.dims, [rows, 4]);
    t.equal(ours.y.type, 'float32');
    const ref = mlpReference(x, rows);
    const maxDiff = Math.max(...Array.from(ours.y.data as Float32Array, (v, i) => Math.abs(v - ref[i])));
    t.ok(maxDiff < 1e-4, `rows=${rows}: max |ours - TS reference| = ${maxDiff}`);
    const o = await theirs.run({ x: new ort.Tensor('float32', x, [rows, 16]) });
    t.same(Array.from(ours.y.data as Float32Array), Array.from(o.y.data as Float32Array), `rows=${rows}: equal to onnxruntime-node`);
  }
  s.release();
});

t.test('many concurrent runs each get their own answer', async (t) => {
  const s = await Session.create(fixture('mlp_small.onnx'), { intraOpThreads: 1 });
  const inputs = Array.from({ length: 200 }, (_, i) => randomInput(2, 1000 + i));
  const results = await Promise.all(inputs.map((x) => s.run({ x: { data: x, dims: [2, 16] } })));
  let bad = 0;
  results.forEach((r, i) => {
    const ref = mlpReference(inputs[i], 2);
    if ((r.y.data as Float32Array).some((v, j) => Math.abs(v - ref[j]) > 1e-4)) bad++;
  });
  t.equal(bad, 0);
  s.release();
});

const identityCases = [
  { type: 'float32', data: new Float32Array([1.5, -2, 3, 0, 1e-7, -1e30]) },
  { type: 'float16', data: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0, 1, 0x8001]) },
  { type: 'int64', data: new BigInt64Array([1n, -2n, 9007199254740993n, 0n, -(2n ** 62n), 5n]) },
  { type: 'int32', data: new Int32Array([1, -2, 2147483647, 0, -2147483648, 5]) },
  { type: 'uint8', data: new Uint8Array([0, 1, 2, 127, 128, 255]) },
] as const;

for (const c of identityCases) {
  t.test(`${c.type} tensors round-trip through an Identity model`, async (t) => {
    const s = await Session.create(fixture(`identity_${c.type}.onnx`));
    t.equal(s.inputs[0].type, c.type);
    const out = await s.run({ x: { data: c.data, dims: [2, 3] } });
    t.equal(out.y.type, c.type);
    t.same(out.y.dims, [2, 3]);
    t.same(Array.from(out.y.data as ArrayLike<number | bigint>), Array.from(c.data as ArrayLike<number | bigint>));
    s.release();
  });
}

t.test('errors carry ONNX Runtime messages and never abort the process', async (t) => {
  const s = await Session.create(fixture('mlp_small.onnx'));
  await t.rejects(s.run({ x: { data: new Int32Array(32), dims: [2, 16] } }), {
    code: 'ERR_CS_INVALID_ARGUMENT',
    message: /Unexpected input data type.*tensor\(int32\).*expected.*tensor\(float\)/s,
  }, 'wrong element type');
  await t.rejects(s.run({ x: { data: new Float32Array(30), dims: [2, 15] } }), {
    code: 'ERR_CS_INVALID_ARGUMENT',
    message: /invalid dimensions for input: x.*Got: 15 Expected: 16/s,
  }, 'wrong shape');
  const x = { data: new Float32Array(32), dims: [2, 16] };
  await t.rejects(s.run({ x, z: x }), { code: 'ERR_CS_INVALID_ARGUMENT', message: 'feeds["z"] names no input of the model (its inputs: x)' }, 'unknown input');
  await t.rejects(s.run({ x }, ['nope']), { message: 'outputNames[0] "nope" names no output of the model (its outputs: y)' }, 'unknown output');
  await t.rejects(s.run({}), { code: 'ERR_CS_INVALID_ARGUMENT', message: `feeds is missing input "x" (the model's inputs: x)` }, 'missing input');
  await t.rejects(s.run({ x: { data: new Float32Array(31), dims: [2, 16] } }), {
    code: 'ERR_CS_INVALID_ARGUMENT',
    message: 'feeds["x"].dims [2,16] hold 32 elements but data has 31',
  }, 'data length disagrees with dims');
  await t.rejects(s.run({ x: { data: [1, 2] as unknown as Float32Array, dims: [2] } }), {
    message: /feeds\["x"\]\.data must be a typed array/,
  });
  await t.rejects(s.run({ x: { data: new Float32Array(2), dims: [-1, 2] } }), { message: /feeds\["x"\]\.dims must be an array of non-negative integers/ });
  // The session still works after every error.
  const ok = await s.run({ x: { data: new Float32Array(16), dims: [1, 16] } });
  t.same(ok.y.dims, [1, 4]);
  s.release();
  await t.rejects(s.run({ x: { data: new Float32Array(16), dims: [1, 16] } }), { code: 'ERR_CS_CLOSED' }, 'released session');
});

t.test('bad model files give clear errors', async (t) => {
  await t.rejects(Session.create(fixture('does-not-exist.onnx')), {
    code: 'ERR_CS_INVALID_ARGUMENT',
    message: /cannot load model '.*does-not-exist\.onnx'.*(doesn't exist|No such file)/s,
  });
  await t.rejects(Session.create(fixture('corrupt.onnx')), {
    code: 'ERR_CS_INVALID_ARGUMENT',
    message: /cannot load model '.*corrupt\.onnx'.*Protobuf parsing failed/s,
  });
  await t.rejects(Session.create(''), { message: 'path must be a non-empty string' });
});

t.test('options are validated with the option path in the message', async (t) => {
  const p = fixture('mlp_small.onnx');
  await t.rejects(Session.create(p, { intraOpThreads: 0 }), { message: 'options.intraOpThreads must be an integer from 1 to 1024, got 0' });
  await t.rejects(Session.create(p, { graphOptimizationLevel: 'max' as never }), { message: /options\.graphOptimizationLevel must be one of/ });
  await t.rejects(Session.create(p, { executionProvider: 'tpu' as never }), { message: "options.executionProvider must be 'cpu' or 'cuda', got tpu" });
  await t.rejects(Session.create(p, { deviceId: -1 }), { message: /options\.deviceId/ });
  for (const level of ['disabled', 'basic', 'extended', 'all'] as const) {
    const s = await Session.create(p, { graphOptimizationLevel: level, intraOpThreads: 2 });
    const out = await s.run({ x: { data: new Float32Array(16).fill(1), dims: [1, 16] } });
    const ref = mlpReference(new Float32Array(16).fill(1), 1);
    t.ok(Array.from(out.y.data as Float32Array).every((v, i) => Math.abs(v - ref[i]) < 1e-4), `level ${level}`);
    s.release();
  }
});

t.test("'cuda' fails clearly where the runtime has no usable CUDA provider", async (t) => {
  await t.rejects(Session.create(fixture('mlp_small.onnx'), { executionProvider: 'cuda' }), {
    code: 'ERR_CS_UNAVAILABLE',
    message: /execution provider 'cuda'.*(is not available|could not be enabled)/s,
  });
});

t.test('inline, thread and auto execution give the same answers across changing shapes', async (t) => {
  for (const execution of ['inline', 'thread', 'auto'] as const) {
    const s = await Session.create(fixture('mlp_small.onnx'), { execution });
    let bad = 0;
    for (let i = 0; i < 60; i++) {
      const rows = [1, 3, 1, 7, 7, 2][i % 6];
      const x = randomInput(rows, 500 + i);
      const out = await s.run({ x: { data: x, dims: [rows, 16] } });
      const ref = mlpReference(x, rows);
      if (out.y.dims[0] !== rows || (out.y.data as Float32Array).some((v, j) => Math.abs(v - ref[j]) > 1e-4)) bad++;
    }
    t.equal(bad, 0, `${execution}: every answer matches the reference`);
    s.release();
  }
  await t.rejects(Session.create(fixture('mlp_small.onnx'), { execution: 'fast' as never }), { message: "options.execution must be 'auto', 'thread' or 'inline', got fast" });
});

t.test("off-thread runs: the session's own thread, the thread pool while it is taken, the event loop free meanwhile", async (t) => {
  const s = await Session.create(fixture('mlp_small.onnx'), { execution: 'thread' });
  let bad = 0;
  let answered = 0;
  // Single runs reuse the session's thread (posted while it spins, or after it has parked);
  // bursts overflow to the thread pool; both output paths (planned outputs and ONNX Runtime's).
  for (let round = 0; round < 24; round++) {
    const n = [1, 5, 1, 30][round % 4];
    const xs = Array.from({ length: n }, (_, i) => randomInput(3, round * 100 + i));
    const outs = await Promise.all(xs.map((x, i) => s.run({ x: { data: x, dims: [3, 16] } }, i % 2 ? ['y'] : undefined)));
    outs.forEach((o, i) => {
      const ref = mlpReference(xs[i], 3);
      answered++;
      if (o.y.dims[0] !== 3 || (o.y.data as Float32Array).some((v, j) => Math.abs(v - ref[j]) > 1e-4)) bad++;
    });
    if (round % 6 === 5) await new Promise((r) => setTimeout(r, 5)); // long enough for the thread to park
  }
  t.equal(answered, 6 * (1 + 5 + 1 + 30));
  t.equal(bad, 0, 'every answer matches the reference');

  // While a large run is in flight the event loop keeps turning: an inline run (or one run
  // synchronously in a setImmediate callback, as onnxruntime-node does) would allow at most 2 turns.
  const rows = 200_000;
  const big = randomInput(rows, 7);
  let turns = 0;
  let done = false;
  const turn = () => {
    turns++;
    if (!done) setImmediate(turn);
  };
  setImmediate(turn);
  const out = await s.run({ x: { data: big, dims: [rows, 16] } });
  done = true;
  const ref = mlpReference(big.subarray(0, 16 * 4), 4);
  t.ok(Array.from(ref).every((v, j) => Math.abs((out.y.data as Float32Array)[j] - v) <= 1e-4), 'the large run answers correctly');
  t.ok(turns >= 5, `the event loop turned ${turns} times during the run`);

  // Released with a run in flight: that run still answers, later ones are refused.
  const x = randomInput(2, 99);
  const pending = s.run({ x: { data: x, dims: [2, 16] } });
  s.release();
  const last = await pending;
  const lastRef = mlpReference(x, 2);
  t.ok((last.y.data as Float32Array).every((v, j) => Math.abs(v - lastRef[j]) <= 1e-4), 'the run in flight at release answers');
  await t.rejects(s.run({ x: { data: x, dims: [2, 16] } }), { code: 'ERR_CS_CLOSED' });
});

t.test("runs that may share the caller's CPU answer as the reference, serial and concurrent; the option is validated", async (t) => {
  // Root on Linux may always leave SCHED_IDLE again (native/common/cpu_share.h); elsewhere
  // sharing may be unavailable, and only the answers are checked.
  const mayShare = process.platform === 'linux' && process.getuid?.() === 0;
  const rows = 20_000; // a run of milliseconds: the event loop sits idle through it
  for (const shareCallerCpu of [true, false]) {
    const s = await Session.create(fixture('mlp_small.onnx'), { execution: 'thread', shareCallerCpu });
    let bad = 0;
    let answered = 0;
    const sharedAfter: boolean[] = [];
    // Serial runs (the case that shares the CPU), then bursts (several runs in flight: the
    // case that must not), then serial again.
    for (const burst of [1, 1, 1, 1, 6, 1, 1, 12, 1, 1]) {
      const xs = Array.from({ length: burst }, (_, i) => randomInput(rows, answered * 31 + i));
      const outs = await Promise.all(xs.map((x) => s.run({ x: { data: x, dims: [rows, 16] } })));
      outs.forEach((o, i) => {
        const ref = mlpReference(xs[i], rows);
        answered++;
        if ((o.y.data as Float32Array).some((v, j) => Math.abs(v - ref[j]) > 1e-4)) bad++;
      });
      sharedAfter.push(s.lastRunOnCallerCpu);
    }
    t.equal(answered, 26);
    t.equal(bad, 0, `shareCallerCpu ${shareCallerCpu}: every answer matches the reference`);
    if (!shareCallerCpu) t.notOk(sharedAfter.some(Boolean), 'never shares when told not to');
    else if (mayShare) t.ok(sharedAfter.slice(0, 4).some(Boolean), `serial runs share (${sharedAfter}; a run that finds the CPU busy stops it for a while)`);
    s.release();
  }
  await t.rejects(Session.create(fixture('mlp_small.onnx'), { shareCallerCpu: 'yes' as never }), { message: 'options.shareCallerCpu must be a boolean, got yes' });
});

t.test('outputs whose shape the model leaves open: learned from a run, and refused when the values change it', async (t) => {
  // NonZero: y[1, K], K = the number of non-zero inputs. Inputs of one shape with the same K
  // reuse the learned output shape; a different K makes ONNX Runtime refuse the learned one,
  // and the run is answered the ordinary way.
  const nonZero = (x: number[]) => x.flatMap((v, i) => (v !== 0 ? [i] : []));
  for (const execution of ['thread', 'inline'] as const) {
    const s = await Session.create(fixture('nonzero.onnx'), { execution });
    t.same(s.outputs[0].shape, [1, -1]);
    let bad = 0;
    const inputs = [[1, 0, 2, 0], [0, 3, 0, 4], [5, 0, 0, 6], [1, 1, 1, 0], [0, 0, 0, 3], [2, 0, 2, 0], [7, 7, 7, 7]];
    for (const x of inputs) {
      const out = await s.run({ x: { data: Float32Array.from(x), dims: [4] } });
      const want = nonZero(x);
      const got = Array.from(out.y.data as BigInt64Array, Number);
      if (out.y.type !== 'int64' || out.y.dims[0] !== 1 || out.y.dims[1] !== want.length || got.join() !== want.join()) {
        bad++;
        t.comment(`${execution}: ${x} -> dims ${out.y.dims} ${got}, want ${want}`);
      }
    }
    t.equal(bad, 0, `${execution}: every answer equals NonZero computed here`);
    s.release();
  }
});

// Answers come back to the JavaScript thread through bindings/settle_queue.cc: its own libuv
// handle, which holds the process open only while a run is pending (workers that end with runs
// in flight: test/worker-teardown.test.ts).
t.test('a pending run keeps the process alive, and the process exits once it is answered', async (t) => {
  const index = JSON.stringify(new URL('../ts/index.js', import.meta.url).href);
  const model = JSON.stringify(fixture('mlp_small.onnx'));
  const node = (script: string) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });

  // Nothing but the run holds the loop open: without the handle's reference the process
  // would exit before the answer.
  const alive = node(`
    import { Session } from ${index};
    const s = await Session.create(${model}, { execution: 'thread' });
    const x = new Float32Array(16).fill(0.5);
    s.run({ x: { data: x, dims: [1, 16] } }).then((o) => console.log('answered', o.y.dims.join('x')));
  `);
  t.equal(alive.status, 0, alive.stderr);
  t.equal(alive.stdout.trim(), 'answered 1x4', 'the pending run kept the process alive until it was answered, then it exited');
});
