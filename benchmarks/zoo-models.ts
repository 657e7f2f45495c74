// The models the benchmarks run: the zoo's cheapest and strongest when models/fmnist exists,
// else the small test fixture (so the benchmarks still run on a checkout without the zoo).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packageRoot } from '../bindings/binding.js';
import type { EngineModel } from '../ts/index.js';

/** A model of the single-FP32-input form (the zoo's images). */
export type FloatModel = EngineModel & Required<Pick<EngineModel, 'input' | 'itemDims'>>;
export interface BenchModels { cheapest: FloatModel; strongest: FloatModel; fromZoo: boolean }

export function benchModels(): BenchModels {
  const root = packageRoot();
  const manifestPath = join(root, 'models', 'fmnist', 'cascade.json');
  if (existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      input: { name: string; shape: number[] }; output: { name: string; classes: number };
      models: { name: string; file: string; input?: string; output?: string }[];
    };
    const mk = (x: (typeof m.models)[number]): FloatModel => ({
      name: x.name, path: join(dirname(manifestPath), x.file), input: x.input ?? m.input.name, output: x.output ?? m.output.name,
      itemDims: m.input.shape, classes: m.output.classes,
    });
    return { cheapest: mk(m.models[0]), strongest: mk(m.models[m.models.length - 1]), fromZoo: true };
  }
  const fx = (name: string): FloatModel => ({ name, path: join(root, 'test', 'fixtures', `${name}.onnx`), input: 'x', output: 'y', itemDims: [16], classes: 4 });
  return { cheapest: fx('mlp_small'), strongest: fx('gather_mlp'), fromZoo: false };
}
