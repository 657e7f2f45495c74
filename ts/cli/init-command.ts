// `cascadeserve init DIR`: makes a folder of ONNX classifiers and labelled .npy data into a
// cascade, by writing DIR/cascade.json (manifest version 2, see ts/contracts/manifest.ts and
// docs/manifest.md). What it reads and checks is in init-inspect.ts.
// Exit codes: 0 written, 1 a problem with the folder's files, 2 usage error.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseManifest, type OutputKind } from '../contracts/manifest.js';
import { readNpyItems, splitIndices, ItemsError, type LabelledItems } from '../contracts/items.js';
import { NpyError } from '../contracts/npy.js';
import { runCommand, UsageError, type CliIo, type CommandSpec } from './args.js';
import { onnxParamsOf } from './onnx-params.js';
import { withoutSourceLocations } from '../errors.js';
import { checkDataRanges, checkModel, dataFacts, detectRanges, InitError, inspectModel, probeMaxLength, unifyInputs, type LengthLimit, type ModelCheck, type ModelInfo } from './init-inspect.js';

export const kInitCommand: CommandSpec = {
  name: 'init',
  description: [
    'Reads every DIR/*.onnx and the labelled data in DIR/data/ (one .npy per model input, named after',
    'the input, first axis = items, padded to one length on the dynamic axis; labels.npy with integer',
    'class ids; lengths.npy optional, else the mask input is detected), checks that they fit together,',
    'and writes DIR/cascade.json: the inputs, the mask input, each model\'s output and its kind, the',
    'longest sequence each model runs (probed), the classes, the seeded validation / held-out split and',
    'the models ordered cheapest first by a quick timing. Then: cascadeserve profile DIR/cascade.json',
    '--out DIR/profile.json. See docs/manifest.md.',
  ].join('\n'),
  positionals: [{ name: 'DIR', kind: 'string', help: 'the folder with the .onnx files and data/' }],
  flags: [
    { name: 'name', kind: 'string', help: 'served model name (default: the folder\'s name)' },
    { name: 'seed', kind: 'integer', min: 0, max: 0xffffffff, default: 1, help: 'seed of the validation / held-out split' },
    { name: 'validation-fraction', kind: 'number', above: 0, max: 1, default: 0.5, help: 'share of the items in the validation part' },
    { name: 'output-kind', kind: 'string', value: 'MODEL=KIND[,...]', help: 'override the detected kind: KIND is logits or probabilities (for a one-column binary score: how its column reads)' },
    { name: 'output', kind: 'string', value: 'MODEL=NAME[,...]', help: 'the output holding the class scores, for a model with several' },
    { name: 'class-names', kind: 'string', value: 'A,B,...', help: 'class names (default: 0, 1, ...)' },
    { name: 'check-items', kind: 'integer', min: 1, max: 10_000, default: 32, help: 'items run padded and unpadded per model (kind and padding check)' },
    { name: 'force', kind: 'boolean', help: 'overwrite an existing cascade.json' },
  ],
  exitCodes: '0 cascade.json written; 1 a problem with the models or data; 2 usage error.',
};

/** "a=x,b=y" into a map; names must be models of the folder. */
function modelMap(flag: string, text: string | undefined, models: string[], values?: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined) return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const model = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || !value) throw new UsageError(`--${flag}: expected MODEL=VALUE[,...], got '${part}'`);
    if (!models.includes(model)) throw new UsageError(`--${flag}: '${model}' is not a model of the folder (models: ${models.join(', ')})`);
    if (values && !values.includes(value)) throw new UsageError(`--${flag}: '${value}' for ${model} must be one of ${values.join(', ')}`);
    if (out.has(model)) throw new UsageError(`--${flag}: ${model} is given twice`);
    out.set(model, value);
  }
  return out;
}

