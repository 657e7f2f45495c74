// Issue 8.2: a hostile-input corpus. Every case gets the right 4xx with the protocol's
// {"error"} body (no stack trace, no path), and the server answers a normal request right
// after each one. Slow clients (headers or body byte by byte) either complete or get 408,
// while others are served meanwhile.
import t from 'tap';
import { binaryRequest, items, jsonRequest, kItemElems, postJson, startFixtureServer } from '../testkit/server-fixture.js';
import { checkErrorBody, httpPost, pieces, rawRequest } from './reliability-fixture.js';

const x1 = () => Array.from(items(1));
const req = (input: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ inputs: [{ name: 'x', shape: [1, kItemElems], datatype: 'FP32', data: x1(), ...input }], ...extra });

/** A binary-extension body from a header object and raw tail bytes. */
function binary(header: unknown, tail: Buffer, headerLength?: string): { body: Buffer; headers: Record<string, string> } {
  const h = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([h, tail]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength ?? String(h.length) } };
}
const binHeader = (size: number | string, n = 1) => ({ inputs: [{ name: 'x', shape: [n, kItemElems], datatype: 'FP32', parameters: { binary_data_size: size } }] });
const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const goodTail = () => Buffer.from(items(1).buffer);
const withValue = (i: number, v: number) => {
  const a = items(1);
  a[i] = v;
  return Buffer.from(a.buffer);
};

type Send = (base: string) => Promise<{ status: number | null; body: string }>;
const json = (body: unknown, path = '/v2/models/fixture/infer', headers: Record<string, string> = {}): Send => async (base) => {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: await r.text() };
};
const bin = (b: { body: Buffer; headers: Record<string, string> }, path = '/v2/models/fixture/infer'): Send => async (base) => {
  const r = await fetch(base + path, { method: 'POST', headers: b.headers, body: new Uint8Array(b.body) });
  return { status: r.status, body: await r.text() };
};
const raw = (bytes: Buffer | string): Send => async (base) => {
  const r = await rawRequest(base, [bytes]);
  return { status: r.status, body: r.body };
};

