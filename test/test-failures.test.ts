// scripts/test-failures.mjs, run by `npm test` after tap fails: it lists each failed
// assertion with its diagnostics from tap's per-file results, and nothing that passed.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../ts/contracts/package-root.js';

const script = join(packageRoot(), 'scripts', 'test-failures.mjs');

t.test('failed assertions are listed with their diagnostics; passing files and subtest summaries are not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-test-failures-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'dist', 'test'), { recursive: true });
  writeFileSync(
    join(dir, 'dist', 'test', 'bad.test.js.tap'),
    ['TAP version 14', '# Subtest: quick run', '    not ok 1 - the quick evaluation exits 0: seed 1 lagged', '      ---', '      at:', '        lineNumber: 77', '      ...', '    ', '    ok 2 - fine', '    1..2', 'not ok 1 - quick run # time=12ms', '  ---', '  at:', '    lineNumber: 70', '  ...', '1..1', ''].join('\n'),
  );
  writeFileSync(join(dir, 'dist', 'test', 'good.test.js.tap'), ['TAP version 14', 'ok 1 - all good', '1..1', ''].join('\n'));
  const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  t.equal(r.status, 1, 'exits 1: it runs only after a failure');
  t.match(r.stdout, /-- dist\/test\/bad\.test\.js\n {4}not ok 1 - the quick evaluation exits 0: seed 1 lagged\n {6}---\n {6}at:\n {8}lineNumber: 77\n {6}\.\.\./, 'the failed assertion and its YAML block, under its file');
  t.notMatch(r.stdout, /quick run # time/, 'not the subtest summary line');
  t.notMatch(r.stdout, /good\.test|ok 2 - fine/, 'nothing that passed');
  t.match(r.stdout, /==== 1 failed assertion\(s\) listed above ====/);
});

t.test('no failed assertion found: says so (a crash or a timeout)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-test-failures-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'x.test.js.tap'), 'TAP version 14\nok 1 - fine\n1..1\n');
  const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stdout, /no failed assertion was found/);
});
