// Test fixture for the server tests: a manifest and a gear plan in a temp directory over the
// small fixture models (input 'x' [N,16] float32, output 'y' [N,4] logits), so the tests
// never depend on the zoo. gather_mlp fails at run time when an item's first value is outside
// [0, 8): that is the model failure (500) case.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kPlanSchema, validatePlan, type Plan, type PlanGear } from '../ts/contracts/plan-schema.js';
import { createServer, type CascadeServer, type ServerOptions } from '../ts/server/server.js';
import { fixture } from './paths.js';

export const kItemElems = 16;
export const kClasses = 4;

export interface FixturePlanOptions {
  /** Upper load bound of the accurate gear (id 1); the cheap gear (id 2) serves above it. */
  accurateMaxQps?: number;
  sloMs?: number;
  lanes?: number;
  /** The plan's gear-policy parameters (plan.policy). */
  policy?: Plan['policy'];
  /** Batch times the plan claims per model (models[].batchTimesUs; the host speed reads them). */
  batchTimesUs?: Record<string, { batch: number; p50Us: number }[]>;
  /** The plan's accuracy objective (a load-weighted target engages the policy's accuracy budget). */
  accuracyObjective?: Plan['accuracyObjective'];
}

/** The sha256 a plan records for a model file. */
export const sha256Of = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Writes cascade.json and plan.json into a new temp dir; returns the plan path and cleanup. */
export function writeFixturePlan(o: FixturePlanOptions = {}): { planPath: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cs-server-'));
  writeFileSync(join(dir, 'validation.bin'), '');
  writeFileSync(join(dir, 'heldout.bin'), '');
  const manifest = {
    name: 'fixture',
    version: 1,
    description: 'two small MLPs over 16 floats, 4 classes',
    input: { name: 'x', shape: [kItemElems], datatype: 'FP32', preprocessing: 'none' },
    output: { name: 'y', kind: 'logits', classes: kClasses },
    classNames: ['a', 'b', 'c', 'd'],
    data: { validation: 'validation.bin', heldout: 'heldout.bin' },
    models: [
      { name: 'small', file: fixture('mlp_small.onnx'), params: 100, mflopsPerImage: 0.001 },
      { name: 'gather', file: fixture('gather_mlp.onnx'), params: 200, mflopsPerImage: 0.002 },
    ],
  };
  writeFileSync(join(dir, 'cascade.json'), JSON.stringify(manifest, null, 2));
  const lanes = o.lanes ?? 1;
  const shares = (lane0Only = false) => Array.from({ length: lanes }, (_, i) => (lane0Only ? (i === 0 ? 1 : 0) : 1 / lanes));
  const stage = (model: string, threshold: number, maxBatch: number) => ({ model, threshold, measure: 'max_prob' as const, maxBatch, maxQueueDelayUs: 0, laneShares: shares() });
  const accurateMax = o.accurateMaxQps ?? 1e6;
  const gears: PlanGear[] = [
    { id: 1, minQps: 0, maxQps: accurateMax, stages: [stage('small', 0.6, 16), stage('gather', 0, 16)], expectedAccuracy: 0.9, expectedCostUs: 40, predictedP95Ms: 5, utilization: 0.5 },
  ];
  if (accurateMax < 1e6) {
    gears.push({ id: 2, minQps: accurateMax, maxQps: 1e6, stages: [stage('small', 0, 32)], expectedAccuracy: 0.8, expectedCostUs: 20, predictedP95Ms: 5, utilization: 0.5 });
  }
  const plan: Plan = {
    schema: kPlanSchema,
    createdAt: new Date().toISOString(),
    profile: { path: 'profile.json', createdAt: new Date().toISOString(), models: [] },
    manifest: { path: 'cascade.json', name: 'fixture' },
    slo: { p95Ms: o.sloMs ?? 1000 },
    objective: 'accuracy',
    utilizationCap: 0.8,
    lanes: Array.from({ length: lanes }, () => ({ kind: 'cpu' as const, intraOpThreads: 1 })),
    placement: { small: Array.from({ length: lanes }, (_, i) => i), gather: Array.from({ length: lanes }, (_, i) => i) },
    models: [
      { name: 'small', file: 'mlp_small.onnx', sha256: sha256Of(fixture('mlp_small.onnx')), memoryBytes: 1000, ...(o.batchTimesUs?.small ? { batchTimesUs: o.batchTimesUs.small } : {}) },
      { name: 'gather', file: 'gather_mlp.onnx', sha256: sha256Of(fixture('gather_mlp.onnx')), memoryBytes: 1000, ...(o.batchTimesUs?.gather ? { batchTimesUs: o.batchTimesUs.gather } : {}) },
    ],
    loadGrid: { levels: 2, maxQps: 1e6 },
    gears,
    unservable: [],
    planner: { thresholdsPerStage: 20, maxStages: 2, candidatesEvaluated: 1, frontierSize: 1, gearCandidates: 1, batchTimeRule: 'step-up', simulation: { requests: 0, seed: 1, burstAmplitude: 1.5, burstPhaseMs: 50 } },
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.accuracyObjective ? { minAccuracy: o.accuracyObjective.target, accuracyObjective: o.accuracyObjective } : {}),
  };
  validatePlan(plan); // the fixture must stay a valid plan
  const planPath = join(dir, 'plan.json');
  writeFileSync(planPath, JSON.stringify(plan, null, 2));
  return { planPath, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fixture plan served on a free port; `stop()` closes the server and removes the files. */
export async function startFixtureServer(
  planOptions: FixturePlanOptions = {},
  serverOptions: Partial<ServerOptions> = {},
): Promise<{ server: CascadeServer; url: string; planPath: string; stop: () => Promise<void> }> {
  const { planPath, cleanup } = writeFixturePlan(planOptions);
  const server = await createServer({ plan: planPath, port: 0, ...serverOptions });
  const url = await server.listen();
  return {
    server,
    url,
    planPath,
    stop: async () => {
      await server.close();
      cleanup();
    },
  };
}

/** Items whose first value is a valid Gather index (0..7), the rest pseudo-random. */
export function items(n: number, seed = 1): Float32Array {
  const x = new Float32Array(n * kItemElems);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = i % kItemElems === 0 ? s >>> 29 : (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

/** A JSON infer request body for `x` (flat data, FP32). */
export function jsonRequest(x: Float32Array, extra: Record<string, unknown> = {}, nested = false): Record<string, unknown> {
  const n = x.length / kItemElems;
  const flat = Array.from(x);
  const data = nested ? Array.from({ length: n }, (_, i) => flat.slice(i * kItemElems, (i + 1) * kItemElems)) : flat;
  return { inputs: [{ name: 'x', shape: [n, kItemElems], datatype: 'FP32', data }], ...extra };
}

/** A binary-extension request body: JSON header, then the FP32 bytes. */
export function binaryRequest(x: Float32Array, extra: Record<string, unknown> = {}): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  const n = x.length / kItemElems;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [n, kItemElems], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], ...extra }));
  return {
    body: new Uint8Array(Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)])) as Uint8Array<ArrayBuffer>,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

/** Splits a binary response into its JSON header and the bytes of each output, in order. */
export function parseBinaryResponse(buf: Buffer, headerLength: number): { header: { outputs: { name: string; shape: number[]; parameters: Record<string, unknown> }[] } & Record<string, unknown>; blobs: Buffer[] } {
  const header = JSON.parse(buf.subarray(0, headerLength).toString('utf8'));
  const blobs: Buffer[] = [];
  let at = headerLength;
  for (const o of header.outputs) {
    const size = (o.parameters?.binary_data_size as number | undefined) ?? 0;
    blobs.push(buf.subarray(at, at + size));
    at += size;
  }
  return { header, blobs };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: r.status, json, headers: r.headers };
}
