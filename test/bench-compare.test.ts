// `npm run bench:compare`: a wrong command line is refused before anything is checked out or
// built, with a message naming the flag and exit code 2, and no stack trace.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { root } from '../testkit/paths.js';

const script = join(root, 'dist', 'benchmarks', 'compare.js');

function run(args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

t.test('usage errors name the flag and exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /--base is required/],
    [['--base', 'no-such-commit-here'], /--base: 'no-such-commit-here' names no commit/],
    [['--base', 'HEAD', '--alternations', '0'], /--alternations must be an integer from 1 to 20, got '0'/],
    [['--base', 'HEAD', '--alternations', 'many'], /--alternations must be an integer from 1 to 20, got 'many'/],
    [['--base', 'HEAD', '--benches', 'engine,nope'], /--benches: unknown benchmark 'nope'; known: engine, http, planner, session/],
    [['--base', 'HEAD', '--frobnicate'], /--frobnicate/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: names the flag`);
    t.notMatch(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  }
});

t.test('--help lists every flag', async (t) => {
  const r = run(['--help']);
  t.equal(r.status, 0);
  for (const flag of ['--base', '--alternations', '--benches', '--full', '--base-dir', '--fresh', '--record']) t.match(r.stdout, flag);
});
