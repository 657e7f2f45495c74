// One command-line convention for every command (issue 12 item 9): every numeric flag of
// every command at 0, negative, huge and non-numeric values gives a message naming the flag
// and exit 2 without a stack trace (or, where the value is in range, is accepted); paths are
// checked before any work; --help lists every flag, including every flag the docs name.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRange, helpText, parseCommandLine, runCommand, UsageError, type CliIo, type CommandSpec, type Flag } from '../ts/cli/args.js';
import { kInfoCommand, runInfoCommand } from '../ts/cli/info-command.js';
import { kInitCommand, runInitCommand } from '../ts/cli/init-command.js';
import { kPlanCommand, runPlanCommand } from '../ts/cli/plan-command.js';
import { kProfileCommand, runProfileCommand } from '../ts/cli/profile-command.js';
import { kServeCommand, runServeCommand } from '../ts/cli/serve-command.js';
import { root } from '../testkit/paths.js';

const kCommands: [CommandSpec, (argv: string[], io: CliIo) => Promise<number>][] = [
  [kServeCommand, runServeCommand],
  [kInfoCommand, runInfoCommand],
  [kProfileCommand, runProfileCommand],
  [kPlanCommand, runPlanCommand],
  [kInitCommand, runInitCommand],
];

function capture() {
  const o = { out: '', err: '' };
  const io: CliIo = { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } };
  return { o, io };
}

