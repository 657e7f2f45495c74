// The packed tarball installs into an empty project with install scripts disabled and no
// compiler on PATH, and runs a model through the prebuilt binary it ships.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, root } from '../testkit/paths.js';

function sh(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, error: r.error };
}

t.test('npm pack, then install without scripts or a compiler, then run a model', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'cascadeserve-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  const prebuild = sh(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], { cwd: root });
  t.equal(prebuild.code, 0, prebuild.out);
  const pack = sh('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root });
  t.equal(pack.code, 0, pack.out);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  t.ok(tarball, 'a tarball was written');

  // A PATH with node, npm and a shell, and nothing that compiles.
  const binDir = join(work, 'bin');
  mkdirSync(binDir);
  symlinkSync(process.execPath, join(binDir, 'node'));
  const npmCli = realpathSync(sh('/bin/sh', ['-c', 'command -v npm'], { cwd: root }).out.trim().split('\n')[0]);
  writeFileSync(join(binDir, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  symlinkSync('/bin/sh', join(binDir, 'sh'));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: binDir, npm_config_ignore_scripts: 'true' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') && k !== 'npm_config_ignore_scripts' && k !== 'npm_config_cache') delete env[k];
  t.not(sh('/bin/sh', ['-c', 'command -v g++ || command -v cc || command -v c++ || command -v cmake'], { cwd: work, env }).code, 0, 'no compiler on PATH');

  const proj = join(work, 'app');
  mkdirSync(proj);
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  const install = sh(join(binDir, 'npm'), ['install', join(work, tarball!), '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: proj, env });
  t.equal(install.code, 0, install.out);

  writeFileSync(
    join(proj, 'run.mjs'),
    `import { Session, runtimeInfo } from 'cascadeserve';
     const s = await Session.create(${JSON.stringify(fixture('identity_float32.onnx'))});
     const out = await s.run({ x: { data: new Float32Array([1, 2, 3]), dims: [1, 3] } });
     console.log(JSON.stringify({ addon: runtimeInfo().addonPath, y: Array.from(out.y.data) }));`,
  );
  const run = sh(join(binDir, 'node'), ['run.mjs'], { cwd: proj, env });
  t.equal(run.code, 0, run.out);
  const result = JSON.parse(run.out.trim().split('\n')[0]) as { addon: string; y: number[] };
  t.match(result.addon, /node_modules\/cascadeserve\/prebuilds\/linux-x64\/cascadeserve\.node$/);
  t.same(result.y, [1, 2, 3]);
});
