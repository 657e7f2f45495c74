// Small statistics shared by the benchmarks: medians over repetitions, and result files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../bindings/binding.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function machine() {
  return { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
}

/**
 * Where a benchmark's results go: benchmarks/results/ (committed, quoted by the README) only
 * when asked to record them (--record); otherwise benchmarks/local/, which git ignores, so
 * that trying a benchmark never changes the recorded figures.
 */
export function resultsDir(record: boolean): string {
  return join(packageRoot(), 'benchmarks', record ? 'results' : 'local');
}

/** Whether the command line asks to record the results (--record). */
export function recordFlag(argv: string[] = process.argv.slice(2)): boolean {
  return argv.includes('--record');
}

/** Writes <name>.json into resultsDir(record); returns its path. */
export function writeResult(name: string, data: unknown, record: boolean): string {
  const dir = resultsDir(record);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ createdAt: new Date().toISOString(), machine: machine(), ...(data as object) }, null, 2) + '\n');
  return path;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i])).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}
