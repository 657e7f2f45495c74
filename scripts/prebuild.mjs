#!/usr/bin/env node
// `npm run prebuild`: builds the addon if needed and places it under
// prebuilds/<platform>-<arch>/cascadeserve.node, where the loader looks first. The addon is
// Node-API (ABI-stable), so one binary serves every Node.js from 20 on.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(process.execPath, [join(root, 'scripts', 'setup.mjs'), '--native-only'], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
const built = join(root, 'build', 'Release', 'cascadeserve.node');
if (!existsSync(built)) {
  process.stderr.write(`prebuild: ${built} is missing after the build\n`);
  process.exit(1);
}
const dest = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dest, { recursive: true });
copyFileSync(built, join(dest, 'cascadeserve.node'));
process.stdout.write(`prebuild: ${join(dest, 'cascadeserve.node')}\n`);
