/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0), the data format of manifest version 2.
 *
 * Layout: magic "\x93NUMPY", major and minor version bytes, the header length (uint16 little-
 * endian in 1.0, uint32 in 2.0 and 3.0), then an ASCII (3.0: UTF-8) Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
 * newline so that the data starts on a multiple of 64 bytes, then the elements in C order.
 *
 * Supported element types: little-endian '<f4', '<f2', '<i8', '<i4', '|u1', '|b1' (the
 * manifest's FP32, FP16, INT64, INT32, UINT8, BOOL). Errors name the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export type NpyDescr = '<f4' | '<f2' | '<i8' | '<i4' | '|u1' | '|b1';
export type NpyData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface NpyArray {
  descr: NpyDescr;
  /** Full shape, first axis first ([] for a scalar). */
  shape: number[];
  /** Elements in C order; FP16 as its bits, BOOL as 0/1 bytes. */
  data: NpyData;
}

/** The element type of each descr, with the manifest's datatype name and size in bytes. */
export const kNpyTypes: Record<NpyDescr, { datatype: 'FP32' | 'FP16' | 'INT64' | 'INT32' | 'UINT8' | 'BOOL'; bytes: number }> = {
  '<f4': { datatype: 'FP32', bytes: 4 },
  '<f2': { datatype: 'FP16', bytes: 2 },
  '<i8': { datatype: 'INT64', bytes: 8 },
  '<i4': { datatype: 'INT32', bytes: 4 },
  '|u1': { datatype: 'UINT8', bytes: 1 },
  '|b1': { datatype: 'BOOL', bytes: 1 },
};

// NumPy also writes the one-byte types with '<' or '=' when asked explicitly; same bytes.
const kAliases: Record<string, NpyDescr> = { '<u1': '|u1', '=u1': '|u1', '<b1': '|b1', '=b1': '|b1' };

const kMagic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export class NpyError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'NpyError';
    this.file = file;
  }
}

/** Number of elements of a shape (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parses .npy bytes; `file` names the source in errors. The result owns its (aligned) data. */
export function parseNpy(buf: Uint8Array, file = '(buffer)'): NpyArray {
  if (buf.length < 10 || kMagic.some((b, i) => buf[i] !== b)) {
    throw new NpyError(file, 'not a NumPy .npy file (no \\x93NUMPY magic)');
  }
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(file, 'truncated header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new NpyError(file, `unsupported .npy format version ${major}.${buf[7]} (1.0, 2.0 and 3.0 are read)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw new NpyError(file, `truncated: header says ${headerLen} bytes, the file has ${buf.length - headerStart}`);
  const header = Buffer.from(buf.buffer, buf.byteOffset + headerStart, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const { descr, fortran, shape } = parseHeader(header, file);
  if (fortran) throw new NpyError(file, "fortran_order is True; only C order is read (save with np.ascontiguousarray)");
  const type = kNpyTypes[descr];
  const count = shapeSize(shape);
  const bytes = count * type.bytes;
  const available = buf.length - dataStart;
  if (available < bytes) {
    throw new NpyError(file, `truncated: shape (${shape.join(', ')}) of '${descr}' needs ${bytes} data bytes, the file has ${available}`);
  }
  if (available > bytes) throw new NpyError(file, `${available - bytes} trailing bytes after the ${bytes} data bytes of shape (${shape.join(', ')})`);
  // A copy: the data of a read file is rarely aligned for 8-byte elements, and the result
  // should not pin the whole file buffer.
  const own = new ArrayBuffer(bytes);
  new Uint8Array(own).set(buf.subarray(dataStart, dataStart + bytes));
  const data = typedArray(descr, own);
  if (descr === '|b1') {
    const b = data as Uint8Array;
    for (let i = 0; i < b.length; i++) if (b[i] > 1) throw new NpyError(file, `bool element ${i} holds ${b[i]}, not 0 or 1`);
  }
  return { descr, shape, data };
}

function parseHeader(header: string, file: string): { descr: NpyDescr; fortran: boolean; shape: number[] } {
  const text = header.trim();
  const descrMatch = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!text.startsWith('{') || !descrMatch || !fortranMatch || !shapeMatch) {
    throw new NpyError(file, `unreadable header ${JSON.stringify(text.slice(0, 120))}: expected 'descr', 'fortran_order' and 'shape'`);
  }
  let descr = descrMatch[1] as string;
  descr = kAliases[descr] ?? descr;
  if (!(descr in kNpyTypes)) {
    const hint = descr.startsWith('>') ? ' (big-endian: save with .astype(a.dtype.newbyteorder("<")))' : '';
    throw new NpyError(file, `element type '${descrMatch[1]}' is not supported${hint}; supported: ${Object.keys(kNpyTypes).join(', ')}`);
  }
  const parts = shapeMatch[1].split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  const shape = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new NpyError(file, `bad shape entry ${JSON.stringify(p)} in header`);
    return Number(p);
  });
  return { descr: descr as NpyDescr, fortran: fortranMatch[1] === 'True', shape };
}

function typedArray(descr: NpyDescr, buffer: ArrayBuffer): NpyData {
  switch (descr) {
    case '<f4':
      return new Float32Array(buffer);
    case '<f2':
      return new Uint16Array(buffer);
    case '<i8':
      return new BigInt64Array(buffer);
    case '<i4':
      return new Int32Array(buffer);
    default:
      return new Uint8Array(buffer);
  }
}

/** Reads a .npy file synchronously; errors name the file. */
export function readNpy(path: string): NpyArray {
  const abs = resolve(path);
  let buf: Buffer;
  try {
    buf = readFileSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NpyError(abs, code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}`);
  }
  return parseNpy(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), abs);
}

/** The descr that matches a typed array, or undefined (Uint8Array: '|u1' unless `bool`). */
export function descrFor(data: NpyData, bool = false): NpyDescr {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Uint16Array) return '<f2';
  if (data instanceof BigInt64Array) return '<i8';
  if (data instanceof Int32Array) return '<i4';
  return bool ? '|b1' : '|u1';
}

/**
 * Encodes an array as .npy bytes the way NumPy writes them: version 1.0 while the header fits
 * in 65535 bytes (2.0 beyond), header padded with spaces and ended by a newline so the data
 * starts on a multiple of 64.
 */
export function encodeNpy(array: NpyArray): Uint8Array {
  const { descr, shape, data } = array;
  if (!(descr in kNpyTypes)) throw new RangeError(`unsupported descr ${descr}`);
  if (descrFor(data, descr === '|b1') !== descr) throw new RangeError(`descr ${descr} does not match a ${data.constructor.name}`);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RangeError(`bad shape (${shape.join(', ')})`);
  if (shapeSize(shape) !== data.length) throw new RangeError(`shape (${shape.join(', ')}) holds ${shapeSize(shape)} elements, the data ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(kMagic, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(Buffer.from(header, 'latin1'), prefix);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Writes an array as a .npy file. */
export function writeNpy(path: string, array: NpyArray): void {
  writeFileSync(path, encodeNpy(array));
}
