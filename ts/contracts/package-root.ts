// Where the package and its bundled files are: the package root (the directory holding
// package.json) and the bundled demo cascade's manifest, models/fmnist/cascade.json.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walks up from this module's directory to the directory holding package.json. */
export function packageRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json found above ${start}`);
    dir = parent;
  }
}

/** Absolute path of the bundled demo manifest, models/fmnist/cascade.json. */
export function defaultManifestPath(): string {
  return join(packageRoot(), 'models', 'fmnist', 'cascade.json');
}
