#!/usr/bin/env node
// Runs the Dockerfile's steps without a container engine (none is available on the machines
// that test this project): each stage gets its own directory under --out standing for its
// root filesystem; WORKDIR, COPY (with --from and .dockerignore), ENV and RUN are carried
// out there, so the recipe's build commands really run. System steps (RUN lines starting with
// apt-get: package installs and the user account) are not run on the host: they are listed,
// and the packages they name must be the host's (checked with `command -v`).
// Writes <out>/image.json: the final stage's root, WORKDIR, USER, EXPOSE, ENTRYPOINT, CMD and
// HEALTHCHECK, for test/deploy-dockerfile.test.ts to start the image's command from.
//
//   node scripts/dockerfile-steps.mjs --out DIR [--dockerfile Dockerfile]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const context = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string' }, dockerfile: { type: 'string', default: join(context, 'Dockerfile') } } });
if (!values.out) {
  process.stderr.write('usage: node scripts/dockerfile-steps.mjs --out DIR [--dockerfile Dockerfile]\n');
  process.exit(2);
}
const out = resolve(values.out);
const log = (msg) => process.stdout.write(`[dockerfile-steps] ${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`[dockerfile-steps] ERROR: ${msg}\n`);
  process.exit(1);
};

/** Instructions: continuation lines joined, comments dropped. */
function instructions(text) {
  const list = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    const m = /^(\w+)\s+(.*)$/s.exec(current);
    if (!m) fail(`cannot read instruction: ${current}`);
    list.push({ op: m[1].toUpperCase(), arg: m[2].trim() });
    current = '';
  }
  return list;
}

const ignored = existsSync(join(context, '.dockerignore'))
  ? readFileSync(join(context, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  : [];
const globToRe = (g) => new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*') + '$');
const ignoredRes = ignored.map(globToRe);
const isIgnored = (rel) => ignoredRes.some((re) => re.test(rel) || re.test(rel.split('/')[0]));

const stages = new Map();
let stage = null;
const args = new Map();
const expand = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => args.get(a ?? b) ?? m);

for (const { op, arg } of instructions(readFileSync(values.dockerfile, 'utf8'))) {
  switch (op) {
    case 'ARG': {
      const [k, v] = arg.split('=');
      args.set(k, v ?? '');
      break;
    }
    case 'FROM': {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(arg);
      const name = m[2] ?? `stage${stages.size}`;
      const root = join(out, name);
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root, { recursive: true });
      stage = { name, base: expand(m[1]), root, cwd: '/', env: {}, systemSteps: [], user: 'root', expose: [], entrypoint: null, cmd: null, healthcheck: null };
      stages.set(name, stage);
      log(`stage ${name} (FROM ${stage.base}) in ${root}`);
      break;
    }
    case 'WORKDIR':
      stage.cwd = isAbsolute(arg) ? arg : join(stage.cwd, arg);
      mkdirSync(join(stage.root, stage.cwd), { recursive: true });
      break;
    case 'ENV': {
      const m = /^(\w+)[= ](.*)$/.exec(arg);
      stage.env[m[1]] = m[2];
      break;
    }
    case 'COPY': {
      const parts = arg.split(/\s+/);
      let from = null;
      while (parts[0].startsWith('--')) {
        const flag = parts.shift();
        if (flag.startsWith('--from=')) from = flag.slice(7);
      }
      const dest = parts.pop();
      const destAbs = join(stage.root, isAbsolute(dest) ? dest : join(stage.cwd, dest));
      const intoDir = dest.endsWith('/') || dest === '.' || dest === './';
      for (const src of parts) {
        const srcPath = from ? join(stages.get(from).root, src) : join(context, src);
        if (!existsSync(srcPath)) fail(`COPY ${src}: ${srcPath} does not exist`);
        if (!from && (src === '.' || src === './')) {
          // The build context: every entry that .dockerignore leaves.
          mkdirSync(destAbs, { recursive: true });
          for (const entry of readdirSync(context)) {
            if (isIgnored(entry)) continue;
            cpSync(join(context, entry), join(destAbs, entry), { recursive: true, verbatimSymlinks: true, filter: (p) => !isIgnored(p.slice(context.length + 1)) });
          }
          continue;
        }
        const target = intoDir && !statSync(srcPath).isDirectory() ? join(destAbs, src.split('/').pop()) : destAbs;
        mkdirSync(dirname(target), { recursive: true });
        cpSync(srcPath, target, { recursive: true, verbatimSymlinks: true });
      }
      log(`COPY ${arg}`);
      break;
    }
    case 'RUN': {
      if (/^apt-get\b/.test(arg)) {
        stage.systemSteps.push(arg);
        log(`system step, not run on the host: RUN ${arg}`);
        break;
      }
      log(`RUN ${arg}`);
      const r = spawnSync('sh', ['-c', arg], { cwd: join(stage.root, stage.cwd), stdio: 'inherit', env: { ...process.env, ...stage.env } });
      if (r.status !== 0) fail(`RUN ${arg}: exited ${r.status}`);
      break;
    }
    case 'USER':
      stage.user = arg;
      break;
    case 'EXPOSE':
      stage.expose.push(...arg.split(/\s+/).map(Number));
      break;
    case 'ENTRYPOINT':
      stage.entrypoint = JSON.parse(arg);
      break;
    case 'CMD':
      stage.cmd = JSON.parse(arg);
      break;
    case 'HEALTHCHECK': {
      const m = /CMD\s+(\[.*\])$/.exec(arg);
      if (!m) fail(`HEALTHCHECK: expected the exec form CMD [...], got ${arg}`);
      stage.healthcheck = JSON.parse(m[1]);
      break;
    }
    default:
      fail(`instruction ${op} is not supported by this runner`);
  }
}

// The packages the system steps install must be the host's, so that the steps that did run
// ran with what the image would have. Only the commands with a binary are checked.
const kPackageCommand = { nodejs: 'node', npm: 'npm', cmake: 'cmake', make: 'make', 'g++': 'g++' };
for (const s of stages.values()) {
  for (const step of s.systemSteps) {
    const m = /apt-get install ([^&]*)/.exec(step);
    for (const pkg of (m ? m[1] : '').split(/\s+/).filter((p) => p && !p.startsWith('-'))) {
      const cmd = kPackageCommand[pkg];
      if (cmd && spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) fail(`stage ${s.name}: the image installs ${pkg}, but this host has no ${cmd}`);
    }
  }
}

const final = [...stages.values()].at(-1);
const image = { root: final.root, workdir: final.cwd, user: final.user, expose: final.expose, entrypoint: final.entrypoint, cmd: final.cmd, healthcheck: final.healthcheck, systemSteps: Object.fromEntries([...stages.values()].map((s) => [s.name, s.systemSteps])) };
writeFileSync(join(out, 'image.json'), JSON.stringify(image, null, 2) + '\n');
log(`done: ${join(out, 'image.json')}`);
