// Issue 18.3: compressed request bodies. gzip and deflate bodies (JSON and binary tensors) get
// the same answer as the plain body; the body limit applies to the decompressed bytes (a zip
// bomb is a 413 naming the limit); other encodings are a 415 naming the encoding; a UTF-8 byte
// order mark before the JSON is accepted.
import t from 'tap';
import { deflateSync, gzipSync } from 'node:zlib';
import { binaryRequest, items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const kBodyLimit = 64 * 1024;

t.test('Content-Encoding and byte order marks', async (t) => {
  const { url, stop } = await startFixtureServer({}, { bodyLimit: kBodyLimit });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const post = async (body: Buffer, headers: Record<string, string>) => {
    const r = await fetch(infer, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: new Uint8Array(body) });
    const text = await r.text();
    return { status: r.status, json: JSON.parse(text) };
  };
  const x = items(6, 21);
  const plainText = JSON.stringify(jsonRequest(x, { outputs: [{ name: 'probabilities' }, { name: 'class' }] }));
  const plain = await postJson(infer, plainText);
  t.equal(plain.status, 200, 'plain body answered');
  const want = plain.json.outputs;

  for (const [encoding, compress] of [['gzip', gzipSync], ['deflate', deflateSync], ['GZIP', gzipSync], ['x-gzip', gzipSync]] as const) {
    const r = await post(compress(Buffer.from(plainText)), { 'content-encoding': encoding });
    t.equal(r.status, 200, `Content-Encoding: ${encoding} answered (${JSON.stringify(r.json).slice(0, 120)})`);
    t.same(r.json.outputs, want, `${encoding}: same answer as the plain body`);
  }

  // Triton's binary tensors, compressed as a whole (the header length counts decompressed bytes).
  const b = binaryRequest(x, { outputs: [{ name: 'probabilities' }, { name: 'class' }] });
  const bin = await post(gzipSync(b.body), { ...b.headers, 'content-encoding': 'gzip' });
  t.equal(bin.status, 200, 'gzip binary-tensor body answered');
  t.same(bin.json.outputs, want, 'binary + gzip: same answer');

  const bom = await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(plainText)]), {});
  t.equal(bom.status, 200, 'JSON after a UTF-8 byte order mark answered');
  t.same(bom.json.outputs, want, 'BOM: same answer');
  const bomGzip = await post(gzipSync(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(plainText)])), { 'content-encoding': 'gzip' });
  t.equal(bomGzip.status, 200, 'BOM inside a gzip body answered');

  for (const encoding of ['br', 'zstd', 'compress', 'gzip, br']) {
    const r = await post(Buffer.from(plainText), { 'content-encoding': encoding });
    t.equal(r.status, 415, `Content-Encoding: ${encoding} -> 415`);
    t.ok(r.json.error.includes(`'${encoding}'`) && /gzip, deflate or identity/.test(r.json.error), `names the encoding and what is accepted: ${r.json.error}`);
  }

  const notGzip = await post(Buffer.from(plainText), { 'content-encoding': 'gzip' });
  t.equal(notGzip.status, 400, 'a body that is not gzip data -> 400');
  t.match(notGzip.json.error, /^request body is not valid gzip data/);
  const truncated = gzipSync(Buffer.from(plainText));
  const cut = await post(truncated.subarray(0, truncated.length - 20), { 'content-encoding': 'gzip' });
  t.equal(cut.status, 400, 'a truncated gzip body -> 400');

  const unlabelled = await post(gzipSync(Buffer.from(plainText)), {});
  t.equal(unlabelled.status, 400, 'gzip without Content-Encoding -> 400');
  t.equal(unlabelled.json.error, 'request body is gzip data but has no Content-Encoding: gzip header', 'says so instead of echoing the bytes');

  // A zip bomb: 10 MB of zeros in about 10 KB, under the limit compressed, far over it inflated.
  const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
  t.ok(bomb.length < kBodyLimit, `bomb is ${bomb.length} bytes compressed`);
  const boom = await post(bomb, { 'content-encoding': 'gzip' });
  t.equal(boom.status, 413, 'a body over the limit once decompressed -> 413');
  t.equal(boom.json.error, `request body (decompressed) is larger than the server's limit of ${kBodyLimit} bytes`);
  const deflateBomb = await post(deflateSync(Buffer.alloc(10 * 1024 * 1024, 0x20)), { 'content-encoding': 'deflate' });
  t.equal(deflateBomb.status, 413, 'deflate bomb -> 413');

  const after = await postJson(infer, plainText);
  t.equal(after.status, 200, 'the server answers normally afterwards');
});
