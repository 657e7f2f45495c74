/**
 * CSDATA01 dataset files (models/fmnist/data/*.bin), little-endian:
 *   bytes 0-7   ASCII magic "CSDATA01"
 *   8-23        uint32 count, uint32 rows, uint32 cols, uint32 classes
 *   24-         count*rows*cols uint8 pixels (row-major, image after image)
 *   then        count uint8 labels (each < classes)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const DATASET_MAGIC = 'CSDATA01';
export const DATASET_HEADER_BYTES = 24;

export class DatasetError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'DatasetError';
    this.file = file;
  }
}

export class Dataset {
  constructor(
    readonly count: number,
    readonly rows: number,
    readonly cols: number,
    readonly classes: number,
    /** count*rows*cols raw pixels, image after image. */
    readonly pixels: Uint8Array,
    /** count labels in [0, classes). */
    readonly labels: Uint8Array,
    /** Absolute path of the file it was read from ('' if built in memory). */
    readonly path: string = '',
  ) {}

  /** Pixels per image (rows*cols). */
  get imageSize(): number {
    return this.rows * this.cols;
  }

  /** Raw pixels of image i (a view, not a copy). */
  image(i: number): Uint8Array {
    checkRange(this, i, 1);
    const n = this.imageSize;
    return this.pixels.subarray(i * n, (i + 1) * n);
  }

  /**
   * Images [start, start+count) as float32 pixel/255, laid out [count, 1, rows, cols];
   * writes into `out` when given (it must hold count*rows*cols floats).
   */
  toFloat32(start = 0, count = this.count - start, out?: Float32Array): Float32Array {
    return toFloat32(this, start, count, out);
  }

  /** Labels [start, start+count) (a view). */
  labelRange(start = 0, count = this.count - start): Uint8Array {
    checkRange(this, start, count);
    return this.labels.subarray(start, start + count);
  }
}

function checkRange(ds: Dataset, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > ds.count) {
    throw new RangeError(`images [${start}, ${start}+${count}) out of range: the dataset holds ${ds.count}`);
  }
}

/** Images [start, start+count) of `ds` as float32 pixel/255 ([count, 1, rows, cols]). */
export function toFloat32(ds: Dataset, start = 0, count = ds.count - start, out?: Float32Array): Float32Array {
  checkRange(ds, start, count);
  const n = ds.imageSize * count;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError(`output buffer holds ${dst.length} floats, ${n} needed`);
  const src = ds.pixels.subarray(start * ds.imageSize, start * ds.imageSize + n);
  const scale = 1 / 255;
  for (let i = 0; i < n; i++) dst[i] = src[i] * scale;
  return dst;
}

/** Parses a CSDATA01 buffer; `file` names the source in errors. */
export function parseDataset(buf: Uint8Array, file = '(buffer)'): Dataset {
  if (buf.length < DATASET_HEADER_BYTES) {
    throw new DatasetError(file, `truncated: ${buf.length} bytes, the header alone needs ${DATASET_HEADER_BYTES}`);
  }
  const magic = Buffer.from(buf.buffer, buf.byteOffset, 8).toString('latin1');
  if (magic !== DATASET_MAGIC) {
    throw new DatasetError(file, `bad magic ${JSON.stringify(magic)}, expected ${JSON.stringify(DATASET_MAGIC)}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(8, true);
  const rows = view.getUint32(12, true);
  const cols = view.getUint32(16, true);
  const classes = view.getUint32(20, true);
  if (rows === 0 || cols === 0) throw new DatasetError(file, `bad image size ${rows}x${cols}`);
  if (classes < 1 || classes > 256) throw new DatasetError(file, `bad class count ${classes} (1..256 allowed)`);
  const pixelBytes = count * rows * cols;
  const expected = DATASET_HEADER_BYTES + pixelBytes + count;
  if (buf.length < expected) {
    throw new DatasetError(
      file,
      `truncated: ${buf.length} bytes, expected ${expected} for ${count} images of ${rows}x${cols} plus labels`,
    );
  }
  if (buf.length > expected) {
    throw new DatasetError(file, `${buf.length - expected} trailing bytes after ${expected} expected`);
  }
  const pixels = buf.subarray(DATASET_HEADER_BYTES, DATASET_HEADER_BYTES + pixelBytes);
  const labels = buf.subarray(DATASET_HEADER_BYTES + pixelBytes, expected);
  for (let i = 0; i < count; i++) {
    if (labels[i] >= classes) {
      throw new DatasetError(file, `label ${labels[i]} of image ${i} is >= classes (${classes})`);
    }
  }
  return new Dataset(count, rows, cols, classes, pixels, labels, file);
}

/** Reads a CSDATA01 file synchronously. */
export function loadDataset(path: string): Dataset {
  const abs = resolve(path);
  let buf: Buffer;
  try {
    buf = readFileSync(abs);
  } catch (e) {
    throw new DatasetError(abs, `cannot read: ${(e as Error).message}`);
  }
  return parseDataset(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), abs);
}
