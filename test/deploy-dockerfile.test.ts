// The Dockerfile, exercised without a container engine (none on these machines):
// scripts/dockerfile-steps.mjs runs its build steps (the README's `npm install`, the prune)
// in a clean directory per stage, then this test starts the final stage's ENTRYPOINT + CMD as
// its USER (ports swapped for free ones), probes the OIP health routes, runs the HEALTHCHECK
// command, answers a request and stops on SIGTERM. The apt-get steps (Debian packages, the
// user account) are listed by the script, not run on the host. Slow: a full `npm install`
// with the addon build (minutes). CASCADESERVE_DOCKER_STEPS_OUT=dir reuses a finished run of
// the script in dir (for working on this test only).
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { root } from '../testkit/paths.js';
import { freePort } from './helpers/spawn-server.js';
import { until } from './helpers/processes.js';

interface Image {
  root: string;
  workdir: string;
  user: string;
  expose: number[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  systemSteps: Record<string, string[]>;
}

t.test('the Dockerfile builds and its image serves as the manifests expect', async (t) => {
  const reuse = process.env.CASCADESERVE_DOCKER_STEPS_OUT;
  const out = reuse ?? mkdtempSync(join(tmpdir(), 'cs-docker-'));
  if (!reuse) {
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'dockerfile-steps.mjs'), '--out', out], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    t.equal(r.status, 0, `dockerfile-steps: ${r.status === 0 ? 'ok' : (r.stdout + r.stderr).slice(-4000)}`);
    if (r.status !== 0) return;
  }
  const image = JSON.parse(readFileSync(join(out, 'image.json'), 'utf8')) as Image;

  // The recipe's promises.
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  t.match(dockerfile, /^FROM \S+ AS build$/m, 'multi-stage: a build stage');
  t.match(dockerfile, /^RUN npm install$/m, "the build runs the README's `npm install`");
  t.match(readFileSync(join(root, 'README.md'), 'utf8'), /npm install/);
  t.same(image.expose, [8080, 8081], 'REST 8080, gRPC 8081');
  t.equal(image.user, '10001:10001', 'non-root');
  t.same(image.cmd, ['serve', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081']);
  t.match(image.healthcheck.join(' '), /\/v2\/health\/ready/, 'HEALTHCHECK on the readiness route');
  t.match(image.systemSteps.runtime.join(' '), /useradd --system --uid 10001/, 'the runtime stage creates the user');

  // Slim: no development dependencies (onnxruntime-node is one: the ONNX Runtime library
  // ships beside the prebuilt addon, as in the npm package), no sources.
  const app = join(image.root, image.workdir);
  for (const dev of ['typescript', 'tap', 'cmake-js', 'fast-check', 'onnxruntime-node']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev} in the image`);
  t.notOk(existsSync(join(app, 'native')) || existsSync(join(app, 'test')), 'no sources in the image');
  const prebuilt = join(app, 'prebuilds', `${process.platform}-${process.arch}`);
  for (const f of ['cascadeserve.node', 'libonnxruntime.so.1', 'ONNXRUNTIME-LICENSE']) t.ok(existsSync(join(prebuilt, f)), `prebuilds/${process.platform}-${process.arch}/${f}`);
  t.ok(existsSync(join(app, 'proto', 'grpc_service.proto')), "the gRPC service's .proto");

  // Run the image's command as its user: the directories above the image must be passable.
  // Only out and the folders under it: nothing above (such as /tmp) is touched.
  for (let d = image.root; d === out || d.startsWith(out + '/'); d = dirname(d)) chmodSync(d, 0o755);
  const [uid, gid] = image.user.split(':').map(Number);
  // Switching to the image's user needs root (as in CI); otherwise the command runs as we are.
  // A container's environment, none of the test runner's.
  const asUser = { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, ...(process.getuid?.() === 0 ? { uid, gid } : {}) };
  if (!('uid' in asUser)) t.comment(`not root: the image's command runs as uid ${process.getuid?.()}, not ${uid}`);
  const map = (p: string) => (p.startsWith('/') && existsSync(join(image.root, p)) ? join(image.root, p) : p);
  // Through sh and `env -i`: the test runner adds its hooks to the environment of every process
  // it sees spawned, and they write under the checkout, which the image's user cannot.
  const viaShell = (argv: string[]) => ['-c', 'exec env -i PATH="$PATH" "$0" "$@"', ...argv];
  const node = (argv0: string) => (argv0 === 'node' ? process.execPath : map(argv0));
  const help = execFileSync('/bin/sh', viaShell([node(image.entrypoint[0]), ...image.entrypoint.slice(1).map(map), 'serve', '--help']), { encoding: 'utf8', ...asUser });
  const rest = await freePort();
  const args = image.cmd.map((a) => (a === '8080' ? String(rest) : a));
  t.ok(help.includes('--grpc-port'), 'serve has --grpc-port');
  args[args.indexOf('8081')] = String(await freePort());
  const proc = spawn('/bin/sh', viaShell([node(image.entrypoint[0]), ...image.entrypoint.slice(1).map(map), ...args]), { cwd: app, ...asUser, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const base = `http://127.0.0.1:${rest}`;
  await until(`the image's server is ready (${output})`, 600, 100, async () => ((await fetch(`${base}/v2/health/ready`)).status === 200 ? true : undefined));
  t.equal((await fetch(`${base}/v2/health/live`)).status, 200, 'liveness');
  const health = spawnSync('/bin/sh', viaShell([node(image.healthcheck[0]), ...image.healthcheck.slice(1).map((a) => a.replace('127.0.0.1:8080', `127.0.0.1:${rest}`))]), { ...asUser, encoding: 'utf8' });
  t.equal(health.status, 0, 'the HEALTHCHECK command passes');
  const zeros = new Array(28 * 28).fill(0);
  const r = await fetch(`${base}/v2/models/fmnist/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'UINT8', data: zeros }], parameters: { timeout: 5_000_000 } }) });
  t.equal(r.status, 200, `the demo cascade answers (${r.status === 200 ? 'ok' : await r.text()})`);
  proc.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: clean exit');
  t.match(output, /shut down: answered 1 inference requests \(1 succeeded, 0 failed\)/);
});
