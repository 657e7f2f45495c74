/**
 * The cascade manifest (cascade.json): a ladder of ONNX models ordered cheapest first, with
 * the input/output contract, class names and the labelled data.
 *
 * Version 2 (written by `cascadeserve init`) describes any number of named, typed inputs with
 * at most one dynamic axis (-1 in `shape`, the same axis index for every dynamic input), an
 * optional mask input whose leading ones give an item's length, per-model output names and
 * kinds, and NumPy data in a folder split by a seed into validation and held-out items (see
 * items.ts). Version 1 (the zoo's) has one FP32 input and CSDATA01 data files; it still loads,
 * and the parsed form of both versions carries `inputs` and `models[i].inputs`.
 *
 * Every field is validated; errors name the field path and the manifest file, e.g.
 * `models[2].file: expected a non-empty string (in /path/cascade.json)`. Relative paths
 * (model files, data files) are resolved against the manifest's directory and returned
 * absolute.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isBinaryScore, kOutputKinds, type OutputKind } from './enums.js';
export type { OutputKind };
export const OUTPUT_KINDS: readonly OutputKind[] = kOutputKinds;

/** Element types an input may have (the Open Inference Protocol's names). */
export const DATATYPES = ['FP32', 'FP16', 'INT64', 'INT32', 'UINT8', 'BOOL'] as const;
export type Datatype = (typeof DATATYPES)[number];

export interface ManifestInput {
  /** Tensor name of the model input. */
  name: string;
  datatype: Datatype;
  /** Shape of one item, without the batch axis (e.g. [1, 28, 28]); -1 marks the dynamic axis. */
  shape: number[];
  /** Value that fills the dynamic axis beyond an item's length (0 when not given). */
  padValue: number;
  /** Index in `shape` of the -1, or null for a fixed shape. */
  dynamicAxis: number | null;
  /** Human-readable preprocessing rule, e.g. "pixel/255" (version 1). */
  preprocessing?: string;
  /**
   * Integer inputs (version 2, optional): the values every model accepts, min and max
   * inclusive (token ids: [0, vocabulary - 1]); the server refuses a request outside it.
   */
  range?: InputRange;
}

export interface InputRange {
  min: number;
  max: number;
}

