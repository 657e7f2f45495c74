// Per-model statistics: plain counters updated on the request path (a few additions per
// request, never per item where per request will do), read by /v2/models/{name}/stats as
// JSON (Triton's statistics layout plus a "cascade" section) and by /metrics (metrics.ts).

import type { GearSwitchRecord } from '../contracts/gear-policy.js';

export type FailureReason = 'rejected' | 'timeout' | 'backend' | 'invalid' | 'cancelled';
export const kFailureReasons: readonly FailureReason[] = ['rejected', 'timeout', 'backend', 'invalid', 'cancelled'];

/** Switches kept in the recent-switch log (status route); older ones are dropped. */
export const kSwitchLogLength = 64;

/** A logged switch: the record plus the wall-clock time (epoch ms) it was made at. */
export interface LoggedSwitch extends GearSwitchRecord {
  timeMs: number;
}

export interface DurationStat {
  count: number;
  ns: number;
}

/** Figures the serving side provides at read time (engine and gear controller state). */
export interface LiveFigures {
  /** Batches run (nv_inference_exec_count); 0 before the engine exists. */
  executionCount: number;
  pendingRequests: number;
  backlogItems: number;
  gearId: number;
  gearIndex: number;
  expectedAccuracy: number;
  arrivalRateQps: number;
  /** Images offered since start, admitted or not (the load monitor's count). */
  arrivalsTotal: number;
  /** Gears of the plan (1 for a member model). */
  gearCount: number;
  /** The most accurate gear's upper load bound, and the cheapest gear's (the plan's capacity), items per second. */
  topGearCapacityQps: number;
  planCapacityQps: number;
  /** Seconds spent below the top gear, and on the cheapest gear (plans of two or more gears). */
  belowTopGearSeconds: number;
  cheapestGearSeconds: number;
  /** The plan's p95 latency objective, seconds. */
  sloP95Seconds: number;
  /**
   * Per model, positions of the dynamic axis its batches held since the engine started: the
   * items' own and the padding batch assembly added (typed inputs with a dynamic axis only).
   */
  padding: { model: string; itemPositions: number; paddedPositions: number }[];
}

export class ModelStats {
  readonly name: string;
  readonly version = '1';
  successCount = 0;
  successNs = 0;
  readonly failures: Record<FailureReason, number> = { rejected: 0, timeout: 0, backend: 0, invalid: 0, cancelled: 0 };
  failNs = 0;
  /** Items answered (nv_inference_count). */
  inferenceCount = 0;
  queueNs = 0;
  computeInputNs = 0;
  computeInferNs = 0;
  computeOutputNs = 0;
  lastInferenceMs = 0;
  /** Batches run by engines of this model that have closed (reloads keep the count). */
  closedExecutionCount = 0;
  /** Items answered per exit stage, by stage index (the gear's stage the item left at). */
  readonly stageExits: number[] = [];
  /** Items answered per model that answered. */
  readonly exitsByModel = new Map<string, number>();
  readonly gearSwitches = { cheaper: 0, more_accurate: 0 };
  /** Decision plus swap time of the gear switches, microseconds. */
  switchUsLast = 0;
  switchUsMax = 0;
  switchUsSum = 0;
  /** Switches by from gear id, to gear id and reason (key `from/to/reason`). */
  readonly switchesByKind = new Map<string, { from: number; to: number; reason: GearSwitchRecord['reason']; count: number }>();
  /** The last kSwitchLogLength switches, oldest first. */
  readonly switchLog: LoggedSwitch[] = [];

  constructor(name: string) {
    this.name = name;
  }

  recordSuccess(durationNs: number): void {
    this.successCount++;
    this.successNs += durationNs;
    this.lastInferenceMs = Date.now();
  }

  recordFailure(reason: FailureReason, durationNs: number): void {
    this.failures[reason]++;
    this.failNs += durationNs;
  }

  recordExit(stage: number, model: string): void {
    while (this.stageExits.length <= stage) this.stageExits.push(0);
    this.stageExits[stage]++;
    this.exitsByModel.set(model, (this.exitsByModel.get(model) ?? 0) + 1);
  }

  recordSwitch(cheaper: boolean, us: number): void {
    if (cheaper) this.gearSwitches.cheaper++;
    else this.gearSwitches.more_accurate++;
    this.switchUsLast = us;
    this.switchUsMax = Math.max(this.switchUsMax, us);
    this.switchUsSum += us;
  }

  /** Counts one switch by from, to and reason, and keeps it in the bounded log. */
  recordSwitchEvent(r: GearSwitchRecord, timeMs: number): void {
    const key = `${r.from}/${r.to}/${r.reason}`;
    const kind = this.switchesByKind.get(key);
    if (kind) kind.count++;
    else this.switchesByKind.set(key, { from: r.from, to: r.to, reason: r.reason, count: 1 });
    const { atMs, from, to, fromIndex, toIndex, rateQps, recentRateQps, backlogItems, failedRateQps, slowdown, recentDispersion, reason } = r;
    this.switchLog.push({ timeMs, atMs, from, to, fromIndex, toIndex, rateQps, recentRateQps, backlogItems, ...(failedRateQps !== undefined ? { failedRateQps } : {}), ...(slowdown !== undefined ? { slowdown } : {}), ...(recentDispersion !== undefined ? { recentDispersion } : {}), reason });
    if (this.switchLog.length > kSwitchLogLength) this.switchLog.shift();
  }

  get failureCount(): number {
    let n = 0;
    for (const r of kFailureReasons) n += this.failures[r];
    return n;
  }

  /** Triton's model_stats entry, plus the cascade's own figures. */
  toJSON(live: LiveFigures): Record<string, unknown> {
    const d = (count: number, ns: number): DurationStat => ({ count, ns: Math.round(ns) });
    const switches = this.gearSwitches.cheaper + this.gearSwitches.more_accurate;
    return {
      name: this.name,
      version: this.version,
      last_inference: this.lastInferenceMs,
      inference_count: this.inferenceCount,
      execution_count: live.executionCount,
      inference_stats: {
        success: d(this.successCount, this.successNs),
        fail: d(this.failureCount, this.failNs),
        queue: d(this.successCount, this.queueNs),
        compute_input: d(this.successCount, this.computeInputNs),
        compute_infer: d(this.successCount, this.computeInferNs),
        compute_output: d(this.successCount, this.computeOutputNs),
      },
      cascade: {
        gear: live.gearId,
        gear_index: live.gearIndex,
        expected_accuracy: live.expectedAccuracy,
        arrival_rate_qps: live.arrivalRateQps,
        pending_requests: live.pendingRequests,
        backlog_items: live.backlogItems,
        failures: { ...this.failures },
        stage_exits: this.stageExits.map((count, stage) => ({ stage, count })),
        model_exits: [...this.exitsByModel].map(([model, count]) => ({ model, count })),
        gear_switches: { ...this.gearSwitches },
        switch_time_us: { last: this.switchUsLast, max: this.switchUsMax, mean: switches ? this.switchUsSum / switches : 0 },
        padding: live.padding.map((p) => ({ model: p.model, item_positions: p.itemPositions, padded_positions: p.paddedPositions })),
      },
    };
  }
}
