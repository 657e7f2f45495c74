// The evaluation's load-generator client (benchmarks/eval/http-client.ts) against node:http's
// server, an independent HTTP/1.1 implementation: every request answered exactly once with the
// body the server sent for it, under more concurrency than connections; answers split across
// TCP writes; connections the server closes (after an answer, or with a request in flight);
// an answer without Content-Length; a refused port; destroy() with requests outstanding.
// Tests do not import benchmarks/ (test/layers.test.ts): the compiled module runs in a child.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/contracts/package-root.js';

interface Answer { id: number; status: number; body: string | null }
interface Outcome { answers: Record<string, Answer[]>; connections: Record<string, number>; serverSeen: Record<string, number> }

const module = pathToFileURL(join(packageRoot(), 'dist', 'benchmarks', 'eval', 'http-client.js')).href;
const script = `
  import http from 'node:http';
  import net from 'node:net';
  const { ConnectionPool } = await import(${JSON.stringify(module)});
  const serverSeen = {};
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const mode = req.url.slice(1);
      serverSeen[mode] = (serverSeen[mode] ?? 0) + 1;
      const reply = JSON.stringify({ echo: body, path: req.url, len: Number(req.headers['content-length'] ?? -1) });
      if (mode === 'echo') return setTimeout(() => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) }).end(reply), Math.random() * 3);
      if (mode === 'split') {
        // head, then the body in three writes a few ms apart
        res.writeHead(201, { 'content-length': Buffer.byteLength(reply) });
        res.flushHeaders();
        const b = Buffer.from(reply);
        const k = Math.floor(b.length / 3);
        setTimeout(() => res.write(b.subarray(0, k)), 2);
        setTimeout(() => res.write(b.subarray(k, 2 * k)), 4);
        setTimeout(() => res.end(b.subarray(2 * k)), 6);
        return;
      }
      if (mode === 'close') return res.writeHead(400, { connection: 'close', 'content-length': Buffer.byteLength(reply) }).end(reply);
      if (mode === 'drop') return req.socket.destroy();
      if (mode === 'chunked') return res.writeHead(200).end(reply); // no Content-Length: chunked
      res.writeHead(404, { 'content-length': 0 }).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = 'http://127.0.0.1:' + server.address().port;
  // Resolves once each request is first answered, then waits a little so that a second call
  // for one request would show in its count.
  const run = async (pool, path, n) => {
    const calls = new Array(n).fill(0);
    const got = await Promise.all(Array.from({ length: n }, (_, id) => new Promise((resolve) => {
      const body = Buffer.from('item-' + id);
      const head = pool.requestHead('POST', '/' + path, { 'Content-Type': 'text/plain' }, body.length);
      pool.send(Buffer.concat([head, body]), (status, answer) => {
        calls[id]++;
        resolve({ id, status, body: answer ? answer.toString('utf8') : null });
      });
    })));
    await new Promise((r) => setTimeout(r, 30));
    return got.map((x) => ({ ...x, calls: calls[x.id] }));
  };
  const answers = {};
  const connections = {};
  const pool = new ConnectionPool(base, { maxConnections: 8 });
  await pool.warm(4, '/echo');
  connections.warm = pool.size;
  answers.echo = await run(pool, 'echo', 200);
  connections.echo = pool.size;
  answers.split = await run(pool, 'split', 20);
  answers.close = await run(pool, 'close', 20);
  answers.afterClose = await run(pool, 'echo', 20);
  answers.drop = await run(pool, 'drop', 5);
  answers.chunked = await run(pool, 'chunked', 3);
  answers.afterErrors = await run(pool, 'echo', 50);
  // destroy with requests outstanding: each is answered once, with status 0
  const slow = run(pool, 'split', 10);
  pool.destroy();
  answers.destroyed = await slow;
  answers.afterDestroy = await run(pool, 'echo', 2);
  // a port nobody listens on
  const free = net.createServer();
  await new Promise((r) => free.listen(0, '127.0.0.1', r));
  const port = free.address().port;
  await new Promise((r) => free.close(r));
  const refused = new ConnectionPool('http://127.0.0.1:' + port, { maxConnections: 4 });
  answers.refused = await run(refused, 'echo', 10);
  server.close();
  server.closeAllConnections();
  process.stdout.write(JSON.stringify({ answers, connections, serverSeen }));
`;

const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })) as Outcome;
const a = out.answers;

/** The body node:http's server sent for request `id` of `path` (its own JSON, read back). */
function expectedBody(path: string, id: number): string {
  const body = `item-${id}`;
  return JSON.stringify({ echo: body, path: `/${path}`, len: body.length });
}

function checkAnswered(t: Test, name: string, path: string, status: number, n: number) {
  const got = a[name];
  t.equal(got.length, n, `${name}: ${n} answers`);
  t.same(
    got.map((x) => x.id).sort((p, q) => p - q),
    Array.from({ length: n }, (_, i) => i),
    `${name}: every request answered once`,
  );
  t.ok(
    got.every((x) => (x as Answer & { calls: number }).calls === 1),
    `${name}: no request's handler called twice`,
  );
  const wrong = got.filter((x) => x.status !== status || x.body !== expectedBody(path, x.id));
  t.same(wrong, [], `${name}: status ${status} and each request's own body (Content-Length sent right: the server read it whole)`);
}

t.test('requests beyond the connections wait and are each answered with their own body', async (t) => {
  t.equal(out.connections.warm, 4, 'warm opens the connections asked for');
  t.ok(out.connections.echo <= 8, `never more than maxConnections (${out.connections.echo})`);
  checkAnswered(t, 'echo', 'echo', 200, 200);
});

t.test('an answer split over several writes is read whole', async (t) => {
  checkAnswered(t, 'split', 'split', 201, 20);
});

t.test('Connection: close answers are read and the pool reconnects', async (t) => {
  checkAnswered(t, 'close', 'close', 400, 20);
  checkAnswered(t, 'afterClose', 'echo', 200, 20);
  t.equal(out.serverSeen.close, 20, 'the server saw each request once (no retry)');
});

t.test('a connection dropped with a request in flight fails that request once; one without Content-Length too', async (t) => {
  for (const name of ['drop', 'chunked']) {
    t.equal(a[name].length, name === 'drop' ? 5 : 3, `${name}: every request answered`);
    t.ok(
      a[name].every((x) => x.status === 0 && x.body === null && (x as Answer & { calls: number }).calls === 1),
      `${name}: status 0 (no answer), once each`,
    );
  }
  t.equal(out.serverSeen.drop, 5, 'a failed request is not sent again');
  checkAnswered(t, 'afterErrors', 'echo', 200, 50);
});

t.test('destroy answers outstanding requests with status 0, and later ones too', async (t) => {
  t.ok(
    a.destroyed.length === 10 && a.destroyed.every((x) => x.status === 0),
    'outstanding requests: status 0',
  );
  t.ok(
    a.afterDestroy.length === 2 && a.afterDestroy.every((x) => x.status === 0),
    'after destroy: status 0',
  );
});

t.test('a refused port fails every request instead of retrying forever', async (t) => {
  t.equal(a.refused.length, 10);
  t.ok(a.refused.every((x) => x.status === 0), 'status 0 for each');
});
