// A cascade folder as a user brings one (DIR/*.onnx, DIR/data/*.npy), from the token fixtures of
// test/fixtures/make_token_fixtures.py and generated items: ids in [1, VOCAB), a mask of ones then
// zeros, optionally token_type_ids (0 for the first half of an item, 1 after), labels cycling
// over the classes. For tests of init -> profile -> plan -> serve on model sets the committed
// token-cascade fixture does not cover.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../ts/contracts/npy.js';
import { fixture, root } from './paths.js';

/** A constant of make_token_fixtures.py (`POSITIONS = 8`, `VOCAB, DIM, CLASSES = 50, 8, 3`). */
export function tokenFixtureConstant(name: string): number {
  const text = readFileSync(join(root, 'test', 'fixtures', 'make_token_fixtures.py'), 'utf8');
  for (const m of text.matchAll(/^([A-Z_]+(?:, [A-Z_]+)*) = (\d+(?:, \d+)*)$/gm)) {
    const names = m[1].split(', ');
    const values = m[2].split(', ');
    const k = names.indexOf(name);
    if (k >= 0 && values.length === names.length) return Number(values[k]);
  }
  throw new Error(`make_token_fixtures.py: no ${name} constant`);
}

export interface TokenFolderOptions {
  /** Model name in the folder -> fixture file (e.g. { positional: 'tokens_positional.onnx' }). */
  models: Record<string, string>;
  items: number;
  /** The data's common length; item i has length 1 + (i % padded). */
  padded: number;
  /** Whether the data has token_type_ids. */
  types?: boolean;
}

/** One item's own positions: ids, mask ones and (with types) segment ids. */
export function tokenItem(i: number, length: number): { ids: BigInt64Array; mask: BigInt64Array; types: BigInt64Array } {
  const vocab = tokenFixtureConstant('VOCAB');
  return {
    ids: BigInt64Array.from({ length }, (_, p) => BigInt(1 + ((i * 5 + p * 3) % (vocab - 1)))),
    mask: new BigInt64Array(length).fill(1n),
    types: BigInt64Array.from({ length }, (_, p) => (2 * p >= length ? 1n : 0n)),
  };
}

/** Writes the folder `dir` (models and data/); returns each item's length. */
export function writeTokenFolder(dir: string, o: TokenFolderOptions): Int32Array {
  const classes = tokenFixtureConstant('CLASSES');
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (const [name, file] of Object.entries(o.models)) copyFileSync(fixture(file), join(dir, `${name}.onnx`));
  const ids = new BigInt64Array(o.items * o.padded);
  const mask = new BigInt64Array(o.items * o.padded);
  const types = new BigInt64Array(o.items * o.padded);
  const labels = new BigInt64Array(o.items);
  const lengths = new Int32Array(o.items);
  for (let i = 0; i < o.items; i++) {
    lengths[i] = 1 + (i % o.padded);
    const item = tokenItem(i, lengths[i]);
    ids.set(item.ids, i * o.padded);
    mask.set(item.mask, i * o.padded);
    types.set(item.types, i * o.padded);
    labels[i] = BigInt(i % classes);
  }
  const shape = [o.items, o.padded];
  writeNpy(join(dir, 'data', 'input_ids.npy'), { descr: '<i8', shape, data: ids });
  writeNpy(join(dir, 'data', 'attention_mask.npy'), { descr: '<i8', shape, data: mask });
  if (o.types) writeNpy(join(dir, 'data', 'token_type_ids.npy'), { descr: '<i8', shape, data: types });
  writeNpy(join(dir, 'data', 'labels.npy'), { descr: '<i8', shape: [o.items], data: labels });
  return lengths;
}
