// The committed package-lock.json is the one `npm install` writes for the committed
// package.json: npm re-resolves both in a scratch folder (lockfile only, no scripts) and the
// result must be byte-identical, so a fresh clone's `npm install` leaves the tree clean.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../testkit/paths.js';

/** The first lines where two texts differ, with a little context, for the failure message. */
function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) {
      return `line ${i + 1}:\n  committed: ${la.slice(i, i + 3).join('\n             ')}\n  npm wrote: ${lb.slice(i, i + 3).join('\n             ')}`;
    }
  }
  return 'no line differs';
}

t.test('npm install leaves the committed package-lock.json unchanged', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'cascadeserve-lock-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  copyFileSync(join(root, 'package.json'), join(work, 'package.json'));
  copyFileSync(join(root, 'package-lock.json'), join(work, 'package-lock.json'));
  const committed = readFileSync(join(work, 'package-lock.json'), 'utf8');

  // Settings of the `npm test` that runs this (npm_config_*, lifecycle variables) stay out.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  const r = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: work,
    env,
    encoding: 'utf8',
  });
  t.equal(r.status, 0, `npm install --package-lock-only: ${r.stderr}`);
  const rewritten = readFileSync(join(work, 'package-lock.json'), 'utf8');
  t.ok(rewritten === committed, `package-lock.json is stale; run \`npm install\` and commit it. First difference at ${firstDifference(committed, rewritten)}`);
});
