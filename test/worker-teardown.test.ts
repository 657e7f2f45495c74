// A worker thread that ends while its engines and sessions still have work in flight (or are
// still being created) must take only itself down: answers that arrive into a torn-down
// environment are dropped (bindings/errors.h CanRunJavaScript), and the process, its main
// thread's engines and sessions go on. Before, such an answer crashed the whole process
// (a segmentation fault for an engine, a fatal error for a session).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fixture } from '../testkit/paths.js';

const index = JSON.stringify(new URL('../ts/index.js', import.meta.url).href);
const models = JSON.stringify([
  { name: 'small', path: fixture('mlp_small.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
  { name: 'gather', path: fixture('gather_mlp.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
]);
const gear = JSON.stringify({ id: 1, stages: [{ model: 'small', threshold: 0.6, maxBatch: 8, maxQueueDelayUs: 200 }, { model: 'gather', threshold: 0, maxBatch: 8, maxQueueDelayUs: 200 }] });
const mlp = JSON.stringify(fixture('mlp_small.onnx'));

// What the worker does before it ends, by name.
const workloads: Record<string, string> = {
  'engine requests in flight': `
    const engine = await CascadeEngine.create({ models: ${models}, lanes: [{}, {}], gear: ${gear} });
    const x = new Float32Array(4000 * 16).map((_, i) => (i % 16 === 0 ? i % 8 : 0.3));
    for (let k = 0; k < 5; k++) engine.submit(x);
    engine.submit(x.subarray(0, 16 * 8), { outputs: true, certainties: true });`,
  'session runs in flight': `
    const s = await Session.create(${mlp}, { execution: 'thread' });
    const x = new Float32Array(20000 * 16).fill(0.25);
    for (let i = 0; i < 8; i++) s.run({ x: { data: x, dims: [20000, 16] } });`,
  'creations in flight': `
    CascadeEngine.create({ models: ${models}, lanes: [{}], gear: ${gear} });
    Session.create(${mlp}, {});`,
};

for (const [what, work] of Object.entries(workloads)) {
  t.test(`a worker that ends with ${what} leaves the process sound`, async (t) => {
    const script = `
      import { Worker } from 'node:worker_threads';
      import { CascadeEngine, Session } from ${index};
      const inWorker = (how) => {
        // The worker's code is a module, as this script's (--input-type is inherited).
        const w = new Worker(\`
          import { parentPort } from 'node:worker_threads';
          import { CascadeEngine, Session } from ${index};
          ${work.replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}
          if ('\${how}' === 'exit') process.exit(0);
          parentPort.postMessage('started');
        \`, { eval: true });
        const exited = new Promise((r) => w.once('exit', r));
        if (how === 'terminate') w.once('message', () => w.terminate());
        return exited;
      };
      for (let i = 0; i < 3; i++) { await inWorker('exit'); await inWorker('terminate'); }
      const engine = await CascadeEngine.create({ models: ${models}, lanes: [{}], gear: ${gear} });
      const answers = await Promise.all(engine.submit(new Float32Array(4 * 16)));
      await engine.close();
      const s = await Session.create(${mlp}, { execution: 'thread' });
      const out = await s.run({ x: { data: new Float32Array(16), dims: [1, 16] } });
      console.log(answers.filter((a) => a.status === 'ok').length, out.y.dims.join('x'));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    t.equal(r.signal, null, `no signal (${r.signal})`);
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout.trim(), '4 1x4', 'after six workers ended mid-work, the main thread still answers through an engine and a session');
  });
}
