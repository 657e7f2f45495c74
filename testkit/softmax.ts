// The tests' own softmax and largest difference, written out here so that a test checks the
// engine's and init's probabilities against an independent computation.

/** Probabilities from a row of logits (max-shifted exponentials over their sum). */
export function softmax(row: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(row));
  const e = Array.from(row, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Largest |a[i] - b[i]|. */
export const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