/** ONNX Runtime's message on one line, without its source locations, at most 160 characters. */
function clipMessage(message: string): string {
  const line = withoutSourceLocations(message).replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** Up to n indices spread evenly over count items. */
function evenSample(count: number, n: number): number[] {
  const k = Math.min(count, n);
  return Array.from({ length: k }, (_, j) => Math.floor((j * count) / k));
}

export async function runInitCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kInitCommand, argv, io, async ({ values: v, positionals }) => {
    const dir = resolve(positionals[0]);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new UsageError(`DIR: '${positionals[0]}' is not a folder`);
    const out = join(dir, 'cascade.json');
    if (existsSync(out) && !v.force) throw new UsageError(`${out} exists; --force to overwrite it`);
    const name = (v.name as string | undefined) ?? basename(dir);
    const seed = (v.seed as number | undefined) ?? 1;
    const validationFraction = (v['validation-fraction'] as number | undefined) ?? 0.5;
    const checkItems = (v['check-items'] as number | undefined) ?? 32;

    const files = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
    if (files.length === 0) throw new InitError(`${dir}: no .onnx files (a cascade folder holds one ONNX classifier per model)`);
    const modelNames = files.map((f) => basename(f, '.onnx'));
    const kinds = modelMap('output-kind', v['output-kind'] as string | undefined, modelNames, ['logits', 'probabilities']);
    const outputs = modelMap('output', v.output as string | undefined, modelNames);

    const models: ModelInfo[] = [];
    try {
      for (const f of files) models.push(await inspectModel(join(dir, f), outputs.get(basename(f, '.onnx'))));
      return await initWith(models);
    } finally {
      for (const m of models) m.session.release();
    }

    async function initWith(models: ModelInfo[]): Promise<number> {
      const inputs = unifyInputs(models);
      const classCounts = new Map(models.filter((m) => m.classes !== null).map((m) => [m.name, m.classes!]));
      const distinct = new Set(classCounts.values());
      if (distinct.size > 1) {
        const oneColumn = new Set(models.filter((m) => m.oneColumn).map((m) => m.name));
        throw new InitError(`outputs: the models disagree on the number of classes (${[...classCounts].map(([m, c]) => `${m}.onnx: ${c}${oneColumn.has(m) ? ' (one score column, a binary classifier)' : ''}`).join(', ')})`);
      }

      const dataDir = join(dir, 'data');
      if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
        throw new InitError(`${dataDir}: no such folder; it holds the labelled data (one .npy per model input, named after the input, and labels.npy)`);
      }
      for (const x of inputs) {
        const f = join(dataDir, `${x.name}.npy`);
        if (!existsSync(f)) {
          const users = models.filter((m) => m.inputs.some((y) => y.name === x.name)).map((m) => basename(m.path));
          throw new InitError(`${f}: no such file; it holds the data of input ${JSON.stringify(x.name)} (taken by ${users.join(', ')})`);
        }
      }
      const labelsFile = join(dataDir, 'labels.npy');
      if (!existsSync(labelsFile)) throw new InitError(`${labelsFile}: no such file; it holds each item's class id (integers)`);
      const lengthsFile = join(dataDir, 'lengths.npy');
      const hasLengths = existsSync(lengthsFile) && inputs.some((x) => x.itemShape.includes(-1));

      let classes = distinct.size === 1 ? [...distinct][0] : 0;
      const spec = {
        inputs: inputs.map((x) => ({ name: x.name, datatype: x.datatype, shape: x.itemShape, padValue: 0, dynamicAxis: x.itemShape.includes(-1) ? x.itemShape.indexOf(-1) : null })),
        maskInput: null,
        inputFiles: Object.fromEntries(inputs.map((x) => [x.name, join(dataDir, `${x.name}.npy`)])),
        labels: labelsFile,
        lengths: hasLengths ? lengthsFile : null,
        // no output fixes the number of classes: accept any id here, then take the largest + 1
        classes: classes || 2 ** 31 - 1,
      };
      let items: LabelledItems;
      try {
        items = readNpyItems(spec);
      } catch (e) {
        if (e instanceof ItemsError || e instanceof NpyError) {
          // Say where the class count came from: a one-column model fixes it at 2.
          const from = classes && /out of range/.test(e.message)
            ? `; the models' outputs fix ${classes} classes (${models.filter((m) => m.classes !== null).map((m) => `${basename(m.path)}: ${m.oneColumn ? 'one score column, a binary classifier' : `${m.classes} columns`}`).join(', ')})`
            : '';
          throw new InitError(e.message + from);
        }
        throw e;
      }
      if (!classes) {
        let top = 1; // at least two classes
        for (const l of items.labels) if (l > top) top = l;
        classes = top + 1;
        io.stdout.write(`the models' outputs do not fix the number of classes; ${classes} taken from the labels\n`);
      }
      const classNames = (v['class-names'] as string | undefined)?.split(',').map((s) => s.trim()) ?? Array.from({ length: classes }, (_, i) => String(i));
      if (classNames.length !== classes || classNames.some((c) => !c)) {
        throw new UsageError(`--class-names: ${classNames.length} non-empty names needed one per class (the models have ${classes} classes)`);
      }

      const facts = dataFacts(inputs, items, hasLengths);
      items.lengths = facts.lengths;
      for (const n of facts.notes) io.stdout.write(`${n}\n`);
      // Before any model runs on the data: an id out of range would fail in ONNX Runtime.
      const rangeNotes: string[] = [];
      const ranges = detectRanges(models, inputs, rangeNotes);
      for (const n of rangeNotes) io.stdout.write(`${n}\n`);
      checkDataRanges(items, ranges, spec.inputFiles);
      for (const [name, r] of ranges) io.stdout.write(`input ${name}: values in [${r.range.min}, ${r.range.max}] (${r.sources.join('; ')})\n`);

      const sample = evenSample(items.count, checkItems);
      const checks = new Map<string, ModelCheck>();
      for (const m of models) {
        checks.set(m.name, await checkModel(m, { inputs: facts.inputs, items, sample, classes, kindOverride: kinds.get(m.name) as OutputKind | undefined, timingBatch: 8, timingRuns: 15 }));
      }
      // The longest length each model runs: the server refuses longer requests (400) instead
      // of failing them in ONNX Runtime.
      const limits = new Map<string, LengthLimit>();
      for (const m of models) {
        const limit = await probeMaxLength(m, facts.inputs, items);
        if (limit) limits.set(m.name, limit);
      }
      const order = [...models].sort((a, b) => checks.get(a.name)!.medianBatchUs - checks.get(b.name)!.medianBatchUs || a.name.localeCompare(b.name));
      const allInputs = inputs.map((x) => x.name);
      const manifest = {
        name,
        version: 2,
        description: `${models.length} model(s) from ${basename(dir)}/, written by cascadeserve init`,
        inputs: facts.inputs.map((x) => ({ name: x.name, datatype: x.datatype, shape: x.shape, padValue: x.padValue, ...(ranges.has(x.name) ? { range: ranges.get(x.name)!.range } : {}) })),
        ...(facts.maskInput ? { maskInput: facts.maskInput } : {}),
        classNames,
        data: { format: 'npy', dir: 'data', ...(hasLengths ? { lengths: 'lengths.npy' } : {}), split: { seed, validationFraction } },
        models: order.map((m) => {
          const c = checks.get(m.name)!;
          const names = m.inputs.map((x) => x.name);
          const subset = names.length !== allInputs.length;
          const params = onnxParamsOf(m.path);
          return {
            name: m.name,
            file: basename(m.path),
            ...(subset ? { inputs: allInputs.filter((x) => names.includes(x)) } : {}),
            output: m.output,
            outputKind: c.outputKind,
            padInvariant: c.padInvariant,
            ...(limits.has(m.name) ? { maxLength: limits.get(m.name)!.maxLength } : {}),
            ...(params !== null ? { params } : {}),
          };
        }),
      };
      const text = JSON.stringify(manifest, null, 2) + '\n';
      parseManifest(text, out); // what init writes must load
      writeFileSync(out, text);
      const dyn = facts.inputs.find((x) => x.dynamicAxis !== null);
      io.stdout.write(
        `wrote ${out}: ${models.length} model(s), ${items.count} items (${classes} classes), inputs ${facts.inputs.map((x) => `${x.name} ${x.datatype} [${x.shape.join(', ')}]`).join(', ')}` +
          `${facts.maskInput ? `, mask ${facts.maskInput}` : ''}${dyn ? `, padded length ${items.tensors[0].itemShape[dyn.dynamicAxis!] ?? '?'}` : ''}\n`,
      );
      for (const m of order) {
        const c = checks.get(m.name)!;
        io.stdout.write(
          `  ${m.name.padEnd(14)} ${String(c.medianBatchUs.toFixed(0)).padStart(7)} µs per batch of ${Math.min(8, sample.length)}  output ${m.output} (${c.outputKind}${c.detected ? ', detected' : ', as given'})  ` +
            `padding ${c.padInvariant ? 'harmless' : `changes the answer by up to ${c.padDifference.toExponential(1)}: batched by equal length only`}  accuracy on ${sample.length} checked items ${c.sampleAccuracy.toFixed(3)}\n`,
        );
      }
      for (const [model, l] of limits) {
        io.stdout.write(`  ${model} runs lengths up to ${l.maxLength} (at ${l.maxLength + 1}: ${clipMessage(l.failure)}): longer requests are refused\n`);
      }
      const parts = splitIndices(items.count, seed, validationFraction);
      io.stdout.write(`split (seed ${seed}): ${parts.validation.length} validation, ${parts.heldout.length} held-out items\n`);
      io.stdout.write(`next: cascadeserve profile ${join(dir, 'cascade.json')} --out ${join(dir, 'profile.json')}\n`);
      return 0;
    }
  });
}
