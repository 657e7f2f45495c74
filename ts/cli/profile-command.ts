// `cascadeserve profile <manifest.json>`: measures every model of the manifest through the
// native engine (see ts/tools/profiler.ts) and writes profile.json.
// Exit codes: 0 written, 1 input error, 2 usage error.
import { writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { loadDataset } from '../contracts/dataset.js';
import { loadManifest } from '../contracts/manifest.js';
import { profileModels, profileToJson, type ProfileModelSpec } from '../tools/profiler.js';
import { profileItems } from '../tools/profiler-items.js';
import { loadItems } from '../contracts/items.js';
import type { Profile } from '../contracts/profile-schema.js';
import { timingFor } from '../contracts/profile-schema.js';
import { checkDefaultOutput, runCommand, UsageError, type CliIo, type CommandSpec } from './args.js';

export const kProfileCommand: CommandSpec = {
  name: 'profile',
  description: 'Times every model of the manifest per batch size on one CPU lane and records its answers on the validation (and held-out) images; see docs/planner.md.',
  positionals: [{ name: 'manifest.json', kind: 'input-file', help: 'the cascade manifest (cascade.json)' }],
  flags: [
    { name: 'out', kind: 'output-file', default: 'profile.json', help: 'the profile to write' },
    { name: 'max-batch', kind: 'integer', min: 1, max: 4096, default: 64, help: 'largest batch size timed' },
    { name: 'reps', kind: 'integer', min: 1, max: 10_000, default: 30, help: 'timed batches per model and batch size' },
    { name: 'warmup', kind: 'integer', min: 0, max: 10_000, default: 5, help: 'untimed batches first' },
    { name: 'threads', kind: 'integer', min: 1, max: 256, default: 1, help: 'intra-op threads of the profiled lane' },
    { name: 'timing', kind: 'choice', choices: ['rotation', 'isolated'], default: 'rotation', help: 'models timed in turn (as in a cascade) or each alone (version-1 manifests)' },
    { name: 'no-heldout', kind: 'boolean', help: 'skip the held-out half' },
  ],
  exitCodes: '0 profile written; 1 input error; 2 usage error.',
};

/** Progress on a TTY (one rewritten line) or plain lines at each 10% step otherwise. */
export function progressPrinter(io: CliIo): { tick: (phase: string, done: number, total: number) => void; end: () => void } {
  let last = '';
  return {
    tick: (phase, done, total) => {
      const frac = done / Math.max(1, total);
      if (io.stderr.isTTY) {
        const w = 30;
        const f = Math.round(frac * w);
        io.stderr.write(`\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${(frac * 100).toFixed(0).padStart(3)}% ${phase}\x1b[K`);
      } else {
        const line = `${Math.floor(frac * 10) * 10}% ${phase}`;
        if (line !== last) io.stderr.write(`${line}\n`);
        last = line;
      }
    },
    end: () => {
      if (io.stderr.isTTY) io.stderr.write('\n');
    },
  };
}

export async function runProfileCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kProfileCommand, argv, io, async ({ values: v, positionals }) => {
    const manifestPath = positionals[0];
    const out = (v.out as string | undefined) ?? 'profile.json';
    if (v.out === undefined) checkDefaultOutput('out', out);
    const maxBatch = (v['max-batch'] as number | undefined) ?? 64;
    const reps = (v.reps as number | undefined) ?? 30;
    const warmup = (v.warmup as number | undefined) ?? 5;
    const threads = (v.threads as number | undefined) ?? 1;
    const heldout = !v['no-heldout'];
    const timing = (v.timing as 'rotation' | 'isolated' | undefined) ?? 'rotation';
    const manifest = await loadManifest(manifestPath);
    // relative to the profile file, so a committed profile stays valid elsewhere
    const recordedPath = relative(dirname(resolve(out)), manifest.path) || manifest.path;
    const bar = progressPrinter(io);
    const t0 = performance.now();
    let profile: Profile;
    let counts: string;
    if (manifest.version === 2) {
      if (timing !== 'rotation') throw new UsageError(`--timing ${timing}: a version-2 manifest's models are timed in rotation only (${manifest.path})`);
      // typed inputs through engine.submitTensors; batch times per length bucket
      const validation = loadItems(manifest, 'validation');
      const ho = heldout ? loadItems(manifest, 'heldout') : undefined;
      counts = `${validation.count} validation${ho ? ` + ${ho.count} held-out` : ''} items`;
      profile = await profileItems({ manifest, validation, heldout: ho, manifestPath: recordedPath, maxBatch, reps, warmup, threads, onProgress: bar.tick });
    } else {
      const validation = loadDataset(manifest.data.validation);
      const ho = heldout ? loadDataset(manifest.data.heldout) : undefined;
      counts = `${validation.count} validation${ho ? ` + ${ho.count} held-out` : ''} images`;
      const models: ProfileModelSpec[] = manifest.models.map((m) => ({
        name: m.name,
        path: m.file,
        file: relative(manifest.dir, m.file),
        input: m.input,
        output: m.output,
        outputKind: m.outputKind,
        itemDims: manifest.input.shape,
        classes: manifest.output.classes,
        params: m.params,
        mflopsPerImage: m.mflopsPerImage,
      }));
      profile = await profileModels({
        models,
        validation,
        heldout: ho,
        manifest: { path: recordedPath, name: manifest.name },
        maxBatch,
        reps,
        warmup,
        threads,
        timing,
        onProgress: bar.tick,
      });
    }
    bar.end();
    writeFileSync(out, profileToJson(profile));
    io.stdout.write(`wrote ${out}: ${profile.models.length} model(s), ${counts}, ONNX Runtime ${profile.runtime.version}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const m of profile.models) {
      const t = timingFor(m, profile.lanes[0]).batchTimesUs;
      const acc = m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count;
      const at = (b: number) => t.find((r) => r.batch === b);
      const cell = (b: number) => (at(b) ? `b${b} ${at(b)!.p50.toFixed(0)} µs (${(at(b)!.p50 / b).toFixed(1)}/item)` : '');
      // The larger column: batch 32, or the largest profiled below it (--max-batch 8, say).
      const big = t.reduce((a, r) => (r.batch <= 32 && r.batch > a ? r.batch : a), 1);
      io.stdout.write(`  ${m.name.padEnd(12)} acc ${acc.toFixed(4)}  ${cell(1)}  ${big > 1 ? cell(big) : ''}  mem ${(m.memoryBytes / 2 ** 20).toFixed(1)} MiB\n`);
      const buckets = timingFor(m, profile.lanes[0]).lengthBuckets;
      if (buckets) io.stdout.write(`  ${''.padEnd(12)} b${big} by length: ${buckets.map((k) => `<=${k.length} (${(k.share * 100).toFixed(0)}%) ${k.batchTimesUs.find((r) => r.batch === big)?.p50.toFixed(0) ?? '-'} µs`).join(', ')}\n`);
    }
    return 0;
  });
}
