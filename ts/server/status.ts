// The cascade's live state as one small JSON document (GET /v2/cascadeserve/status), read by
// the /dashboard page every second. Counters are cumulative since start: the page turns
// consecutive samples into rates, and the histogram's cumulative bucket counts into a p95
// over its own recent window, so one poll cannot be skewed by another client's.
import { BacklogGearPolicy } from './gear-policy.js';
import type { ServerContext } from './context.js';

export interface StatusGear {
  id: number;
  index: number;
  min_qps: number;
  max_qps: number;
  expected_accuracy: number;
}

/** One switch of the recent-switch log. */
export interface StatusSwitch {
  /** Wall clock, epoch ms. */
  time_ms: number;
  from: number;
  to: number;
  from_index: number;
  to_index: number;
  /** The load the decision read: window and recent arrival rates (images/s), backlog (images). */
  rate_qps: number;
  recent_rate_qps: number;
  backlog_items: number;
  /** Items failing for load per second the decision read. */
  failed_rate_qps: number;
  /** The host slowdown the decision read (measured over planned batch time); null where none was measured. */
  slowdown: number | null;
  /** How much more the recent window's count varied than a Poisson count's (LoadMonitor.dispersion); null where none was measured. */
  recent_dispersion: number | null;
  reason: string;
}

export interface CascadeStatus {
  model: string;
  time_ms: number;
  slo_p95_ms: number;
  gear: { id: number; index: number; expected_accuracy: number };
  /** The load monitor's rate over its window (what the gear policy reads), images per second. */
  arrival_rate_qps: number;
  arrivals_total: number;
  requests: { success: number; rejected: number; failed_other: number };
  stage_exits: number[];
  gear_switches: { cheaper: number; more_accurate: number };
  /** The last switches (at most kSwitchLogLength), oldest first. */
  recent_switches: StatusSwitch[];
  /** The backlog policy's overload horizon in use (plan or --overload-horizon-ms), ms; null under another policy. */
  overload_horizon_ms: number | null;
  /** The host slowdown the backlog policy's figures were at in its latest look (1: the plan's); null under another policy. */
  host_slowdown: number | null;
  /**
   * The backlog policy's accuracy budget (plans with a load-weighted accuracy target): the
   * target, the balance banked (item-points: sum of gear accuracy - target over served items,
   * negative when owed) and its window; null without one.
   */
  accuracy_budget: { target: number; balance_items: number; window_ms: number } | null;
  latency: { le_s: number[]; cumulative: number[] };
  gears: StatusGear[];
}

export async function cascadeStatus(ctx: ServerContext): Promise<CascadeStatus> {
  const m = ctx.cascade;
  const live = m.live();
  const gears = m.gearController?.gears ?? [];
  const policy = m.gearController?.policy;
  const buckets = await ctx.metrics.requestDurationBuckets(m.name);
  const rejected = m.stats.failures.rejected;
  return {
    model: m.name,
    time_ms: Date.now(),
    slo_p95_ms: live.sloP95Seconds * 1000,
    gear: { id: live.gearId, index: live.gearIndex, expected_accuracy: live.expectedAccuracy },
    arrival_rate_qps: live.arrivalRateQps,
    arrivals_total: live.arrivalsTotal,
    requests: { success: m.stats.successCount, rejected, failed_other: m.stats.failureCount - rejected },
    stage_exits: [...m.stats.stageExits],
    gear_switches: { ...m.stats.gearSwitches },
    recent_switches: m.stats.switchLog.map((e) => ({ time_ms: e.timeMs, from: e.from, to: e.to, from_index: e.fromIndex, to_index: e.toIndex, rate_qps: e.rateQps, recent_rate_qps: e.recentRateQps, backlog_items: e.backlogItems, failed_rate_qps: e.failedRateQps ?? 0, slowdown: e.slowdown ?? null, recent_dispersion: e.recentDispersion ?? null, reason: e.reason })),
    overload_horizon_ms: policy instanceof BacklogGearPolicy ? policy.overloadHorizonMs : null,
    host_slowdown: policy instanceof BacklogGearPolicy ? policy.slowdown : null,
    accuracy_budget: policy instanceof BacklogGearPolicy && policy.accuracyBudget ? { target: policy.accuracyBudget.target, balance_items: policy.accuracyBudget.balance, window_ms: policy.accuracyBudget.windowMs } : null,
    latency: { le_s: buckets.leSeconds, cumulative: buckets.cumulative },
    gears: gears.map((g) => ({ id: g.id, index: g.index, min_qps: g.minQps, max_qps: g.maxQps, expected_accuracy: g.expectedAccuracy })),
  };
}
