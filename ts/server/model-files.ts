// Are the model files the ones the plan was made for? The planner's thresholds, batch sizes
// and gear ranges hold for the files it profiled, whose sha256 the plan records
// (plan.models[].sha256); another file under the same name would be served with them.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PlanLoadError, type ServingPlan } from './plan-loader.js';

/** The sha256 of a file in lowercase hex, read as a stream (model files are megabytes). */
export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

export interface ModelFileMismatch {
  model: string;
  /** Absolute path of the file the manifest names. */
  file: string;
  /** sha256 recorded in the plan. */
  planned: string;
  /** sha256 of the file now. */
  actual: string;
}

/** Every model of the plan whose file's sha256 is not the one recorded in the plan. */
export async function findModelFileMismatches(plan: ServingPlan): Promise<ModelFileMismatch[]> {
  const files = new Map(plan.manifest.models.map((m) => [m.name, m.file]));
  const checks = plan.plan.models.map(async (m) => {
    const file = files.get(m.name);
    // The plan loader has checked that every plan model is in the manifest.
    if (file === undefined) return null;
    let actual: string;
    try {
      actual = await sha256OfFile(file);
    } catch (e) {
      throw new PlanLoadError(`model '${m.name}': cannot read ${file}: ${(e as Error).message}`);
    }
    return actual === m.sha256 ? null : { model: m.name, file, planned: m.sha256, actual };
  });
  return (await Promise.all(checks)).filter((m): m is ModelFileMismatch => m !== null);
}

/** A model file differs from the one the plan was made for. */
export class ModelMismatchError extends PlanLoadError {
  readonly mismatches: ModelFileMismatch[];
  constructor(planPath: string, mismatches: ModelFileMismatch[]) {
    super(`${describeModelFileMismatches(planPath, mismatches)}; re-run \`cascadeserve profile\` and \`cascadeserve plan\` for these files, or start with --allow-model-mismatch (option allowModelMismatch) to serve them with this plan anyway`);
    this.name = 'ModelMismatchError';
    this.mismatches = mismatches;
  }
}

/** One line per mismatch, naming the model, its file and both hashes. */
export function describeModelFileMismatches(planPath: string, mismatches: ModelFileMismatch[]): string {
  return mismatches.map((m) => `model '${m.model}': file ${m.file} has sha256 ${m.actual}, but plan ${planPath} was made for sha256 ${m.planned}`).join('; ');
}
