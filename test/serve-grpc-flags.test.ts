// The serve command's gRPC and repository flags: bad values are refused by name, before
// anything starts (exit 2).
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runServeCommand } from '../ts/cli/serve-command.js';
import { root } from '../testkit/paths.js';

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) } } as never,
    out: () => out,
    err: () => err,
  };
}

t.test('--grpc-port and --repository are checked', async (t) => {
  for (const bad of ['-1', '65536', 'eight', '1.5', '']) {
    const c = capture();
    t.equal(await runServeCommand([`--grpc-port=${bad}`], c.io), 2, `--grpc-port '${bad}'`);
    t.match(c.err(), /--grpc-port must be an integer from 0 to 65535/);
  }
  const both = capture();
  t.equal(await runServeCommand(['--plan', join(root, 'models', 'fmnist', 'plan.json'), '--repository', 'dir'], both.io), 2);
  t.match(both.err(), /give --plan or --repository, not both/);
  const help = capture();
  t.equal(await runServeCommand(['--help'], help.io), 0);
  t.match(help.out(), /--grpc-port N .*default 8001/);
  t.match(help.out(), /--repository DIR/);
  t.match(help.out(), /SIGHUP/);
});

t.test('a gRPC port in use: serve says so and exits 1 (the REST listener it opened is closed)', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const child = spawn(process.execPath, [join(root, 'dist', 'ts', 'cli', 'bin.js'), 'serve', '--port', '0', '--grpc-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  t.equal(code, 1, 'exits 1 on its own');
  t.match(err, new RegExp(`gRPC cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
});
