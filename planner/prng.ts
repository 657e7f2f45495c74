// Seeded pseudo-random numbers: the planner's results depend only on its inputs.

// The same generator as the manifest's seeded split (ts/contracts/items.ts).
export { mulberry32 } from '../ts/contracts/items.js';

/** Exponential variate with the given rate (events per unit time). */
export function expVariate(rnd: () => number, rate: number): number {
  return -Math.log(1 - rnd()) / rate;
}
