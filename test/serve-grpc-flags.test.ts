// The serve command's gRPC and repository flags: bad values are refused by name, before
// anything starts (exit 2).
import t from 'tap';
import { runServeCommand } from '../ts/cli/serve-command.js';

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
    t.match(c.err(), /--grpc-port must be an integer from 0 to 65535 \(0 turns gRPC off\)/);
  }
  const both = capture();
  t.equal(await runServeCommand(['--plan', 'p.json', '--repository', 'dir'], both.io), 2);
  t.match(both.err(), /give --plan or --repository, not both/);
  const help = capture();
  t.equal(await runServeCommand(['--help'], help.io), 0);
  t.match(help.out(), /--grpc-port 8001/);
  t.match(help.out(), /--repository DIR/);
  t.match(help.out(), /SIGHUP/);
});