const kStackFrame = /\n\s+at .+[(:]\d+/;

/** In range by the flag's own bounds, computed here from min/max/above (not by the parser). */
function inRange(f: Flag, x: number): boolean {
  if (!Number.isFinite(x)) return false;
  if (f.kind === 'integer' && !Number.isInteger(x)) return false;
  if (f.above !== undefined && !(x > f.above)) return false;
  if (f.min !== undefined && x < f.min) return false;
  if (f.max !== undefined && x > f.max) return false;
  return true;
}

t.test('every numeric flag of every command: 0, negative, huge, non-numeric', async (t) => {
  let checked = 0;
  for (const [spec, run] of kCommands) {
    for (const f of spec.flags.filter((x) => x.kind === 'integer' || x.kind === 'number')) {
      t.ok(f.max !== undefined, `${spec.name} --${f.name} has an upper bound`);
      t.ok(f.min !== undefined || f.above !== undefined, `${spec.name} --${f.name} has a lower bound`);
      for (const text of ['0', '-1', '-7.5', '1e300', '99999999999', 'abc', '', '0x10', 'NaN', 'Infinity', '1.5']) {
        const value = text.trim() === '' ? NaN : Number(text);
        const accepted = inRange(f, value) && !/x|Infinity|NaN/.test(text);
        if (accepted) {
          // in range: the parser accepts it (the command itself is not run: it would start work)
          const parsed = parseCommandLine({ ...spec, positionals: [], flags: spec.flags.map((x) => ({ ...x, required: false })) }, [`--${f.name}`, text]);
          t.equal(parsed.values[f.name], value, `${spec.name} --${f.name} ${text}: accepted as ${value}`);
        } else {
          const { o, io } = capture();
          const code = await run([`--${f.name}`, text], io);
          t.equal(code, 2, `${spec.name} --${f.name} '${text}': exit 2`);
          t.equal(o.err.split('\n')[0], `cascadeserve ${spec.name}: --${f.name} must be ${describeRange(f)}, got '${text}'`, `${spec.name} --${f.name} '${text}': the message names the flag and its range`);
          t.notMatch(o.err, kStackFrame, 'no stack trace');
          t.equal(o.out, '', 'nothing on stdout');
        }
        checked++;
      }
    }
  }
  t.ok(checked >= 150, `${checked} cases`);
});

t.test('the parser: --flag value, --flag=value, negative values, unknown and repeated flags', async (t) => {
  const spec: CommandSpec = {
    name: 'demo',
    positionals: [{ name: 'thing', kind: 'string', help: 'a thing' }],
    flags: [
      { name: 'count', kind: 'integer', min: -10, max: 10, help: 'a count' },
      { name: 'rate', kind: 'number', above: 0, max: 5, help: 'a rate' },
      { name: 'mode', kind: 'choice', choices: ['a', 'b'], help: 'a mode' },
      { name: 'fast', kind: 'boolean', help: 'go fast' },
      { name: 'name', kind: 'string', help: 'a name', required: true },
    ],
  };
  const ok = parseCommandLine(spec, ['x', '--count', '-3', '--rate=0.5', '--mode', 'b', '--fast', '--name', '-dash-']);
  t.same(ok, { values: { count: -3, rate: 0.5, mode: 'b', fast: true, name: '-dash-' }, positionals: ['x'], help: false }, 'a negative value is a value, not an option');
  t.same(parseCommandLine(spec, ['--count=-10', '--name', 'n', '--', '--weird']).positionals, ['--weird'], 'after --, positionals');
  const err = (argv: string[]) => {
    try {
      parseCommandLine(spec, argv);
      return 'accepted';
    } catch (e) {
      t.ok(e instanceof UsageError, 'a UsageError');
      return (e as Error).message;
    }
  };
  t.equal(err(['x', '--nope', '1']), "unknown option '--nope'");
  t.equal(err(['x', '-q']), "unknown option '-q'");
  t.equal(err(['x', '--count', '1', '--count', '2', '--name', 'n']), '--count is given twice');
  t.equal(err(['x', '--name']), '--name needs a value (VALUE)');
  t.equal(err(['x', '--fast=yes', '--name', 'n']), '--fast takes no value');
  t.equal(err(['x', '--count', '11', '--name', 'n']), "--count must be an integer from -10 to 10, got '11'");
  t.equal(err(['x', '--rate', '0', '--name', 'n']), "--rate must be a number > 0 and <= 5, got '0'");
  t.equal(err(['x', '--mode', 'c', '--name', 'n']), "--mode must be one of a, b, got 'c'");
  t.equal(err(['x']), '--name is required');
  t.equal(err(['--name', 'n']), 'expected thing, got nothing');
  t.equal(err(['x', 'y', '--name', 'n']), "expected thing, got 'x' 'y'");
  t.equal(parseCommandLine(spec, ['-h']).help, true, '-h is help even with required flags missing');
});

t.test('--help of every command lists every flag with its range', async (t) => {
  for (const [spec, run] of kCommands) {
    const { o, io } = capture();
    t.equal(await run(['--help'], io), 0);
    t.equal(o.out, helpText(spec));
    for (const f of spec.flags) {
      t.match(o.out, `--${f.name}`, `${spec.name} --help lists --${f.name}`);
      if (f.kind === 'integer' || f.kind === 'number') t.match(o.out, describeRange(f), `${spec.name} --help gives the range of --${f.name}`);
    }
  }
  const { o, io } = capture();
  await runPlanCommand(['--help'], io);
  t.match(o.out, /--host-cores C/);
  t.match(o.out, /--host-us-per-request U/);
});

t.test('every flag the README and docs name for a command is in its table', async (t) => {
  const specs = new Map(kCommands.map(([s]) => [s.name, s]));
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  let named = 0;
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    // `cascadeserve <command> ...` code spans (they may wrap over lines)
    for (const m of text.matchAll(/`(?:npx )?cascadeserve (serve|info|profile|plan|init)\b([^`]*)`/g)) {
      const spec = specs.get(m[1])!;
      for (const flag of m[2].matchAll(/--([a-z][a-z0-9-]*)/g)) {
        named++;
        t.ok(flag[1] === 'help' || spec.flags.some((f) => f.name === flag[1]), `${doc}: \`cascadeserve ${m[1]} --${flag[1]}\` is a flag of ${m[1]}`);
      }
    }
  }
  t.ok(named >= 20, `${named} flags named in the docs`);
});