// [case, expected status, message must mention (regex source or ''), send]
const kCorpus: [string, number, string, Send][] = [
  // Malformed and truncated JSON, wrong content type
  ['truncated JSON', 400, 'not valid JSON', json('{"inputs": [{"name": "x", "shape": [1,')],
  ['malformed JSON (unquoted keys)', 400, 'not valid JSON', json('{inputs: []}')],
  ['trailing garbage after JSON', 400, 'not valid JSON', json(JSON.stringify(req({})) + ' xyz')],
  ['empty body', 400, 'empty', json('')],
  ['body is null', 400, 'body', json('null')],
  ['body is an array', 400, 'body', json('[]')],
  ['body is a string', 400, 'body', json('"infer"')],
  ['invalid UTF-8 bytes', 400, 'JSON', bin({ body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), headers: { 'content-type': 'application/json' } })],
  ['content type text/plain', 415, 'content type', json(req({}), undefined, { 'content-type': 'text/plain' })],
  ['content type multipart/form-data', 415, 'content type', json(req({}), undefined, { 'content-type': 'multipart/form-data; boundary=x' })],
  ['content type form-urlencoded', 415, 'content type', json('inputs=1', undefined, { 'content-type': 'application/x-www-form-urlencoded' })],
  // Structure
  ['inputs missing', 400, 'inputs', json({ outputs: [] })],
  ['inputs not an array', 400, 'inputs', json({ inputs: 'x' })],
  ['inputs empty', 400, 'inputs', json({ inputs: [] })],
  ['missing input (wrong name)', 400, 'inputs\\[0\\]\\.name', json(req({ name: 'images' }))],
  ['duplicate inputs', 400, 'exactly one input', json({ inputs: [req({}).inputs[0], req({}).inputs[0]] })],
  ['very many inputs (17)', 400, 'inputs', json({ inputs: Array.from({ length: 17 }, () => ({ name: 'x', shape: [1, 16], datatype: 'FP32', data: [] })) })],
  ['very many inputs (1000)', 400, 'inputs', json({ inputs: Array.from({ length: 1000 }, () => ({ name: 'x', shape: [1], datatype: 'FP32' })) })],
  ['id not a string', 400, 'id', json(req({}, { id: 7 }))],
  ['parameter value an object', 400, 'parameters', json(req({}, { parameters: { timeout: { us: 5 } } }))],
  ['timeout a string', 400, 'parameters\\.timeout', json(req({}, { parameters: { timeout: '5' } }))],
  ['priority negative', 400, 'parameters\\.priority', json(req({}, { parameters: { priority: -1 } }))],
  // Shapes and data length
  ['shape disagrees with data (too few)', 400, 'inputs\\[0\\]\\.data', json(req({ shape: [2, kItemElems] }))],
  ['shape disagrees with data (too many)', 400, 'inputs\\[0\\]\\.data', json(req({ data: [...x1(), 1] }))],
  ['shape of the wrong item size', 400, 'inputs\\[0\\]\\.shape', json(req({ shape: [1, 15] }))],
  ['negative dimension', 400, 'shape', json(req({ shape: [-1, kItemElems] }))],
  ['zero batch', 400, 'inputs\\[0\\]\\.shape', json(req({ shape: [0, kItemElems], data: [] }))],
  ['non-integer dimension', 400, 'shape', json(req({ shape: [1.5, kItemElems] }))],
  ['dimensions as strings', 400, 'shape', json(req({ shape: ['1', '16'] }))],
  ['overflowing batch dimension (1e12)', 413, 'inputs\\[0\\]\\.shape', json(req({ shape: [1e12, kItemElems] }))],
  ['overflowing dimension (1e400 = Infinity)', 400, 'shape', json(`{"inputs":[{"name":"x","shape":[1e400,16],"datatype":"FP32","data":[]}]}`)],
  ['overflowing inner dimension (2^53)', 400, 'inputs\\[0\\]\\.shape', json(req({ shape: [1, 2 ** 53] }))],
  ['more images than the limit', 413, 'at most 8', json(jsonRequest(items(9)))],
  ['data nested deeper than the shape', 400, 'nested deeper', json(req({ data: [[[[[[[[x1()]]]]]]]] }))],
  // Datatypes and values
  ['datatype INT64', 400, 'datatype', json(req({ datatype: 'INT64' }))],
  ['datatype BYTES', 400, 'datatype', json(req({ datatype: 'BYTES', data: ['a'] }))],
  ['datatype lowercase fp32', 400, 'datatype', json(req({ datatype: 'fp32' }))],
  ['datatype __proto__', 400, 'datatype', json(req({ datatype: '__proto__' }))],
  ['datatype constructor', 400, 'datatype', json(req({ datatype: 'constructor' }))],
  ['a string in data', 400, 'element 3', json(req({ data: [0, 1, 2, 'three', ...Array(12).fill(0)] }))],
  ['null in data', 400, 'element 0', json(req({ data: [null, ...Array(15).fill(0)] }))],
  ['NaN literal in JSON', 400, 'not valid JSON', json(`{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[NaN${',0'.repeat(15)}]}]}`)],
  ['Infinity literal in JSON', 400, 'not valid JSON', json(`{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[Infinity${',0'.repeat(15)}]}]}`)],
  ['number beyond FP32 range (1e39)', 400, 'FP32 range', json(`{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[1e39${',0'.repeat(15)}]}]}`)],
  ['number beyond double range (1e400)', 400, 'element 0', json(`{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[1e400${',0'.repeat(15)}]}]}`)],
  ['UINT8 value 256', 400, 'UINT8', json(req({ datatype: 'UINT8', data: [256, ...Array(15).fill(0)] }))],
  ['UINT8 value -1', 400, 'UINT8', json(req({ datatype: 'UINT8', data: [-1, ...Array(15).fill(0)] }))],
  // Outputs
  ['unknown output', 400, 'outputs\\[0\\]\\.name', json(req({}, { outputs: [{ name: 'logits' }] }))],
  ['duplicate output', 400, 'twice', json(req({}, { outputs: [{ name: 'class' }, { name: 'class' }] }))],
  ['output without a name', 400, 'outputs', json(req({}, { outputs: [{}] }))],
  // Body size
  ['body over the limit', 413, 'larger', json(jsonRequest(items(8), { pad: 'x'.repeat(70 * 1024) }))],
  ['declared Content-Length over the limit', 413, 'larger', raw(`POST /v2/models/fixture/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{`)],
  // Binary tensor extension
  ['binary: header length negative', 400, 'Inference-Header-Content-Length', bin(binary(binHeader(64), goodTail(), '-5'))],
  ['binary: header length beyond the body', 400, 'Inference-Header-Content-Length', bin(binary(binHeader(64), goodTail(), '100000'))],
  ['binary: header length not a number', 400, 'Inference-Header-Content-Length', bin(binary(binHeader(64), goodTail(), '0x10'))],
  ['binary: header length cuts the JSON', 400, 'JSON header', bin(binary(binHeader(64), goodTail(), '20'))],
  ['binary: header length includes tensor bytes', 400, 'JSON header', bin(binary(binHeader(64), goodTail(), String(Buffer.byteLength(JSON.stringify(binHeader(64))) + 4)))],
  ['binary: binary_data_size negative', 400, 'binary_data_size', bin(binary(binHeader(-64), goodTail()))],
  ['binary: binary_data_size too long', 400, 'binary_data_size', bin(binary(binHeader(128), goodTail()))],
  ['binary: binary_data_size a string', 400, 'binary_data_size', bin(binary(binHeader('64'), goodTail()))],
  ['binary: fewer bytes than binary_data_size', 400, 'binary_data_size', bin(binary(binHeader(64), goodTail().subarray(0, 60)))],
  ['binary: more bytes than binary_data_size', 400, 'binary_data_size', bin(binary(binHeader(64), Buffer.concat([goodTail(), Buffer.alloc(4)])))],
  ['binary: tail without binary_data_size', 400, 'binary_data_size', bin(binary(req({}), goodTail()))],
  ['binary: binary_data_size without the header', 400, 'Inference-Header-Content-Length', json(binHeader(64))],
  ['binary: both data and binary_data_size', 400, 'both', bin(binary({ inputs: [{ ...binHeader(64).inputs[0], data: x1() }] }, goodTail()))],
  ['binary: NaN in FP32', 400, 'element 5 \\(image 0\\) is NaN', bin(binary(binHeader(64), withValue(5, NaN)))],
  ['binary: +Infinity in FP32', 400, 'element 2 \\(image 0\\) is Infinity', bin(binary(binHeader(64), withValue(2, Infinity)))],
  ['binary: -Infinity in the second image', 400, 'image 1', bin(binary(binHeader(128, 2), Buffer.concat([goodTail(), f32([0, -Infinity, ...Array(14).fill(0)])])))],
  ['binary: header is not an object', 400, 'body', bin(binary([1, 2, 3], Buffer.alloc(0)))],
  // Models and paths
  ['unknown model', 404, "unknown model 'nope'", json(req({}), '/v2/models/nope/infer')],
  ['model name with ../ (encoded)', 404, 'not a valid model name', json(req({}), '/v2/models/..%2F..%2Fetc%2Fpasswd/infer')],
  ['model name with ../ (raw path)', 404, 'no such route', raw(httpPost('/v2/models/../../etc/passwd/infer', JSON.stringify(req({}))))],
  ['model name that is a file path', 404, 'not a valid model name', json(req({}), `/v2/models/${encodeURIComponent('/etc/passwd')}/infer`)],
  ['model name naming a model file', 404, "unknown model 'mlp_small'", json(req({}), '/v2/models/mlp_small/infer')],
  ['model name with a NUL byte', 404, 'not a valid model name', json(req({}), '/v2/models/fixture%00/infer')],
  ['model name __proto__', 404, "unknown model '__proto__'", json(req({}), '/v2/models/__proto__/infer')],
  ['very long model name', 414, 'longer than', json(req({}), `/v2/models/${'m'.repeat(2000)}/infer`)],
  ['unknown version', 404, "version '2'", json(req({}), '/v2/models/fixture/versions/2/infer')],
  ['version with path tricks', 404, 'not a valid model name', json(req({}), '/v2/models/fixture/versions/..%2F1/infer')],
  // HTTP itself
  ['malformed request line', 400, '', raw('GARBAGE / HTTP/9.9\r\n\r\n')],
  ['malformed header', 400, '', raw('POST /v2/models/fixture/infer HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')],
  ['headers over the size limit', 431, '', raw(`GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)],
  ['conflicting Content-Length and Transfer-Encoding', 400, '', raw('POST /v2/models/fixture/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')],
];

t.test(`hostile-input corpus (${kCorpus.length} cases)`, async (t) => {
  const { url, stop } = await startFixtureServer({}, { maxImagesPerRequest: 8, bodyLimit: 64 * 1024 });
  t.teardown(stop);
  t.ok(kCorpus.length >= 40, `${kCorpus.length} cases`);
  const normal = jsonRequest(items(2, 3), { id: 'normal' });
  for (const [what, status, mentions, send] of kCorpus) {
    const r = await send(url);
    t.equal(r.status, status, `${what}: ${status}`);
    checkErrorBody(t, r.body, what);
    if (mentions) t.match(r.body, new RegExp(mentions), `${what}: message mentions /${mentions}/`);
    const after = await postJson(`${url}/v2/models/fixture/infer`, normal);
    t.equal(after.status, 200, `${what}: a normal request right after is answered`);
  }
  // The malformed requests reached neither the engine nor the 'success' counter.
  const s = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0];
  t.equal(s.inference_stats.success.count, kCorpus.length, 'exactly the normal requests succeeded');
});

t.test('slow clients: completed in time, or 408; others served meanwhile', async (t) => {
  const { url, stop } = await startFixtureServer({}, { headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  t.teardown(stop);
  const body = JSON.stringify(jsonRequest(items(1, 7), { id: 'slow' }));
  const whole = httpPost('/v2/models/fixture/infer', body);
  const headEnd = whole.indexOf('\r\n\r\n') + 4;
  const head = whole.subarray(0, headEnd);

  let open = 5;
  const settled = <T>(p: Promise<T>) => p.finally(() => open--);
  const slow = Promise.all([
    // Headers byte by byte at ~2 ms, then the body in 32-byte pieces: well inside the limits.
    settled(rawRequest(url, [...pieces(head, 1), ...pieces(whole.subarray(headEnd), 32)], { delayMs: 2 })),
    // Headers at 1 byte / 60 ms: the headers timeout (1 s) passes first.
    settled(rawRequest(url, pieces(head, 1), { delayMs: 60 })),
    // Headers at once, body at 1 byte / 80 ms: the request timeout (2 s) passes first.
    settled(rawRequest(url, [head, ...pieces(whole.subarray(headEnd), 1)], { delayMs: 80 })),
    // Connects and sends nothing at all.
    settled(rawRequest(url, [])),
    // Sends half the headers and stops.
    settled(rawRequest(url, [head.subarray(0, 40)])),
  ]);
  // Meanwhile, normal requests keep being answered: one after another until the last slow
  // client is done, counting those answered while all five were still connected.
  let normal = 0;
  let whileAllOpen = 0;
  while (open > 0) {
    const allOpen = open === 5;
    const r = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1)));
    if (r.status !== 200) t.fail(`normal request answered ${r.status}`);
    normal++;
    if (allOpen && open === 5) whileAllOpen++;
    await new Promise((r) => setTimeout(r, 20)); // pacing, not waiting for anything
  }
  const [ok, slowHeaders, slowBody, silent, halfHeaders] = await slow;
  t.equal(ok.status, 200, `byte-by-byte request completed (${Math.round(ok.ms)} ms)`);
  t.equal(JSON.parse(ok.body).id, 'slow');
  for (const [what, r, limitMs] of [['slow headers', slowHeaders, 1000], ['slow body', slowBody, 2000], ['silent connection', silent, 1000], ['half headers', halfHeaders, 1000]] as const) {
    t.equal(r.status, 408, `${what}: 408`);
    checkErrorBody(t, r.body, what);
    // Not before its limit (the server checks every quarter of the headers timeout); how
    // long after depends on the machine, and a connection never closed fails the 408 above.
    t.ok(r.ms >= limitMs * 0.9, `${what}: closed after ${Math.round(r.ms)} ms (limit ${limitMs} ms)`);
  }
  t.ok(whileAllOpen >= 1, `${whileAllOpen} of ${normal} normal requests answered while all five slow clients were connected`);
});

t.test('binary NaN rejected with the input named; a finite binary request passes', async (t) => {
  const { url, stop } = await startFixtureServer();
  t.teardown(stop);
  const b = binaryRequest(items(3));
  const r = await fetch(`${url}/v2/models/fixture/infer`, { method: 'POST', headers: b.headers, body: b.body });
  t.equal(r.status, 200);
  const bad = items(3);
  bad[kItemElems * 2 + 4] = NaN;
  const b2 = binaryRequest(bad);
  const r2 = await fetch(`${url}/v2/models/fixture/infer`, { method: 'POST', headers: b2.headers, body: b2.body });
  t.equal(r2.status, 400);
  t.match((await r2.json()).error, /^inputs\[0\]: element 36 \(image 2\) is NaN/);
});
