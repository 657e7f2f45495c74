// Reads the Prometheus text exposition (what GET /metrics serves) into samples, so the
// deployment tests can check metric names and values without regular expressions per line.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses `name{l="v",...} value` lines; comments and blank lines are skipped. */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const v = m[4];
    out.push({ name: m[1], labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `match`; throws when not exactly one. */
export function sampleValue(samples: PromSample[], name: string, match: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(match)}`);
  return hits[0].value;
}

/** Metric family names served (a histogram's _bucket/_sum/_count lines count under their own names). */
export function servedNames(samples: PromSample[]): Set<string> {
  return new Set(samples.map((s) => s.name));
}
