// The packed tarball installs as a user installs it: into an empty project, with npm's default
// settings (install scripts enabled), no compiler on PATH and no network at all (the npm cache is
// primed first; the install runs `--offline` inside a network namespace without network, so any
// download fails). Then `npx cascadeserve info`, `npx cascadeserve serve` answering the README's
// request, and the README's library example run from that project; answers are checked against
// onnxruntime-node (a devDependency of the checkout, not of the installed package).
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { certaintyOf, route, runWithOrtNode } from './helpers/cascade-oracle.js';
import { root } from '../testkit/paths.js';
import { softmax } from '../testkit/softmax.js';

const platform = `${process.platform}-${process.arch}`;
const zoo = join(root, 'models', 'fmnist');

function sh(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', out: `${r.stdout}\n${r.stderr}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Passes with a short message; on failure the message carries the command's output. */
function exitsZero(t: Test, r: { code: number | null; out: string }, what: string): boolean {
  if (r.code === 0) t.pass(what);
  else t.fail(`${what}: exit code ${r.code}\n${r.out}`);
  return r.code === 0;
}

/** The environment of the `npm test` running this, without npm's own variables. */
function envWithoutNpm(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  return env;
}

/** How to run a command without network: `unshare -n` as root, else in a user namespace. */
function noNetworkPrefix(): string[] | null {
  // An absolute path: the commands run with a PATH that holds only node, npm and npx.
  const unshare = sh('/bin/sh', ['-c', 'command -v unshare'], { cwd: root }).stdout.trim();
  if (!unshare) return null;
  for (const prefix of [[unshare, '-n'], [unshare, '-rn']]) {
    if (sh(prefix[0], [...prefix.slice(1), 'true'], { cwd: root }).code === 0) return prefix;
  }
  return null;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}


/** Output rows of a zoo model for `count` blank images, through onnxruntime-node. */
function oracleRows(file: string, count: number): Promise<Float32Array> {
  return runWithOrtNode({ path: join(zoo, file), input: 'input', output: 'logits', itemDims: [1, 28, 28], classes: 10 }, new Float32Array(count * 784), count);
}

t.test('npm pack, then install offline with scripts on and no compiler, then serve and run the library', async (t) => {
  const noNet = noNetworkPrefix();
  if (!noNet) {
    t.fail('this test needs `unshare -n` (root) or `unshare -rn` (user namespaces) to install without network');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'cascadeserve-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // npm's prepack step fills prebuilds/ (scripts/prebuild.mjs).
  const pack = sh('npm', ['pack', '--pack-destination', work], { cwd: root, env: envWithoutNpm() });
  exitsZero(t, pack, 'npm pack');
  const tarballName = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarballName) {
    t.fail('npm pack wrote no tarball');
    return;
  }
  const tarball = join(work, tarballName);
  const tarballBytes = statSync(tarball).size;

  // A PATH with node, npm, npx and a shell, and nothing that compiles; an empty HOME, so no
  // user configuration applies; the npm cache of this machine, primed below.
  const cache = sh('npm', ['config', 'get', 'cache'], { cwd: root, env: envWithoutNpm() }).stdout.trim();
  const binDir = join(work, 'bin');
  const home = join(work, 'home');
  mkdirSync(binDir);
  mkdirSync(home);
  symlinkSync(process.execPath, join(binDir, 'node'));
  const npmCli = realpathSync(sh('/bin/sh', ['-c', 'command -v npm'], { cwd: root }).stdout.trim());
  for (const [name, cli] of [['npm', npmCli], ['npx', join(dirname(npmCli), 'npx-cli.js')]]) {
    writeFileSync(join(binDir, name), `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`, { mode: 0o755 });
  }
  symlinkSync('/bin/sh', join(binDir, 'sh'));
  const env: NodeJS.ProcessEnv = { ...envWithoutNpm(), PATH: binDir, HOME: home, npm_config_cache: cache };
  const compilers = sh('/bin/sh', ['-c', 'command -v g++ || command -v gcc || command -v cc || command -v c++ || command -v clang || command -v cmake || command -v make'], { cwd: work, env });
  t.not(compilers.code, 0, `no compiler on PATH (found ${compilers.stdout.trim()})`);

  const prime = join(work, 'prime');
  mkdirSync(prime);
  writeFileSync(join(prime, 'package.json'), JSON.stringify({ name: 'prime', version: '1.0.0', private: true }));
  const primed = sh(join(binDir, 'npm'), ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: prime, env });
  exitsZero(t, primed, 'priming the npm cache');

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const started = process.hrtime.bigint();
  const install = sh(noNet[0], [...noNet.slice(1), join(binDir, 'npm'), 'install', tarball, '--offline'], { cwd: app, env });
  const installSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  exitsZero(t, install, 'npm install (offline, no network, scripts on)');
  t.comment(`tarball ${tarballName}: ${(tarballBytes / 1e6).toFixed(1)} MB (${tarballBytes} bytes); offline install into an empty project: ${installSeconds.toFixed(1)} s`);

  // Quiet: no EBADENGINE, no unknown config; npm 11's allowScripts notice about our own
  // install step (a check) is npm's policy message and the only warning left.
  t.notMatch(install.out, /EBADENGINE/, 'no dependency wants a newer Node.js than the package promises');
  const warnings = install.out.split('\n').filter((l) => /^npm warn/i.test(l) && !/^npm warn install-scripts/i.test(l));
  t.same(warnings, [], 'npm prints no other warning');
  const installed = join(app, 'node_modules', 'cascadeserve');
  t.notOk(existsSync(join(app, 'node_modules', 'onnxruntime-node')), 'onnxruntime-node is not installed for a user');
  const cookie = join(app, 'node_modules', 'cookie', 'package.json');
  if (existsSync(cookie)) t.match(JSON.parse(readFileSync(cookie, 'utf8')).version, /^1\./, 'cookie 1 (Node 18+), not cookie 2 (Node 22+)');

  // The library and its licence ship together; the notices are those of the shipped version.
  const ortVersion = readFileSync(join(root, 'third_party', 'onnxruntime', 'VERSION'), 'utf8').trim();
  const prebuilt = join(installed, 'prebuilds', platform);
  const sameFile = (a: string, b: string) => existsSync(a) && readFileSync(a).equals(readFileSync(b));
  t.ok(sameFile(join(prebuilt, 'ONNXRUNTIME-LICENSE'), join(root, 'third_party', 'onnxruntime', 'LICENSE')), 'ONNX Runtime licence beside the library');
  t.ok(sameFile(join(prebuilt, 'ONNXRUNTIME-ThirdPartyNotices.txt'), join(root, 'third_party', 'onnxruntime', 'ThirdPartyNotices.txt')), 'ONNX Runtime third-party notices beside the library');

  // The install step's check: silent when the prebuild loads, a clear failure when it does not.
  const checkScript = join(installed, 'scripts', 'install-check.mjs');
  t.equal(sh(join(binDir, 'node'), [checkScript], { cwd: installed, env }).code, 0, 'the install check passes with the shipped prebuild');
  const bad = sh(join(binDir, 'node'), [checkScript], { cwd: installed, env: { ...env, CASCADESERVE_ORT_LIBRARY: join(work, 'missing.so') } });
  t.equal(bad.code, 1, 'the install check fails when the library is missing');
  t.match(bad.out, `no usable prebuilt binary for ${platform} (not found: ${join(work, 'missing.so')})`, 'and names the missing file');
  t.match(bad.out, /npm pack/, 'and says how to build one');
  t.match(bad.out, /CASCADESERVE_ADDON=.*CASCADESERVE_ORT_LIBRARY=/, 'and which variables to set');

  const info = sh(noNet[0], [...noNet.slice(1), join(binDir, 'npx'), 'cascadeserve', 'info'], { cwd: app, env });
  exitsZero(t, info, 'npx cascadeserve info');
  t.match(info.stdout, `ONNX Runtime ${ortVersion} (C API`, `ONNX Runtime ${ortVersion}, the version whose notices ship`);
  t.match(info.stdout, `from ${join(prebuilt, 'libonnxruntime.so.1')}`, 'the runtime shipped in the package');
  t.match(info.stdout, `native addon: ${join(prebuilt, 'cascadeserve.node')}`, 'the prebuilt addon');
  // CASCADESERVE_ORT_LIBRARY still selects another build: here the checkout's onnxruntime-node copy.
  const otherLibrary = join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime.so.1');
  const infoOther = sh(noNet[0], [...noNet.slice(1), join(binDir, 'npx'), 'cascadeserve', 'info'], { cwd: app, env: { ...env, CASCADESERVE_ORT_LIBRARY: otherLibrary } });
  exitsZero(t, infoOther, 'npx cascadeserve info with CASCADESERVE_ORT_LIBRARY');
  t.match(infoOther.stdout, `from ${otherLibrary}`, 'CASCADESERVE_ORT_LIBRARY selects the library');
  // An addon with no library beside it, in a project without onnxruntime-node: a clear error.
  const lonely = join(work, 'lonely');
  mkdirSync(lonely);
  copyFileSync(join(prebuilt, 'cascadeserve.node'), join(lonely, 'cascadeserve.node'));
  const infoLonely = sh(join(binDir, 'npx'), ['cascadeserve', 'info'], { cwd: app, env: { ...env, CASCADESERVE_ADDON: join(lonely, 'cascadeserve.node') } });
  t.equal(infoLonely.code, 1, 'no ONNX Runtime library: info fails');
  t.match(infoLonely.out, `no ONNX Runtime library found: none beside the addon (${join(lonely, 'libonnxruntime.so.1')}); set CASCADESERVE_ORT_LIBRARY`, 'naming where it looked and what to set');
  t.notMatch(infoLonely.out, /\n\s+at /, 'without a stack trace');

  // `npx cascadeserve serve` on the embedded demo answers the README's request.
  const port = await freePort();
  const server = spawn(join(binDir, 'npx'), ['cascadeserve', 'serve', '--host', '127.0.0.1', '--port', String(port), '--grpc-port', '0'], { cwd: app, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  server.stdout!.on('data', (d) => (serverOut += d));
  server.stderr!.on('data', (d) => (serverOut += d));
  const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    try {
      process.kill(-server.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const base = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 600 && !ready && server.exitCode === null; i++) {
    ready = await fetch(`${base}/v2/health/ready`).then((r) => r.ok, () => false);
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (ready) t.pass('the server becomes ready');
  else t.fail(`the server becomes ready: ${serverOut}`);
  const readmeRequest = { id: 'example', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'UINT8', data: new Array(784).fill(0) }] };
  // Without a `timeout` the request gets the plan's 10 ms SLO, which a cold server on a busy
  // machine can miss (504); such a request is answered, so it is sent again, a few times at most.
  let res: Response | undefined;
  let text = '';
  for (let attempt = 0; attempt < 10 && (!res || res.status === 504); attempt++) {
    res = await fetch(`${base}/v2/models/fmnist/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(readmeRequest) });
    text = await res.text();
  }
  t.equal(res?.status, 200, `the README's request is answered: ${text}`);
  type InferBody = { model_name?: string; id?: string; outputs?: { name: string; shape: number[]; data: number[]; parameters?: { model?: string } }[] };
  const body = (res?.status === 200 ? JSON.parse(text) : {}) as InferBody;
  t.equal(body.model_name, 'fmnist');
  t.equal(body.id, 'example');
  const probs = body.outputs?.find((o) => o.name === 'probabilities');
  t.same(probs?.shape, [1, 10]);
  // The answer is the softmax of one cascade member's logits (onnxruntime-node, blank image).
  const manifest = JSON.parse(readFileSync(join(zoo, 'cascade.json'), 'utf8')) as { models: { name: string; file: string }[] };
  const matching: string[] = [];
  for (const m of manifest.models) {
    const expected = softmax(await oracleRows(m.file, 1));
    if (probs && expected.every((p, i) => Math.abs(p - probs.data[i]) < 1e-5)) matching.push(m.name);
  }
  t.ok(matching.length > 0, `the probabilities are one member model's: ${JSON.stringify(probs?.data)}`);
  if (probs?.parameters?.model) t.ok(matching.includes(probs.parameters.model), `the answering model named (${probs.parameters.model}) is one whose answer it is (${matching})`);
  // SIGTERM to the process group (npx's own exit status reports the signal; the server's
  // shutdown is tested elsewhere): the server stops listening.
  process.kill(-server.pid!, 'SIGTERM');
  await exited;
  let stopped = false;
  for (let i = 0; i < 100 && !stopped; i++) {
    stopped = await fetch(`${base}/v2/health/live`).then(() => false, () => true);
    if (!stopped) await new Promise((r) => setTimeout(r, 100));
  }
  if (stopped) t.pass('the server stops on SIGTERM');
  else t.fail(`the server stops on SIGTERM: ${serverOut}`);

  // The README's library example, as written, from the user's project; a report line appended.
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const library = readme.slice(readme.indexOf('\n## Library\n'));
  const example = /```js\n([\s\S]*?)```/.exec(library)?.[1];
  if (!example) {
    t.fail('README.md has no js example under "## Library"');
    return;
  }
  writeFileSync(
    join(app, 'example.mjs'),
    example +
      `console.log('REPORT ' + JSON.stringify({ dims: out.logits.dims, logits: Array.from(out.logits.data), ` +
      `results: results.map((r) => ({ status: r.status, cls: r.predictedClass, model: r.model, exitStage: r.exitStage })) }));\n`,
  );
  const run = sh(noNet[0], [...noNet.slice(1), join(binDir, 'node'), 'example.mjs'], { cwd: app, env });
  exitsZero(t, run, 'node example.mjs (the README example)');
  const reportLine = run.stdout.split('\n').find((l) => l.startsWith('REPORT '));
  if (!reportLine) {
    t.fail(`the example printed no report: ${run.out}`);
    return;
  }
  const report = JSON.parse(reportLine.slice('REPORT '.length)) as { dims: number[]; logits: number[]; results: { status: string; cls: number; model: string; exitStage: number }[] };
  // What the example runs (README): Session on mlp, one blank image; the engine on logreg then
  // cnn-small, threshold 0.9 on max_prob, four blank images.
  t.same(report.dims, [1, 10]);
  const mlp = await oracleRows('mlp.onnx', 1);
  t.ok(report.logits.every((v, i) => Math.abs(v - mlp[i]) < 1e-4), `Session logits equal onnxruntime-node's: ${report.logits} vs ${Array.from(mlp)}`);
  const answers = route([await oracleRows('logreg.onnx', 4), await oracleRows('cnn-small.onnx', 4)], [10, 10], [
    { model: 0, threshold: 0.9, measure: 'max_prob' },
    { model: 1, threshold: 0, measure: 'max_prob' },
  ], 4);
  t.same(
    report.results,
    answers.map((a) => ({ status: 'ok', cls: a.cls, model: ['small', 'big'][a.model], exitStage: a.exitStage })),
    'the engine answers as the oracle routes',
  );
  t.equal(certaintyOf(mlp, 'max_prob').cls, report.logits.indexOf(Math.max(...report.logits)), 'same class from the Session as from the oracle');
});