t.test('paths are checked before any work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-cli-args-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const profile = join(root, 'models', 'fmnist', 'profile.json');
  const cases: [(argv: string[], io: CliIo) => Promise<number>, string[], RegExp][] = [
    [runPlanCommand, ['--profile', join(dir, 'none.json'), '--slo-p95-ms', '10', '--lanes', '1'], /--profile: cannot read '.*none\.json': no such file/],
    [runPlanCommand, ['--profile', profile, '--slo-p95-ms', '10', '--lanes', '1', '--out', '/nonexistent-dir/p.json'], /--out: cannot write '\/nonexistent-dir\/p\.json': the folder \/nonexistent-dir does not exist/],
    [runPlanCommand, ['--profile', profile, '--slo-p95-ms', '10', '--lanes', '1', '--out', join(dir, 'p.json'), '--svg', join(dir, 'missing', 'p.svg')], /--svg: cannot write '.*p\.svg': the folder .*missing does not exist/],
    [runPlanCommand, ['--profile', profile, '--slo-p95-ms', '10', '--lanes', '1', '--workload', 'nope.json'], /--workload: cannot read 'nope\.json': no such file/],
    [runPlanCommand, ['--profile', dir, '--slo-p95-ms', '10', '--lanes', '1'], /--profile: '.*' is a folder, not a file/],
    [runPlanCommand, ['--profile', profile, '--slo-p95-ms', '10', '--lanes', '1', '--out', dir], /--out: '.*' is a folder, not a file/],
    [runProfileCommand, [join(root, 'models', 'fmnist', 'cascade.json'), '--out', '/nonexistent-dir/p.json'], /--out: cannot write '\/nonexistent-dir\/p\.json'/],
    [runProfileCommand, [join(dir, 'missing.json')], /manifest\.json: cannot read '.*missing\.json': no such file/],
    [runServeCommand, ['--plan', join(dir, 'missing.json')], /--plan: cannot read '.*missing\.json': no such file/],
  ];
  for (const [run, argv, re] of cases) {
    const { o, io } = capture();
    t.equal(await run(argv, io), 2, argv.join(' '));
    t.match(o.err, re);
    t.notMatch(o.err, kStackFrame);
  }
  t.same(readdirSync(dir), [], 'nothing was written');

  // a workload's loads take the planner's range (0 = idle); an input error: exit 1
  writeFileSync(join(dir, 'w.json'), JSON.stringify({ qps: [0, 100, 0.5] }));
  const { o, io } = capture();
  t.equal(await runPlanCommand(['--profile', profile, '--slo-p95-ms', '10', '--lanes', '1', '--workload', join(dir, 'w.json'), '--out', join(dir, 'p.json')], io), 1);
  t.match(o.err, /w\.json: qps\[2\]: expected 0 \(idle\) or a load from 1 to 10000000 qps, got 0\.5/);
  t.notOk(existsSync(join(dir, 'p.json')), 'no plan written');
});

t.test('the same convention through the binary: exit 2, the flag named, no stack trace', async (t) => {
  const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
  const cases: [string[], RegExp][] = [
    [['plan', '--max-qps', '0'], /--max-qps must be a number from 64 to 10000000, got '0'/],
    [['plan', '--max-qps', '0.01'], /--max-qps must be a number from 64 to 10000000, got '0.01'/],
    [['plan', '--lanes', '-3'], /--lanes must be an integer from 1 to 64, got '-3'/],
    [['plan', '--lanes', '100000'], /--lanes must be an integer from 1 to 64, got '100000'/],
    [['plan', '--threads', '0'], /--threads must be an integer from 1 to 64, got '0'/],
    [['profile', '--warmup', 'abc'], /--warmup must be an integer from 0 to 10000, got 'abc'/],
    [['serve', '--port', '1e300'], /--port must be an integer from 0 to 65535, got '1e300'/],
    [['info', '--bogus'], /unknown option '--bogus'/],
    [[], /Usage: cascadeserve <command>/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 2, `cascadeserve ${args.join(' ')}: exit 2`);
    t.match(r.stderr, re);
    t.notMatch(r.stderr, kStackFrame);
  }
});

t.test('a usage error found after parsing exits 2 too; other errors exit 1 with their message', async (t) => {
  const spec: CommandSpec = { name: 'demo', flags: [] };
  let r = capture();
  t.equal(await runCommand(spec, [], r.io, async () => { throw new UsageError('--a and --b go together'); }), 2);
  t.equal(r.o.err, 'cascadeserve demo: --a and --b go together\n(see `cascadeserve demo --help`)\n');
  r = capture();
  t.equal(await runCommand(spec, [], r.io, async () => { throw new Error('profile.json: models: expected at least 1 element'); }), 1);
  t.equal(r.o.err, 'cascadeserve demo: profile.json: models: expected at least 1 element\n');
  const p = join(root, 'models', 'fmnist', 'profile.json');
  r = capture();
  t.equal(await runPlanCommand(['--profile', p, '--slo-p95-ms', '10', '--lanes', '1', '--host-cores', '2'], r.io), 2);
  t.match(r.o.err, /--host-cores and --host-us-per-request go together/);
  r = capture();
  t.equal(await runPlanCommand(['--profile', p, '--slo-p95-ms', '10', '--lanes', '1', '--objective', 'cost'], r.io), 2);
  t.match(r.o.err, /--objective cost needs --min-accuracy/);
});