/** The values each integer datatype can hold (INT64: those a JSON number holds exactly). */
export const INTEGER_LIMITS: Readonly<Partial<Record<Datatype, InputRange>>> = {
  INT64: { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  INT32: { min: -(2 ** 31), max: 2 ** 31 - 1 },
  UINT8: { min: 0, max: 255 },
};

/** Version 1's single input: always has its preprocessing rule. */
export type ManifestInputV1 = ManifestInput & { preprocessing: string };

export interface ManifestOutput {
  /** Tensor name of the model output (version 2: the first model's). */
  name: string;
  /** Version 2: the first model's. */
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
  /** The manifest inputs this model takes (all of them unless the manifest says otherwise). */
  inputs: string[];
  /** First input tensor name (version 1: the model's own, or the manifest's input.name). */
  input: string;
  /** Output tensor name (the model's own, or the manifest's output.name). */
  output: string;
  /** Output kind (the model's own, or the manifest's output.kind). */
  outputKind: OutputKind;
  /** False when padding changes the model's answer: batch only items of equal length. Default true. */
  padInvariant: boolean;
  /**
   * Version 2, optional: the longest length on the dynamic axis the model runs (init probes
   * it: a transformer's position table, say); the server refuses longer requests with a 400.
   * Absent: no limit found.
   */
  maxLength?: number;
  /** 0 when the manifest does not say. */
  params: number;
  /** Version 2's mflopsPerItem; 0 when the manifest does not say. */
  mflopsPerItem: number;
  /** Same value as mflopsPerItem (version 1's name). */
  mflopsPerImage: number;
  description?: string;
  /** Accuracy recorded by the trainer on the two halves of the data (0..1). */
  accuracy?: ModelAccuracy;
}

/** Version 2's data: one .npy per input plus labels.npy in `dir`, split by a seed. */
export interface ManifestNpyData {
  /** Absolute folder of the .npy files. */
  dir: string;
  /** Absolute path of labels.npy. */
  labels: string;
  /** Absolute path of each input's file, by input name (`<dir>/<input>.npy`). */
  inputFiles: Record<string, string>;
  /** Absolute path of lengths.npy when the manifest names one (else lengths come from maskInput). */
  lengths: string | null;
  /** Items go to validation or held-out by a seeded shuffle; see items.ts splitIndices. */
  split: { seed: number; validationFraction: number };
}

export interface ManifestData {
  /** Version 1: absolute paths of the CSDATA01 files ('' in version 2). */
  validation: string;
  heldout: string;
  /** Version 2 only (absent in version 1, so the two keys above are all a version 1 data has). */
  npy?: ManifestNpyData;
}

export interface Manifest {
  /** Absolute path of the manifest file. */
  path: string;
  /** Absolute directory of the manifest file (base of relative paths). */
  dir: string;
  name: string;
  version: 1 | 2;
  description: string;
  /** Every input, in order (version 1: its one FP32 input). */
  inputs: ManifestInput[];
  /** Input whose leading ones give an item's length (version 2, optional). */
  maskInput: string | null;
  /** Version 1's input; version 2: inputs[0] (with preprocessing ''). */
  input: ManifestInputV1;
  output: ManifestOutput;
  classNames: string[];
  data: ManifestData;
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
  const version = root.version === 1 || root.version === 2 ? root.version : 0;
  if (version === 0) fail('version', `expected 1 or 2, got ${describe(root.version)}`);
  let description = '';
  if (root.description !== undefined) {
    if (typeof root.description === 'string') description = root.description;
    else fail('description', `expected a string, got ${describe(root.description)}`);
  }
  const classNames: string[] = [];
  if (Array.isArray(root.classNames)) {
    root.classNames.forEach((c, i) => classNames.push(str(c, `classNames[${i}]`)));
  } else {
    fail('classNames', `expected an array of strings, got ${describe(root.classNames)}`);
  }

  const v2 = version === 2;
  let inputs: ManifestInput[] = [];
  let maskInput: string | null = null;
  const output: ManifestOutput = { name: '', kind: 'logits', classes: 0 };
  const data: ManifestData = { validation: '', heldout: '' };
  const noInput: ManifestInputV1 = { name: '', datatype: 'FP32', shape: [], padValue: 0, dynamicAxis: null, preprocessing: '' };
  let input = noInput;

  if (v2) {
    for (const old of ['input', 'output'] as const) {
      if (root[old] !== undefined) fail(old, `not a version 2 field (version 2 has ${old === 'input' ? '"inputs"' : 'each model\'s "output" and "outputKind"'})`);
    }
    inputs = parseInputs(root.inputs);
    if (inputs.length > 0) input = { ...inputs[0], preprocessing: '' };
    if (root.maskInput !== undefined && root.maskInput !== null) {
      maskInput = str(root.maskInput, 'maskInput');
      const mi = inputs.find((x) => x.name === maskInput);
      if (maskInput && inputs.length > 0 && !mi) fail('maskInput', `names no input (inputs: ${inputs.map((x) => x.name).join(', ')})`);
      else if (mi) {
        if (!['INT64', 'INT32', 'UINT8', 'BOOL'].includes(mi.datatype)) fail('maskInput', `input ${JSON.stringify(maskInput)} is ${mi.datatype}; a mask is an integer or BOOL input`);
        if (mi.dynamicAxis === null) fail('maskInput', `input ${JSON.stringify(maskInput)} has no dynamic axis (-1 in its shape)`);
      }
    }
    output.classes = classNames.length;
    if (classNames.length < 2 && Array.isArray(root.classNames)) fail('classNames', `expected at least 2 classes, got ${classNames.length}`);
    const dataObj = obj(root.data, 'data');
    if (dataObj) data.npy = parseNpyData(dataObj, inputs);
  } else if (version === 1) {
    const inObj = obj(root.input, 'input');
    if (inObj) {
      const v1: ManifestInputV1 = { ...noInput };
      v1.name = str(inObj.name, 'input.name');
      if (Array.isArray(inObj.shape) && inObj.shape.length > 0) {
        v1.shape = inObj.shape.map((d, i) => int(d, `input.shape[${i}]`, 1));
      } else {
        fail('input.shape', `expected a non-empty array of positive integers, got ${describe(inObj.shape)}`);
      }
      if (inObj.datatype !== 'FP32') fail('input.datatype', `expected "FP32", got ${describe(inObj.datatype)}`);
      v1.preprocessing = str(inObj.preprocessing, 'input.preprocessing');
      input = v1;
      inputs = [v1];
    }
    const outObj = obj(root.output, 'output');
    if (outObj) {
      output.name = str(outObj.name, 'output.name');
      output.kind = kind(outObj.kind, 'output.kind');
      output.classes = int(outObj.classes, 'output.classes', 2);
    }
    if (output.classes && Array.isArray(root.classNames) && classNames.length !== output.classes) {
      fail('classNames', `expected ${output.classes} names (output.classes), got ${classNames.length}`);
    }
    const dataObj = obj(root.data, 'data');
    if (dataObj) {
      data.validation = filePath(dataObj.validation, 'data.validation');
      data.heldout = filePath(dataObj.heldout, 'data.heldout');
    }
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
        inputs: inputs.map((x) => x.name),
        input: input.name,
        output: output.name,
        outputKind: output.kind,
        padInvariant: true,
        params: 0,
        mflopsPerItem: 0,
        mflopsPerImage: 0,
      };
      if (v2) {
        if (mo.inputs !== undefined) model.inputs = modelInputs(mo.inputs, `${f}.inputs`, inputs);
        model.input = model.inputs[0] ?? '';
        if (mo.input !== undefined) fail(`${f}.input`, 'not a version 2 field (use "inputs": [names])');
        model.output = str(mo.output, `${f}.output`);
        model.outputKind = kind(mo.outputKind, `${f}.outputKind`);
        if (mo.padInvariant !== undefined) {
          if (typeof mo.padInvariant === 'boolean') model.padInvariant = mo.padInvariant;
          else fail(`${f}.padInvariant`, `expected true or false, got ${describe(mo.padInvariant)}`);
        }
        if (mo.maxLength !== undefined) {
          const dynamic = model.inputs.some((name) => inputs.find((x) => x.name === name)?.dynamicAxis !== null);
          if (!dynamic) fail(`${f}.maxLength`, 'the model takes no input with a dynamic axis (-1 in its shape)');
          else model.maxLength = int(mo.maxLength, `${f}.maxLength`, 1);
        }
        if (mo.params !== undefined) model.params = int(mo.params, `${f}.params`, 0);
        if (mo.mflopsPerItem !== undefined) model.mflopsPerItem = num(mo.mflopsPerItem, `${f}.mflopsPerItem`, 0);
      } else {
        if (mo.input !== undefined) model.input = str(mo.input, `${f}.input`);
        model.inputs = [model.input];
        if (mo.output !== undefined) model.output = str(mo.output, `${f}.output`);
        if (mo.outputKind !== undefined) model.outputKind = kind(mo.outputKind, `${f}.outputKind`);
        model.params = int(mo.params, `${f}.params`, 0);
        model.mflopsPerItem = num(mo.mflopsPerImage, `${f}.mflopsPerImage`, 0);
      }
      model.mflopsPerImage = model.mflopsPerItem;
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
    if (v2 && models.length > 0) {
      output.name = models[0].output;
      output.kind = models[0].outputKind;
    }
    models.forEach((m, i) => {
      const classes = v2 ? classNames.length : output.classes;
      if (isBinaryScore(m.outputKind) && classes && classes !== 2) {
        fail(`models[${i}].outputKind`, `${JSON.stringify(m.outputKind)} is one score column of a binary classifier, but the cascade has ${classes} classes`);
      }
    });
  } else {
    fail('models', `expected a non-empty array, got ${describe(root.models)}`);
  }

  if (errors.length > 0) throw new ManifestError(file, errors);
  return { path: file, dir, name, version: version as 1 | 2, description, inputs, maskInput, input, output, classNames, data, models };

  function parseInputs(v: unknown): ManifestInput[] {
    if (!Array.isArray(v) || v.length === 0) {
      fail('inputs', `expected a non-empty array of inputs, got ${describe(v)}`);
      return [];
    }
    const out: ManifestInput[] = [];
    const names = new Map<string, number>();
    let axisOf: { axis: number; field: string } | null = null;
    v.forEach((x, i) => {
      const f = `inputs[${i}]`;
      const io = obj(x, f);
      if (!io) return;
      const iname = str(io.name, `${f}.name`);
      if (iname && names.has(iname)) fail(`${f}.name`, `duplicate input name ${JSON.stringify(iname)} (also inputs[${names.get(iname)}])`);
      if (iname) names.set(iname, i);
      let datatype: Datatype = 'FP32';
      if (typeof io.datatype === 'string' && (DATATYPES as readonly string[]).includes(io.datatype)) datatype = io.datatype as Datatype;
      else fail(`${f}.datatype`, `expected one of ${DATATYPES.join(', ')}, got ${describe(io.datatype)}`);
      const shape: number[] = [];
      let dynamicAxis: number | null = null;
      if (Array.isArray(io.shape)) {
        io.shape.forEach((d, k) => {
          if (d === -1) {
            if (dynamicAxis !== null) fail(`${f}.shape[${k}]`, `a second dynamic axis (-1); at most one is allowed (already shape[${dynamicAxis}])`);
            else dynamicAxis = k;
            shape.push(-1);
          } else shape.push(int(d, `${f}.shape[${k}]`, 1));
        });
      } else {
        fail(`${f}.shape`, `expected an array of positive integers (-1 for the dynamic axis), got ${describe(io.shape)}`);
      }
      if (dynamicAxis !== null) {
        if (axisOf && axisOf.axis !== dynamicAxis) {
          fail(`${f}.shape`, `dynamic axis at index ${dynamicAxis}, but ${axisOf.field} has it at index ${axisOf.axis}; every dynamic input must have it at the same index`);
        } else if (!axisOf) axisOf = { axis: dynamicAxis, field: `${f}.shape` };
      }
      let padValue = 0;
      if (io.padValue !== undefined) {
        if (typeof io.padValue === 'number' && Number.isFinite(io.padValue)) padValue = io.padValue;
        else fail(`${f}.padValue`, `expected a number, got ${describe(io.padValue)}`);
        if (padValue !== 0 && datatype !== 'FP32' && datatype !== 'FP16' && !Number.isInteger(padValue)) {
          fail(`${f}.padValue`, `expected an integer for ${datatype}, got ${padValue}`);
        }
      }
      const entry: ManifestInput = { name: iname, datatype, shape, padValue, dynamicAxis };
      if (io.range !== undefined) {
        const range = parseRange(io.range, f, datatype);
        if (range) {
          entry.range = range;
          if (dynamicAxis !== null && (padValue < range.min || padValue > range.max)) {
            fail(`${f}.padValue`, `${padValue} is outside ${f}.range [${range.min}, ${range.max}]; the engine pads items with it`);
          }
        }
      }
      if (io.preprocessing !== undefined) {
        if (typeof io.preprocessing === 'string') entry.preprocessing = io.preprocessing;
        else fail(`${f}.preprocessing`, `expected a string, got ${describe(io.preprocessing)}`);
      }
      out.push(entry);
    });
    return out;
  }

  function parseRange(v: unknown, f: string, datatype: Datatype): InputRange | null {
    const limits = INTEGER_LIMITS[datatype];
    if (!limits) {
      fail(`${f}.range`, `input is ${datatype}; a range applies to ${Object.keys(INTEGER_LIMITS).join(', ')} inputs only`);
      return null;
    }
    const ro = obj(v, `${f}.range`);
    if (!ro) return null;
    const bound = (x: unknown, field: string): number | null => {
      if (typeof x === 'number' && Number.isInteger(x) && x >= limits.min && x <= limits.max) return x;
      fail(field, `expected an integer in [${limits.min}, ${limits.max}] (${datatype}), got ${describe(x)}`);
      return null;
    };
    const min = bound(ro.min, `${f}.range.min`);
    const max = bound(ro.max, `${f}.range.max`);
    if (min === null || max === null) return null;
    if (min > max) {
      fail(`${f}.range`, `min ${min} is above max ${max}`);
      return null;
    }
    return { min, max };
  }

  function modelInputs(v: unknown, field: string, all: ManifestInput[]): string[] {
    if (!Array.isArray(v) || v.length === 0) {
      fail(field, `expected a non-empty array of input names, got ${describe(v)}`);
      return all.map((x) => x.name);
    }
    const out: string[] = [];
    v.forEach((n, k) => {
      const s = str(n, `${field}[${k}]`);
      if (!s) return;
      if (all.length > 0 && !all.some((x) => x.name === s)) fail(`${field}[${k}]`, `names no manifest input (inputs: ${all.map((x) => x.name).join(', ')})`);
      else if (out.includes(s)) fail(`${field}[${k}]`, `input ${JSON.stringify(s)} listed twice`);
      else out.push(s);
    });
    return out;
  }

  function parseNpyData(d: Obj, ins: ManifestInput[]): ManifestNpyData {
    if (d.format !== 'npy') fail('data.format', `expected "npy", got ${describe(d.format)}`);
    const dirName = d.dir === undefined ? '.' : str(d.dir, 'data.dir');
    const dataDir = isAbsolute(dirName) ? dirName : resolve(dir, dirName);
    if (checkFiles) {
      let isDir = false;
      try {
        isDir = statSync(dataDir).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) errors.push(`data.dir: ${dataDir} is not a folder (in ${file})`);
    }
    const inDir = (v: unknown, field: string, fallback: string): string => {
      const s = v === undefined ? fallback : str(v, field);
      if (!s) return '';
      const p = isAbsolute(s) ? s : resolve(dataDir, s);
      if (checkFiles && !isFile(p)) errors.push(`${field}: ${p} does not exist (in ${file})`);
      return p;
    };
    const labels = inDir(d.labels, 'data.labels', 'labels.npy');
    const inputFiles: Record<string, string> = {};
    for (const x of ins) if (x.name) inputFiles[x.name] = inDir(undefined, `data (file of input ${JSON.stringify(x.name)})`, `${x.name}.npy`);
    const lengths = d.lengths === undefined || d.lengths === null ? null : inDir(d.lengths, 'data.lengths', '');
    const split = { seed: 0, validationFraction: 0.5 };
    const so = obj(d.split, 'data.split');
    if (so) {
      split.seed = int(so.seed, 'data.split.seed', 0);
      if (split.seed > 0xffffffff) fail('data.split.seed', `expected an integer from 0 to ${0xffffffff}, got ${split.seed}`);
      split.validationFraction = num(so.validationFraction, 'data.split.validationFraction', 0, 1);
      if (split.validationFraction === 0 && so.validationFraction === 0) fail('data.split.validationFraction', 'expected a number > 0 and <= 1, got 0');
    }
    return { dir: dataDir, labels, inputFiles, lengths, split };
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
