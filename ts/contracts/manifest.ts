/**
 * The model-zoo manifest (cascade.json): a ladder of ONNX models ordered cheapest first,
 * with the input/output contract, class names and the validation/held-out data files.
 *
 * Every field is validated; errors name the field path and the manifest file, e.g.
 * `models[2].file: expected a non-empty string (in /path/cascade.json)`. Relative paths
 * (model files, data files) are resolved against the manifest's directory and returned
 * absolute.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { kOutputKinds, type OutputKind } from './enums.js';
export type { OutputKind };
export const OUTPUT_KINDS: readonly OutputKind[] = kOutputKinds;
export type Datatype = 'FP32';

export interface ManifestInput {
  /** Tensor name of the model input. */
  name: string;
  /** Shape of one item, without the batch axis (e.g. [1, 28, 28]). */
  shape: number[];
  datatype: Datatype;
  /** Human-readable preprocessing rule, e.g. "pixel/255". */
  preprocessing: string;
}

export interface ManifestOutput {
  /** Tensor name of the model output. */
  name: string;
  kind: OutputKind;
  classes: number;
}

export interface ModelAccuracy {
  validation: number;
  heldout: number;
}

export interface ManifestModel {
  name: string;
  /** Absolute path of the ONNX file. */
  file: string;
  /** Input tensor name (the model's own, or the manifest's input.name). */
  input: string;
  /** Output tensor name (the model's own, or the manifest's output.name). */
  output: string;
  /** Output kind (the model's own, or the manifest's output.kind). */
  outputKind: OutputKind;
  params: number;
  mflopsPerImage: number;
  description?: string;
  /** Accuracy recorded by the trainer on the two halves of the test set (0..1). */
  accuracy?: ModelAccuracy;
}

export interface Manifest {
  /** Absolute path of the manifest file. */
  path: string;
  /** Absolute directory of the manifest file (base of relative paths). */
  dir: string;
  name: string;
  version: 1;
  description: string;
  input: ManifestInput;
  output: ManifestOutput;
  classNames: string[];
  /** Absolute paths of the CSDATA01 files. */
  data: { validation: string; heldout: string };
  /** Cheapest first. */
  models: ManifestModel[];
}

export interface LoadManifestOptions {
  /** Check that model and data files exist (default true). */
  checkFiles?: boolean;
}

/** Thrown for an unreadable or invalid manifest; `errors` lists every problem found. */
export class ManifestError extends Error {
  readonly file: string;
  readonly errors: string[];
  constructor(file: string, errors: string[]) {
    super(errors.length === 1 ? errors[0] : `${errors.length} problems in ${file}:\n${errors.join('\n')}`);
    this.name = 'ManifestError';
    this.file = file;
    this.errors = errors;
  }
}

/** Reads and validates a manifest; paths in the result are absolute. */
export async function loadManifest(path: string, options: LoadManifestOptions = {}): Promise<Manifest> {
  const abs = resolve(path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    throw new ManifestError(abs, [`cannot read manifest ${abs}: ${(e as Error).message}`]);
  }
  return parseManifest(text, abs, options);
}

/** Synchronous variant of loadManifest. */
export function loadManifestSync(path: string, options: LoadManifestOptions = {}): Manifest {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ManifestError(abs, [`cannot read manifest ${abs}: ${(e as Error).message}`]);
  }
  return parseManifest(text, abs, options);
}

type Obj = Record<string, unknown>;

