// Replica placement: start with every model of the candidate gears on every lane; while a
// lane exceeds its memory budget, remove the replica (on an over-budget lane, of a model
// with another replica) whose removal keeps every gear demand LP-feasible under the cap
// with the smallest resulting peak utilization. Fails with a clear error when no removal
// keeps the demands feasible.

import { splitLoad } from './lp-split.js';

export interface GearDemand {
  /** Model index per stage. */
  models: number[];
  /** Per-stage work in utilization units (lane-seconds per second). */
  work: number[];
}

export interface PlacementInput {
  memoryBytes: number[]; // per model
  used: number[]; // model indices that need replicas
  lanes: number;
  budgetBytesPerLane: number;
  demands: GearDemand[];
  cap: number;
  modelNames?: string[];
}

async function worstPeak(hosts: boolean[][], demands: GearDemand[], lanes: number, cap: number): Promise<number> {
  let worst = 0;
  for (const d of demands) {
    const r = await splitLoad({ work: d.work.map((w) => new Array<number>(lanes).fill(w)), eligible: d.models.map((m) => hosts[m].slice()), cap });
    worst = Math.max(worst, r.maxUtilization);
    if (worst > cap) return worst;
  }
  return worst;
}

/** Returns hosts[model][lane]. */
export async function placeReplicas(p: PlacementInput): Promise<boolean[][]> {
  const hosts = p.memoryBytes.map((_, m) => new Array<boolean>(p.lanes).fill(p.used.includes(m)));
  const name = (m: number) => p.modelNames?.[m] ?? `model ${m}`;
  for (const m of p.used) {
    if (p.memoryBytes[m] > p.budgetBytesPerLane) throw new Error(`model "${name(m)}" needs ${p.memoryBytes[m]} bytes, more than the memory budget per lane (${p.budgetBytesPerLane} bytes)`);
  }
  const laneBytes = (l: number) => hosts.reduce((s, h, m) => s + (h[l] ? p.memoryBytes[m] : 0), 0);
  for (;;) {
    const over = Array.from({ length: p.lanes }, (_, l) => l).filter((l) => laneBytes(l) > p.budgetBytesPerLane);
    if (over.length === 0) return hosts;
    let best: { m: number; l: number; peak: number } | null = null;
    for (const l of over) {
      for (const m of p.used) {
        if (!hosts[m][l] || hosts[m].filter(Boolean).length < 2) continue;
        hosts[m][l] = false;
        const peak = await worstPeak(hosts, p.demands, p.lanes, p.cap);
        hosts[m][l] = true;
        if (peak <= p.cap + 1e-9 && (!best || peak < best.peak - 1e-12 || (Math.abs(peak - best.peak) <= 1e-12 && p.memoryBytes[m] > p.memoryBytes[best.m]))) best = { m, l, peak };
      }
    }
    if (!best) {
      throw new Error(`cannot fit replicas into ${p.budgetBytesPerLane} bytes per lane on lane(s) ${over.join(', ')} while keeping every gear's load under the utilization cap ${p.cap}`);
    }
    hosts[best.m][best.l] = false;
  }
}
