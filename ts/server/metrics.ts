// Prometheus metrics (prom-client, one Registry per server): Triton's names and labels
// (model, version) so existing dashboards work, plus the cascade's own figures. Counters are
// read from ModelStats at scrape time (one source of truth shared with /stats), except the
// request-duration histogram, which needs each observation.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { kFailureReasons, type LiveFigures, type ModelStats } from './model-stats.js';

export interface MetricsSource {
  stats: ModelStats;
  live(): LiveFigures;
  /** The cascade (true) or a member model served alone: the plan's figures are the cascade's only. */
  cascade: boolean;
}

export interface ServerMetrics {
  registry: Registry;
  /** Observes one answered request's end-to-end duration. */
  observeRequest(model: string, seconds: number): void;
  observeSwitch(model: string, seconds: number): void;
  /** Cumulative counts of the request-duration histogram of one model, by upper bound (seconds). */
  requestDurationBuckets(model: string): Promise<{ leSeconds: number[]; cumulative: number[] }>;
}

/** Upper bounds of the request-duration histogram, seconds. */
const kRequestBucketsS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2];

export function createMetrics(sources: () => MetricsSource[]): ServerMetrics {
  const registry = new Registry();
  const labelNames = ['model', 'version'] as const;

  // Sets every labelled series from a snapshot; counters are reset first so that the value
  // is the cumulative figure from ModelStats (prom-client counters can only inc()).
  const counter = (name: string, help: string, value: (s: MetricsSource) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) this.inc({ model: s.stats.name, version: s.stats.version }, value(s));
      },
    });
  const gauge = (name: string, help: string, value: (s: MetricsSource, live: LiveFigures) => number, only: (s: MetricsSource) => boolean = () => true) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) if (only(s)) this.set({ model: s.stats.name, version: s.stats.version }, value(s, s.live()));
      },
    });
  const cascadeCounter = (name: string, help: string, value: (live: LiveFigures) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) if (s.cascade) this.inc({ model: s.stats.name, version: s.stats.version }, value(s.live()));
      },
    });
  const isCascade = (s: MetricsSource) => s.cascade;

  counter('nv_inference_request_success', 'Successful inference requests', (s) => s.stats.successCount);
  new Counter({
    name: 'nv_inference_request_failure',
    help: 'Failed inference requests, by reason (rejected = refused by admission control or a full queue)',
    labelNames: ['model', 'version', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) for (const reason of kFailureReasons) this.inc({ model: s.stats.name, version: s.stats.version, reason }, s.stats.failures[reason]);
    },
  });
  counter('nv_inference_count', 'Inferences performed (one per image)', (s) => s.stats.inferenceCount);
  counter('nv_inference_exec_count', 'Model executions (one per batch, over all stages)', (s) => s.live().executionCount);
  counter('nv_inference_request_duration_us', 'Cumulative end-to-end duration of successful requests, microseconds', (s) => s.stats.successNs / 1000);
  counter('nv_inference_queue_duration_us', 'Cumulative queue time of successful requests, microseconds', (s) => s.stats.queueNs / 1000);
  counter('nv_inference_compute_input_duration_us', 'Cumulative input decoding time, microseconds', (s) => s.stats.computeInputNs / 1000);
  counter('nv_inference_compute_infer_duration_us', 'Cumulative model execution time, microseconds', (s) => s.stats.computeInferNs / 1000);
  counter('nv_inference_compute_output_duration_us', 'Cumulative output encoding time, microseconds', (s) => s.stats.computeOutputNs / 1000);
  gauge('nv_inference_pending_request_count', 'Requests accepted and not yet answered', (_, live) => live.pendingRequests);

  new Counter({
    name: 'cascadeserve_stage_exits_total',
    help: 'Images answered, by the cascade stage they exited at and the model that answered',
    labelNames: ['model', 'version', 'stage'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) s.stats.stageExits.forEach((n, stage) => this.inc({ model: s.stats.name, version: s.stats.version, stage: String(stage) }, n));
    },
  });
  new Counter({
    name: 'cascadeserve_gear_switches_total',
    help: 'Gear switches, by direction (cheaper or more_accurate)',
    labelNames: ['model', 'version', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) {
        for (const direction of ['cheaper', 'more_accurate'] as const) this.inc({ model: s.stats.name, version: s.stats.version, direction }, s.stats.gearSwitches[direction]);
      }
    },
  });
  new Counter({
    name: 'cascadeserve_gear_switch_events_total',
    help: 'Gear switches, by the gear left (from, id), the gear taken (to, id) and the policy\'s reason (would_miss, cannot_meet, failing, drained, accuracy_budget, true_rate)',
    labelNames: ['model', 'version', 'from', 'to', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) {
        for (const k of s.stats.switchesByKind.values()) this.inc({ model: s.stats.name, version: s.stats.version, from: String(k.from), to: String(k.to), reason: k.reason }, k.count);
      }
    },
  });
  gauge('cascadeserve_gear', 'Id of the gear running now', (_, live) => live.gearId);
  gauge('cascadeserve_arrival_rate_qps', 'Measured arrival rate over the load window, images per second', (_, live) => live.arrivalRateQps);
  gauge('cascadeserve_expected_accuracy', "The current gear's expected accuracy (from the plan)", (_, live) => live.expectedAccuracy);
  gauge('cascadeserve_backlog_images', 'Images accepted and not yet answered', (_, live) => live.backlogItems);
  counter('cascadeserve_arrivals_total', 'Images offered, counted before admission (refused ones too): the demand the gears follow', (s) => s.live().arrivalsTotal);

  // The plan's figures and the time spent per gear position: the autoscaling signals
  // (deploy/prometheus/rules.yaml) divide the arrival rate by the top gear's capacity and
  // alert on sustained time on the cheapest gear. The cascade only: a member has one gear.
  gauge('cascadeserve_gear_index', "Position of the running gear in the plan: 0 = most accurate, cascadeserve_gears - 1 = cheapest", (_, live) => live.gearIndex, isCascade);
  gauge('cascadeserve_gears', 'Gears in the plan', (_, live) => live.gearCount, isCascade);
  gauge('cascadeserve_top_gear_capacity_qps', "The most accurate gear's upper load bound from the plan, images per second", (_, live) => live.topGearCapacityQps, isCascade);
  gauge('cascadeserve_plan_capacity_qps', "The cheapest gear's upper load bound from the plan (the most one replica is planned for), images per second", (_, live) => live.planCapacityQps, isCascade);
  gauge('cascadeserve_slo_p95_seconds', "The plan's p95 latency objective, seconds", (_, live) => live.sloP95Seconds, isCascade);
  cascadeCounter('cascadeserve_below_top_gear_seconds_total', 'Seconds spent on a gear other than the most accurate one', (live) => live.belowTopGearSeconds);
  cascadeCounter('cascadeserve_cheapest_gear_seconds_total', 'Seconds spent on the cheapest gear (plans of two or more gears): the plan\'s capacity is reached', (live) => live.cheapestGearSeconds);

  const requestSeconds = new Histogram({
    name: 'cascadeserve_request_duration_seconds',
    help: 'End-to-end duration of successful inference requests',
    labelNames,
    buckets: [...kRequestBucketsS],
    registers: [registry],
  });
  const switchSeconds = new Histogram({
    name: 'cascadeserve_gear_switch_duration_seconds',
    help: 'Gear switch decision plus engine swap time',
    labelNames,
    buckets: [1e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3],
    registers: [registry],
  });
  // The version label as the other metrics carry it (the served model's), '1' for a model no
  // source knows.
  const versionOf = (model: string): string => sources().find((s) => s.stats.name === model)?.stats.version ?? '1';
  // Children cached per model: observe() on a child skips hashing the labels per request.
  const requestChildren = new Map<string, { observe(v: number): void }>();
  return {
    registry,
    observeRequest: (model, seconds) => {
      let child = requestChildren.get(model);
      if (!child) requestChildren.set(model, (child = requestSeconds.labels({ model, version: versionOf(model) })));
      child.observe(seconds);
    },
    observeSwitch: (model, seconds) => switchSeconds.observe({ model, version: versionOf(model) }, seconds),
    requestDurationBuckets: async (model) => {
      // prom-client types a histogram's labels by its own label names; its buckets also carry `le`.
      const labels = (v: { labels: object }) => v.labels as Record<string, string | number | undefined>;
      const buckets = (await requestSeconds.get()).values.filter((v) => v.metricName === 'cascadeserve_request_duration_seconds_bucket' && labels(v).model === model && labels(v).le !== '+Inf');
      if (buckets.length === 0) return { leSeconds: [...kRequestBucketsS], cumulative: kRequestBucketsS.map(() => 0) };
      return { leSeconds: buckets.map((b) => Number(labels(b).le)), cumulative: buckets.map((b) => b.value) };
    },
  };
}
