// The .npy reader and writer against bytes NumPy wrote (test/fixtures/npy, written by
// scripts/train-token-cascade.py with np.save and np.lib.format.write_array), and against a
// header computed by hand from the format's definition.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, NpyError, parseNpy, readNpy } from '../ts/contracts/npy.js';
import { fixture } from '../testkit/paths.js';

const dir = fixture('npy');
const bytes = (name: string) => new Uint8Array(readFileSync(join(dir, name)));

t.test('reads what NumPy wrote, and writes the same bytes back', async (t) => {
  const cases: [string, string, number[], unknown[]][] = [
    ['f4.npy', '<f4', [2, 3], [1.5, -2.25, 3.0, 0.0, Math.fround(1e-3), -7.0]],
    ['f2.npy', '<f2', [4], [0x3c00, 0xc000, 0x3800, 0x7bff]], // float16 bits of 1, -2, 0.5, 65504
    ['i8.npy', '<i8', [3, 2], [0n, -1n, 2n ** 40n, -(2n ** 62n), 7n, 8n]],
    ['i4.npy', '<i4', [3], [-5, 0, 2 ** 31 - 1]],
    ['u1.npy', '|u1', [2, 3], [0, 1, 2, 3, 4, 5]],
    ['b1.npy', '|b1', [3], [1, 0, 1]],
    ['scalar.npy', '<i4', [], [42]],
    ['empty.npy', '<f4', [0, 3], []],
  ];
  for (const [name, descr, shape, values] of cases) {
    const a = readNpy(join(dir, name));
    t.equal(a.descr, descr, `${name}: descr`);
    t.same(a.shape, shape, `${name}: shape`);
    t.same(Array.from(a.data as ArrayLike<unknown>), values, `${name}: values`);
    t.same(Buffer.from(encodeNpy(a)), Buffer.from(bytes(name)), `${name}: encodeNpy gives NumPy's bytes`);
  }
});

t.test('version 2.0 header', async (t) => {
  const b = bytes('v2.npy');
  t.equal(b[6], 2, 'NumPy wrote version 2.0');
  const a = parseNpy(b, 'v2.npy');
  t.same(a.shape, [2, 2]);
  t.same(Array.from(a.data as Int32Array), [1, 2, 3, 4]);
});

t.test('a header computed by hand', async (t) => {
  const a = { descr: '<i4' as const, shape: [2], data: Int32Array.from([1, -1]) };
  const out = encodeNpy(a);
  const dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
  // 10 bytes of magic, version and length, then the 57-byte dict, spaces and a newline up to
  // the next multiple of 64 (10 + 57 + 1 = 68 > 64, so 128): a header length of 118.
  t.equal(dict.length, 57);
  const header = dict + ' '.repeat(128 - 10 - dict.length - 1) + '\n';
  const expected = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, 118, 0]), Buffer.from(header, 'latin1'), Buffer.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])]);
  t.same(Buffer.from(out), expected);
  t.equal(out.length, 136);
  const long = encodeNpy({ descr: '|u1', shape: new Array(30000).fill(1), data: new Uint8Array(1) });
  t.equal(long[6], 2, 'a header over 65535 bytes is written as version 2.0');
  t.equal((long.length - 1) % 64, 0, 'data aligned to 64');
  t.same(parseNpy(long).shape.length, 30000);
});

t.test('errors name the file', async (t) => {
  t.throws(() => readNpy(join(dir, 'big-endian.npy')), { name: 'NpyError', message: /big-endian\.npy: element type '>f4' is not supported \(big-endian/ });
  t.throws(() => readNpy(join(dir, 'fortran.npy')), { message: /fortran\.npy: fortran_order is True/ });
  t.throws(() => readNpy(join(dir, 'missing.npy')), { message: /missing\.npy: no such file/ });
  t.throws(() => parseNpy(new Uint8Array(20), 'x.npy'), { message: /^x\.npy: not a NumPy \.npy file/ });
  const good = bytes('i4.npy');
  t.throws(() => parseNpy(good.subarray(0, good.length - 1), 'cut.npy'), { message: /^cut\.npy: truncated: shape \(3\) of '<i4' needs 12 data bytes, the file has 11/ });
  const extra = new Uint8Array(good.length + 2);
  extra.set(good);
  t.throws(() => parseNpy(extra, 'extra.npy'), { message: /^extra\.npy: 2 trailing bytes/ });
  const b1 = bytes('b1.npy').slice();
  b1[b1.length - 1] = 7;
  t.throws(() => parseNpy(b1, 'b.npy'), { message: /^b\.npy: bool element 2 holds 7/ });
  const f8 = Buffer.from(bytes('f4.npy'));
  f8.write("'<f8'", f8.indexOf("'<f4'"), 'latin1');
  t.throws(() => parseNpy(new Uint8Array(f8), 'f8.npy'), { message: /^f8\.npy: element type '<f8' is not supported; supported: <f4, <f2, <i8, <i4, \|u1, \|b1/ });
  t.ok(new NpyError('f', 'm') instanceof Error);
  t.throws(() => encodeNpy({ descr: '<f4', shape: [3], data: new Float32Array(2) }), RangeError);
});
