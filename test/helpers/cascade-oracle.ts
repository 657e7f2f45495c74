// The engine's correctness oracle, computed independently of it: every model run with
// onnxruntime-node, certainties computed here in float64, routing applied here.
import * as ort from 'onnxruntime-node';

export type OutputKind = 'logits' | 'probabilities' | 'binary_logit' | 'binary_probability';

export type Measure = 'max_prob' | 'margin' | 'entropy';

/** A model's output row as probabilities; a binary score (one column) gives [1 - p, p]. */
export function probabilitiesOf(row: ArrayLike<number>, kind: OutputKind = 'logits'): number[] {
  if (kind === 'binary_logit' || kind === 'binary_probability') {
    if (row.length !== 1) throw new Error(`a ${kind} row has one value, got ${row.length}`);
    const p = kind === 'binary_logit' ? 1 / (1 + Math.exp(-row[0])) : row[0];
    return [1 - p, p];
  }
  if (kind === 'probabilities') return Array.from(row);
  const max = Math.max(...Array.from(row));
  const e = Array.from(row, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

export function certaintyOf(row: ArrayLike<number>, measure: Measure, kind: OutputKind = 'logits'): { cls: number; certainty: number } {
  const p = probabilitiesOf(row, kind);
  const c = p.length;
  let cls = 0;
  for (let i = 1; i < c; i++) if (p[i] > p[cls]) cls = i;
  if (measure === 'max_prob') return { cls, certainty: p[cls] };
  if (measure === 'margin') {
    const sorted = [...p].sort((a, b) => b - a);
    return { cls, certainty: c === 1 ? 1 : sorted[0] - sorted[1] };
  }
  const h = p.reduce((a, v) => (v > 0 ? a - v * Math.log(v) : a), 0);
  return { cls, certainty: c === 1 ? 1 : 1 - h / Math.log(c) };
}

export interface OracleModel { path: string; input: string; output: string; itemDims: number[]; classes: number }
export interface OracleStage { model: number; threshold: number; measure: Measure }

/** Output rows of a model for all items, through onnxruntime-node (single thread). */
export async function runWithOrtNode(m: OracleModel, inputs: Float32Array, count: number, batch = 500): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(m.path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const per = m.itemDims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * m.classes);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const x = new ort.Tensor('float32', inputs.subarray(start * per, (start + n) * per), [n, ...m.itemDims]);
    const r = await s.run({ [m.input]: x });
    out.set(r[m.output].data as Float32Array, start * m.classes);
  }
  await s.release();
  return out;
}

export interface OracleAnswer { cls: number; certainty: number; exitStage: number; model: number }

/** Routes every item through the cascade given each model's output rows. */
export function route(outputs: Float32Array[], classes: number[], stages: OracleStage[], count: number): OracleAnswer[] {
  const answers: OracleAnswer[] = [];
  for (let i = 0; i < count; i++) {
    for (let s = 0; s < stages.length; s++) {
      const st = stages[s];
      const k = classes[st.model];
      const { cls, certainty } = certaintyOf(outputs[st.model].subarray(i * k, (i + 1) * k), st.measure);
      // The engine compares in double against the float32 threshold it was given.
      if (s === stages.length - 1 || certainty >= Math.fround(st.threshold)) {
        answers.push({ cls, certainty, exitStage: s, model: st.model });
        break;
      }
    }
  }
  return answers;
}

export interface PlanGearStages {
  id: number;
  stages: { model: string; threshold: number; measure?: Measure }[];
}

/**
 * Why an answer by `model` at `stage` of gear `gearId` is not where the plan's thresholds send
 * the item, or null when it is. `certaintyAt` gives the item's certainty under a model and a
 * measure, from the reference; within `tolerance` of a threshold either side is accepted.
 */
export async function exitMismatch(
  gears: PlanGearStages[],
  gearId: number,
  stage: number,
  model: string,
  certaintyAt: (model: string, measure: Measure) => Promise<number>,
  tolerance: number,
): Promise<string | null> {
  const gear = gears.find((g) => g.id === gearId);
  if (!gear) return `gear ${gearId} is not in the plan`;
  if (gear.stages[stage]?.model !== model) return `stage ${stage} of gear ${gearId} is not ${model}`;
  for (let s = 0; s <= stage && s < gear.stages.length - 1; s++) {
    const st = gear.stages[s];
    const certainty = await certaintyAt(st.model, st.measure ?? 'max_prob');
    const exits = certainty >= st.threshold;
    const near = Math.abs(certainty - st.threshold) <= tolerance;
    if (s < stage && exits && !near) return `stage ${s} (${st.model}) has certainty ${certainty} >= ${st.threshold} but the item went on`;
    if (s === stage && !exits && !near) return `stage ${s} (${st.model}) answered with certainty ${certainty} < ${st.threshold}`;
  }
  return null;
}