/** Validates manifest JSON text; `path` is the manifest's (absolute) path. */
export function parseManifest(text: string, path: string, options: LoadManifestOptions = {}): Manifest {
  const file = resolve(path);
  const dir = dirname(file);
  const checkFiles = options.checkFiles ?? true;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(file, [`invalid JSON: ${(e as Error).message} (in ${file})`]);
  }
  const errors: string[] = [];
  const fail = (field: string, msg: string): void => {
    errors.push(`${field}: ${msg} (in ${file})`);
  };
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const obj = (v: unknown, field: string): Obj | undefined => {
    if (isObj(v)) return v;
    fail(field, `expected an object, got ${describe(v)}`);
    return undefined;
  };
  const str = (v: unknown, field: string): string => {
    if (typeof v === 'string' && v.length > 0) return v;
    fail(field, 'expected a non-empty string');
    return '';
  };
  const int = (v: unknown, field: string, min: number): number => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= min) return v;
    fail(field, `expected an integer >= ${min}, got ${describe(v)}`);
    return 0;
  };
  const num = (v: unknown, field: string, min: number, max = Infinity): number => {
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) return v;
    fail(field, `expected a number in [${min}, ${max === Infinity ? 'inf' : max}], got ${describe(v)}`);
    return 0;
  };
  const kind = (v: unknown, field: string): OutputKind => {
    if (typeof v === 'string' && (OUTPUT_KINDS as readonly string[]).includes(v)) return v as OutputKind;
    fail(field, `expected one of ${OUTPUT_KINDS.map((k) => JSON.stringify(k)).join(', ')}, got ${describe(v)}`);
    return 'logits';
  };
  const filePath = (v: unknown, field: string): string => {
    const s = str(v, field);
    if (!s) return '';
    const p = isAbsolute(s) ? s : resolve(dir, s);
    if (checkFiles) {
      let ok = false;
      try {
        ok = statSync(p).isFile();
      } catch {
        ok = false;
      }
      if (!ok) errors.push(`${field}: ${p} does not exist`);
    }
    return p;
  };

  const root = obj(json, '(root)');
  if (!root) throw new ManifestError(file, errors);

  const name = str(root.name, 'name');
  if (root.version !== 1) fail('version', `expected 1, got ${describe(root.version)}`);
  let description = '';
  if (root.description !== undefined) {
    if (typeof root.description === 'string') description = root.description;
    else fail('description', `expected a string, got ${describe(root.description)}`);
  }

  const input: ManifestInput = { name: '', shape: [], datatype: 'FP32', preprocessing: '' };
  const inObj = obj(root.input, 'input');
  if (inObj) {
    input.name = str(inObj.name, 'input.name');
    if (Array.isArray(inObj.shape) && inObj.shape.length > 0) {
      input.shape = inObj.shape.map((d, i) => int(d, `input.shape[${i}]`, 1));
    } else {
      fail('input.shape', `expected a non-empty array of positive integers, got ${describe(inObj.shape)}`);
    }
    if (inObj.datatype !== 'FP32') fail('input.datatype', `expected "FP32", got ${describe(inObj.datatype)}`);
    input.preprocessing = str(inObj.preprocessing, 'input.preprocessing');
  }

  const output: ManifestOutput = { name: '', kind: 'logits', classes: 0 };
  const outObj = obj(root.output, 'output');
  if (outObj) {
    output.name = str(outObj.name, 'output.name');
    output.kind = kind(outObj.kind, 'output.kind');
    output.classes = int(outObj.classes, 'output.classes', 2);
  }

  const classNames: string[] = [];
  if (Array.isArray(root.classNames)) {
    root.classNames.forEach((c, i) => classNames.push(str(c, `classNames[${i}]`)));
    if (output.classes && classNames.length !== output.classes) {
      fail('classNames', `expected ${output.classes} names (output.classes), got ${classNames.length}`);
    }
  } else {
    fail('classNames', `expected an array of strings, got ${describe(root.classNames)}`);
  }

  const data = { validation: '', heldout: '' };
  const dataObj = obj(root.data, 'data');
  if (dataObj) {
    data.validation = filePath(dataObj.validation, 'data.validation');
    data.heldout = filePath(dataObj.heldout, 'data.heldout');
  }

  const models: ManifestModel[] = [];
  if (Array.isArray(root.models) && root.models.length > 0) {
    const seen = new Map<string, number>();
    root.models.forEach((m, i) => {
      const f = `models[${i}]`;
      const mo = obj(m, f);
      if (!mo) return;
      const mname = str(mo.name, `${f}.name`);
      if (mname && seen.has(mname)) fail(`${f}.name`, `duplicate model name ${JSON.stringify(mname)} (also models[${seen.get(mname)}])`);
      if (mname) seen.set(mname, i);
      const model: ManifestModel = {
        name: mname,
        file: filePath(mo.file, `${f}.file`),
        input: mo.input === undefined ? input.name : str(mo.input, `${f}.input`),
        output: mo.output === undefined ? output.name : str(mo.output, `${f}.output`),
        outputKind: mo.outputKind === undefined ? output.kind : kind(mo.outputKind, `${f}.outputKind`),
        params: int(mo.params, `${f}.params`, 0),
        mflopsPerImage: num(mo.mflopsPerImage, `${f}.mflopsPerImage`, 0),
      };
      if (mo.description !== undefined) {
        if (typeof mo.description === 'string') model.description = mo.description;
        else fail(`${f}.description`, `expected a string, got ${describe(mo.description)}`);
      }
      if (mo.accuracy !== undefined) {
        const acc = obj(mo.accuracy, `${f}.accuracy`);
        if (acc) {
          model.accuracy = {
            validation: num(acc.validation, `${f}.accuracy.validation`, 0, 1),
            heldout: num(acc.heldout, `${f}.accuracy.heldout`, 0, 1),
          };
        }
      }
      models.push(model);
    });
  } else {
    fail('models', `expected a non-empty array, got ${describe(root.models)}`);
  }

  if (errors.length > 0) throw new ManifestError(file, errors);
  return { path: file, dir, name, version: 1, description, input, output, classNames, data, models };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
