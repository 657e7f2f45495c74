// Paths the tests and benchmarks share: fixtures live in the source tree (test/fixtures), not under dist/.
import { join } from 'node:path';
import { packageRoot } from '../bindings/binding.js';

export const root = packageRoot();
export const fixtures = join(root, 'test', 'fixtures');
export const fixture = (name: string) => join(fixtures, name);
