// `cascadeserve profile <manifest> [--out profile.json] [--max-batch 64] [--reps N]
//   [--warmup N] [--threads 1] [--timing rotation|isolated] [--no-heldout]`
// Measures every model of the manifest through the native engine (see profiler.ts) and
// writes profile.json. Exit codes: 0 written, 1 usage or input error.
import { writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../contracts/dataset.js';
import { loadManifest } from '../contracts/manifest.js';
import type { CommandIo } from './plan-command.js';
import { profileModels, profileToJson, type ProfileModelSpec } from '../tools/profiler.js';
import { timingFor } from '../contracts/profile-schema.js';

const kUsage = 'usage: cascadeserve profile <manifest.json> [--out profile.json] [--max-batch 64] [--reps 30] [--warmup 5] [--threads 1] [--timing rotation|isolated] [--no-heldout]\n';

function posInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

/** Progress on a TTY (one rewritten line) or plain lines at each 10% step otherwise. */
export function progressPrinter(io: CommandIo): { tick: (phase: string, done: number, total: number) => void; end: () => void } {
  let last = '';
  return {
    tick: (phase, done, total) => {
      const frac = done / Math.max(1, total);
      if (io.isTTY) {
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
      if (io.isTTY) io.stderr.write('\n');
    },
  };
}

export async function runProfileCommand(argv: string[], io: CommandIo): Promise<number> {
  let manifestPath: string, out: string, maxBatch: number, reps: number, warmup: number, threads: number, heldout: boolean, timing: 'rotation' | 'isolated';
  try {
    const { values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string' }, 'max-batch': { type: 'string' }, reps: { type: 'string' }, warmup: { type: 'string' },
        threads: { type: 'string' }, timing: { type: 'string' }, 'no-heldout': { type: 'boolean' }, help: { type: 'boolean' },
      },
    });
    if (v.help) {
      io.stdout.write(kUsage);
      return 0;
    }
    if (positionals.length !== 1) throw new Error('expected exactly one manifest path');
    manifestPath = positionals[0];
    out = v.out ?? 'profile.json';
    maxBatch = posInt(v['max-batch'], '--max-batch', 64);
    reps = posInt(v.reps, '--reps', 30);
    warmup = posInt(v.warmup, '--warmup', 5);
    threads = posInt(v.threads, '--threads', 1);
    heldout = !v['no-heldout'];
    if (v.timing !== undefined && v.timing !== 'rotation' && v.timing !== 'isolated') throw new Error(`--timing must be "rotation" or "isolated", got "${v.timing}"`);
    timing = (v.timing as 'rotation' | 'isolated' | undefined) ?? 'rotation';
  } catch (err) {
    io.stderr.write(`cascadeserve profile: ${(err as Error).message}\n${kUsage}`);
    return 1;
  }
  try {
    const manifest = await loadManifest(manifestPath);
    const validation = loadDataset(manifest.data.validation);
    const ho = heldout ? loadDataset(manifest.data.heldout) : undefined;
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
    const bar = progressPrinter(io);
    const t0 = performance.now();
    const profile = await profileModels({
      models,
      validation,
      heldout: ho,
      // relative to the profile file, so a committed profile stays valid elsewhere
      manifest: { path: relative(dirname(resolve(out)), manifest.path) || manifest.path, name: manifest.name },
      maxBatch,
      reps,
      warmup,
      threads,
      timing,
      onProgress: bar.tick,
    });
    bar.end();
    writeFileSync(out, profileToJson(profile));
    io.stdout.write(`wrote ${out}: ${profile.models.length} model(s), ${validation.count} validation${ho ? ` + ${ho.count} held-out` : ''} images, ONNX Runtime ${profile.runtime.version}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const m of profile.models) {
      const t = timingFor(m, profile.lanes[0]).batchTimesUs;
      const acc = m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count;
      const at = (b: number) => t.find((r) => r.batch === b);
      const cell = (b: number) => (at(b) ? `b${b} ${at(b)!.p50.toFixed(0)} µs (${(at(b)!.p50 / b).toFixed(1)}/img)` : '');
      io.stdout.write(`  ${m.name.padEnd(12)} acc ${acc.toFixed(4)}  ${cell(1)}  ${cell(32)}  mem ${(m.memoryBytes / 2 ** 20).toFixed(1)} MiB\n`);
    }
    return 0;
  } catch (err) {
    io.stderr.write(`cascadeserve profile: ${(err as Error).message}\n`);
    return 1;
  }
}
