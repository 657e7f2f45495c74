// Model files at start-up (#18 items 7 and 8): a model file other than the one the plan was
// made for (its sha256) is refused, naming the model and the file, unless explicitly allowed;
// a zero-length or corrupt model and a missing manifest give errors that name the user's file
// and the problem, without ONNX Runtime's internal source paths or guessed locations.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../ts/index.js';
import { createServer } from '../ts/server/server.js';
import { fixture, root } from '../testkit/paths.js';
import { items, jsonRequest, postJson, sha256Of, writeFixturePlan } from '../testkit/server-fixture.js';

const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
/** ONNX Runtime's own build paths and C++ signatures, which must not reach the user. */
const kInternals = /onnxruntime_src|\.cc:\d+|onnxruntime::/;

/** A fixture plan whose manifest names copies of the fixture models inside the plan's directory. */
function planWithModelCopies(t: Test) {
  const { planPath, dir, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const manifestPath = join(dir, 'cascade.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  for (const m of manifest.models) {
    const copy = join(dir, `${m.name}.onnx`);
    copyFileSync(m.file, copy);
    m.file = copy;
  }
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return { planPath, dir, small: join(dir, 'small.onnx'), gather: join(dir, 'gather.onnx') };
}

function serve(args: string[]): Promise<{ code: number | null; out: string; err: string; url?: string; stop: () => void }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    // Started: the URL in the log (or, from a server that prints a banner, on stdout).
    const started = () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(err) ?? /serving '[^']*' at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ code: null, out, err, url: m[1], stop: () => child.kill('SIGTERM') });
    };
    child.stdout.on('data', (d) => ((out += d), started()));
    child.stderr.on('data', (d) => ((err += d), started()));
    child.on('exit', (code) => resolve({ code, out, err, stop: () => {} }));
  });
}

t.test('a model file other than the plan was made for is refused, naming model and file', async (t) => {
  const { planPath, small, gather } = planWithModelCopies(t);
  const planned = sha256Of(small);
  copyFileSync(gather, small); // another model under the same name
  const actual = sha256Of(small);
  t.not(actual, planned);

  const err = await createServer({ plan: planPath, port: 0 }).then(
    () => null,
    (e: Error) => e,
  );
  t.equal(err?.name, 'ModelMismatchError');
  t.match(err?.message, `model 'small': file ${small} has sha256 ${actual}, but plan ${planPath} was made for sha256 ${planned}`);
  t.notMatch(err?.message, 'gather', 'only the model that differs');
  t.match(err?.message, /--allow-model-mismatch/, 'names the override');

  const cli = await serve(['--plan', planPath]);
  t.teardown(cli.stop);
  t.equal(cli.code, 2, 'serve exits 2 (a configuration error)');
  t.match(cli.err, `model 'small': file ${small} has sha256 ${actual}, but plan ${planPath} was made for sha256 ${planned}`);
  t.notMatch(cli.err, /\n\s+at /, 'no stack trace');
});

t.test('--allow-model-mismatch serves anyway, with a warning naming the file', async (t) => {
  const { planPath, small, gather } = planWithModelCopies(t);
  copyFileSync(gather, small);
  const cli = await serve(['--plan', planPath, '--allow-model-mismatch']);
  t.teardown(cli.stop);
  t.ok(cli.url, `started: ${cli.err.slice(0, 300)}`);
  const warning = cli.err
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.level === 40);
  t.ok(warning, 'a warn line');
  t.same(warning?.mismatches?.map((m: { model: string; file: string }) => [m.model, m.file]), [['small', small]]);
  const r = await postJson(`${cli.url}/v2/models/fixture/infer`, jsonRequest(items(2)));
  t.equal(r.status, 200, 'serves');

  const server = await createServer({ plan: planPath, port: 0, allowModelMismatch: true });
  t.equal(server.cascade.name, 'fixture', 'the library option allows it too');
  await server.close();
});

t.test('unchanged model files start as before', async (t) => {
  const { planPath } = planWithModelCopies(t);
  const server = await createServer({ plan: planPath, port: 0 });
  t.equal(server.models.size, 3);
  await server.close();
});

t.test('a zero-length model file: the error names the file and the problem, no ONNX Runtime internals', async (t) => {
  const { planPath, small } = planWithModelCopies(t);
  writeFileSync(small, '');
  // The plan made for this (empty) file, so that the load itself is what fails.
  const plan = JSON.parse(readFileSync(planPath, 'utf8'));
  plan.models.find((m: { name: string }) => m.name === 'small').sha256 = sha256Of(small);
  writeFileSync(planPath, JSON.stringify(plan));

  const err = await createServer({ plan: planPath, port: 0 }).then(
    () => null,
    (e: Error) => e,
  );
  t.ok(err, 'refused');
  t.match(err?.message, `model 'small': file ${small} is empty (0 bytes)`);
  t.match(err?.message, /ModelProto does not have a graph/, "ONNX Runtime's own message kept");
  t.notMatch(err?.message, kInternals, `no internal paths: ${err?.message}`);

  const session = await Session.create(small).then(
    () => null,
    (e: Error) => e,
  );
  t.match(session?.message, small, 'Session.create names the file');
  t.notMatch(session?.message, kInternals, `Session.create: no internal paths: ${session?.message}`);
});

t.test('a corrupt model file: no ONNX Runtime internals either', async (t) => {
  const err = await Session.create(fixture('corrupt.onnx')).then(
    () => null,
    (e: Error) => e,
  );
  t.match(err?.message, fixture('corrupt.onnx'));
  t.notMatch(err?.message, kInternals, `${err?.message}`);
});

t.test('a missing manifest: named once, relative to the plan, nothing else probed', async (t) => {
  const { planPath, dir } = planWithModelCopies(t);
  const plan = JSON.parse(readFileSync(planPath, 'utf8'));
  plan.manifest.path = 'elsewhere/cascade.json';
  writeFileSync(planPath, JSON.stringify(plan));
  const err = await createServer({ plan: planPath, port: 0 }).then(
    () => null,
    (e: Error) => e,
  );
  const want = join(dir, 'elsewhere', 'cascade.json');
  t.match(err?.message, `plan ${planPath}: manifest.path 'elsewhere/cascade.json' names ${want}`);
  t.equal(err?.message.split(want).length, 2, 'the path appears once');
  t.notMatch(err?.message, new RegExp(`${process.cwd()}/elsewhere|${root}/elsewhere`), 'neither the working directory nor the package folder');
  t.notMatch(err?.message, /tried/);
});
