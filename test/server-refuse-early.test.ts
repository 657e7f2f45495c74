// Issue 18.6: refusals that do not depend on the body come before it. A POST to an unknown
// model is a 404 about the model whatever the body; with Expect: 100-continue, a declared body
// over the limit (or an unknown model) is refused without 100 Continue, so the client never
// uploads it, and the 413 states the limit.
import t from 'tap';
import { connect } from 'node:net';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const kBodyLimit = 4096;

interface Exchange {
  /** Status lines in the order received (a 100 Continue first, when sent). */
  statuses: number[];
  headers: string;
  body: string;
  /** Whether the body was written (only after a 100 Continue). */
  uploaded: boolean;
}

/** Sends headers with Expect: 100-continue; writes the body only after a 100 Continue. */
function expectContinue(url: string, path: string, body: Buffer): Promise<Exchange> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    const ex: Exchange = { statuses: [], headers: '', body: '', uploaded: false };
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`no final answer: ${buf.toString()}`))), 10_000);
    socket.on('error', reject);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
        if (status === 100) {
          ex.statuses.push(100);
          buf = buf.subarray(end + 4);
          ex.uploaded = true;
          socket.write(body);
          continue;
        }
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        ex.statuses.push(status);
        ex.headers = head;
        ex.body = buf.subarray(end + 4, end + 4 + length).toString('utf8');
        clearTimeout(timer);
        socket.destroy();
        resolve(ex);
        return;
      }
    });
    socket.write(`POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
  });
}

t.test('unknown model: 404 about the model, whatever the body', async (t) => {
  const { url, stop } = await startFixtureServer({}, { bodyLimit: kBodyLimit });
  t.teardown(stop);
  for (const [what, body, headers] of [
    ['{}', '{}', {}],
    ['not JSON', '{"inputs": [', {}],
    ['a text/plain body', 'hello', { 'content-type': 'text/plain' }],
    ['a body over the limit', 'x'.repeat(kBodyLimit + 10), {}],
  ] as const) {
    const r = await postJson(`${url}/v2/models/nosuch/infer`, body, headers);
    t.equal(r.status, 404, `${what}: 404`);
    t.match(r.json.error, /^unknown model 'nosuch'; served: fixture/, `${what}: about the model`);
  }
  const v = await postJson(`${url}/v2/models/fixture/versions/7/infer`, '{}');
  t.equal(v.status, 404, 'unknown version: 404');
  t.match(v.json.error, /has no version '7'/);
  const known = await postJson(`${url}/v2/models/fixture/infer`, '{}');
  t.equal(known.status, 400, 'a known model with a bad body is still a 400 about the body');
});

t.test('Expect: 100-continue: refused before the upload; the 413 states the limit', async (t) => {
  const { url, server, stop } = await startFixtureServer({}, { bodyLimit: kBodyLimit });
  t.teardown(stop);
  const big = Buffer.from(JSON.stringify(jsonRequest(items(20)))); // about 6 KB, over 4 KiB
  t.ok(big.length > kBodyLimit, `${big.length} bytes`);
  const over = await expectContinue(url, '/v2/models/fixture/infer', big);
  t.same(over.statuses, [413], 'a final 413 and no 100 Continue');
  t.equal(over.uploaded, false, 'the body was never sent');
  t.equal(JSON.parse(over.body).error, `request body is larger than the server's limit of ${kBodyLimit} bytes`, '413 states the limit');
  t.match(over.headers, /\r\nconnection: close/i, 'connection closed (the client may still send the body)');

  const unknown = await expectContinue(url, '/v2/models/nosuch/infer', big);
  t.same(unknown.statuses, [404], 'unknown model: 404 before the upload');

  const small = Buffer.from(JSON.stringify(jsonRequest(items(2))));
  const ok = await expectContinue(url, '/v2/models/fixture/infer', small);
  t.same(ok.statuses, [100, 200], 'a body within the limit: 100 Continue, then 200');
  t.same(JSON.parse(ok.body).outputs[0].shape, [2, 4]);

  // Without Expect, a body over the limit is a 413 with the same message.
  const plain = await postJson(`${url}/v2/models/fixture/infer`, big.toString());
  t.equal(plain.status, 413);
  t.equal(plain.json.error, `request body is larger than the server's limit of ${kBodyLimit} bytes`);
  t.equal(server.cascade.stats.successCount, 1, 'only the small request reached the model');
});
