// `cascadeserve serve` as an operator runs it (#18 items 9 and 11): one stream of JSON log
// lines on stderr (start, shutdown summary), nothing on stdout unless it is a terminal, where a
// banner gives a curl example that works as pasted, with the token when one is required;
// --quiet and --log-level, documented in --help with the token's rules.
import t from 'tap';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { exampleRequest } from '../ts/cli/serve-command.js';
import { root } from '../testkit/paths.js';
import { items, jsonRequest, postJson, writeFixturePlan } from '../testkit/server-fixture.js';

const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
const kToken = 'paste-me-0123456789abcdef';

const parseLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown });

/** A port nothing listens on now (asked from the kernel, then released). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

t.test('--help states the token rules and what the log flags do', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8' });
  t.equal(r.status, 0);
  t.match(r.stdout, /The token must be 16 to 4096 printable ASCII characters without\s+spaces/);
  t.match(r.stdout, /--quiet is\s+--log-level\s+warn\s+without\s+the\s+banner/);
  t.match(r.stdout, /--log-level/);
  t.match(r.stdout, /--access-log-sample RATE/);
  t.match(r.stdout, /--allow-model-mismatch/);
  const short = spawnSync(process.execPath, [bin, 'serve', '--auth-token', 'short'], { encoding: 'utf8' });
  t.equal(short.status, 2);
  t.match(short.stderr, /must be 16 to 4096 printable ASCII characters without spaces, got 5 characters/);
  const level = spawnSync(process.execPath, [bin, 'serve', '--log-level', 'loud'], { encoding: 'utf8' });
  t.equal(level.status, 2);
  t.match(level.stderr, /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got 'loud'/);
  const sample = spawnSync(process.execPath, [bin, 'serve', '--access-log-sample', '2'], { encoding: 'utf8' });
  t.equal(sample.status, 2);
  t.match(sample.stderr, /--access-log-sample must be a number from 0 to 1/);
});

t.test('not a terminal: stdout stays empty, the log is JSON lines on stderr', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const child = spawn(process.execPath, [bin, 'serve', '--plan', planPath, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    // The URL from the log (or, from a server that prints a banner anyway, from stdout).
    const started = () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(err) ?? /serving '[^']*' at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', (d) => ((out += d), started()));
    child.stderr.on('data', (d) => ((err += d), started()));
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  t.equal((await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1)))).status, 200);
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGTERM');
  });
  t.equal(code, 0);
  t.equal(out, '', 'nothing on stdout');
  const lines = parseLines(err);
  t.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'number' && typeof l.msg === 'string'), 'every stderr line is a JSON log line');
  const serving = lines.find((l) => l.url === url);
  t.equal(serving?.level, 30);
  t.same(serving?.models, ['fixture', 'fixture.small', 'fixture.gather']);
  const summary = lines.find((l) => String(l.msg).startsWith('shut down'));
  t.same([summary?.level, summary?.answered, summary?.succeeded, summary?.failed], [30, 1, 1, 0], 'the shutdown summary is a log line too');
});

t.test('--quiet: warnings and errors only, no banner', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  // A plan whose recorded sha256 differs, served anyway: a warning that --quiet must keep.
  const { readFileSync, writeFileSync } = await import('node:fs');
  const plan = JSON.parse(readFileSync(planPath, 'utf8'));
  plan.models[0].sha256 = '1'.repeat(64);
  writeFileSync(planPath, JSON.stringify(plan));
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'serve', '--plan', planPath, '--port', String(port), '--grpc-port', '0', '--quiet', '--allow-model-mismatch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let ready = false;
  while (!ready && child.exitCode === null) {
    ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then((r) => r.status === 200, () => false);
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ready, `started: ${err.slice(0, 300)}`);
  t.equal((await postJson(`http://127.0.0.1:${port}/v2/models/fixture/infer`, jsonRequest(items(1)))).status, 200);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.equal(out, '', 'no banner');
  const levels = parseLines(err).map((l) => l.level);
  t.same(levels, [40], `only the warning (${levels.join(',')})`);
});

t.test('a terminal gets a banner whose curl example works as pasted, token included', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  // `script` runs the server on a pseudo-terminal, as a person would.
  const cmd = `'${process.execPath}' '${bin}' serve --plan '${planPath}' --port 0 --auth-token ${kToken}`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const { curl, pid } = await new Promise<{ curl: string; pid: number }>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      text += d.toString().replace(/\r/g, '');
      const curlLine = /^ {2}curl .*$/m.exec(text)?.[0];
      const pidOf = /"pid":(\d+)/.exec(text)?.[1];
      if (curlLine && pidOf) resolve({ curl: curlLine, pid: Number(pidOf) });
    });
    child.on('exit', (code) => reject(new Error(`script exited ${code}: ${text}`)));
  });
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  });
  t.match(text, /cascadeserve serving 'fixture' at http:\/\/127\.0\.0\.1:\d+/, 'the banner');
  t.match(curl, `-H "Authorization: Bearer ${kToken}"`);
  const answer = await new Promise<string>((resolve, reject) =>
    execFile('sh', ['-c', `${curl} -w ' %{http_code}'`], (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
  t.match(answer, /"model_name":"fixture".* 200$/, `pasted: ${answer.slice(0, 200)}`);

  // A token from the environment is referred to by its variable, which the shell expands.
  const url = /serving 'fixture' at (http:\/\/\S+)/.exec(text)![1];
  const byVariable = exampleRequest(url, 'fixture', 'x', [16], { variable: 'CASCADESERVE_AUTH_TOKEN' });
  t.match(byVariable, '-H "Authorization: Bearer $CASCADESERVE_AUTH_TOKEN"');
  const viaEnv = await new Promise<string>((resolve, reject) =>
    execFile('sh', ['-c', `${byVariable} -w ' %{http_code}'`], { env: { ...process.env, CASCADESERVE_AUTH_TOKEN: kToken } }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
  t.match(viaEnv, / 200$/, 'the variable form works with the variable set');
  process.kill(pid, 'SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
});
