// The inference path both protocols share (REST's infer route, gRPC's ModelInfer): decode,
// admission, one engine.submit() (submitTensors() for typed inputs) for all the request's
// items, the failure mapping, the statistics and metrics, then the protocol's own encoding.
// It answers by returning the encoded response or throwing one HttpError (already counted in
// the model's statistics), so each protocol answers every accepted request exactly once.
import { performance } from 'node:perf_hooks';
import type { ItemResult } from '../engine/engine.js';
import type { DecodedRequest } from './codec.js';
import type { ServerContext } from './context.js';
import { HttpError } from './errors.js';
import type { FailureReason } from './model-stats.js';
import type { InferAnswerLog } from './request-log.js';
import type { ServedModel } from './served-model.js';

export interface InferCall<T> {
  /** performance.now() when the request arrived. */
  t0: number;
  /** The protocol's request as a DecodedRequest; throws HttpError (4xx) naming the field. */
  decode(): DecodedRequest;
  /** Whether the client went away (checked before engine work is spent on it). */
  clientGone(): boolean;
  /** The protocol's response from results that are all 'ok'. */
  encode(results: ItemResult[], decoded: DecodedRequest, gearId: number): T;
  /** Filled as the request goes (images, id, gear, results) for its log line (request-log.ts). */
  answer?: InferAnswerLog;
  /** Where a model failure is logged (the request's logger). */
  logError?(obj: object, msg: string): void;
}

/**
 * The event-loop lag refusal (the cheapest one there is): throws the overload error, counted
 * as a rejection of `model`, while the loop lags beyond the server's bound.
 */
export function refuseWhileLagging(ctx: ServerContext, model: ServedModel): void {
  const lag = ctx.loopLag;
  if (lag?.overloaded) {
    model.stats.recordFailure('rejected', 0);
    throw new HttpError('overloaded', `the server is overloaded (event loop ${Math.round(lag.lagMs)} ms behind)`, { retryAfterS: 1, statusCode: ctx.overloadStatus });
  }
}

export async function runInference<T>(ctx: ServerContext, model: ServedModel, call: InferCall<T>): Promise<T> {
  const t0 = call.t0;
  const stats = model.stats;
  const fail = (reason: FailureReason, err: HttpError): HttpError => {
    stats.recordFailure(reason, (performance.now() - t0) * 1e6);
    return err;
  };
  if (ctx.closing) throw fail('rejected', new HttpError('unavailable', 'the server is shutting down'));

  let decoded: DecodedRequest;
  try {
    decoded = call.decode();
  } catch (e) {
    throw fail('invalid', e as HttpError);
  }
  const tDecoded = performance.now();
  const answer = call.answer;
  if (answer) {
    answer.images = decoded.items;
    if (decoded.id !== undefined) answer.id = decoded.id;
  }
  // Counted from here, not from the submission: a reload closes the models it replaced only
  // once none of them has a request pending, including one waiting for its engine.
  model.pendingRequests++;
  let results: ItemResult[];
  let gearId: number;
  let budgetUs: number;
  // Failures for load tell the gear policy that the running gear holds less than planned
  // (gear-policy.ts); a request with its own shorter timeout does not count.
  const ownDeadline = decoded.timeoutUs !== undefined && decoded.timeoutUs < model.admission.sloUs;
  try {
    const engine = model.engineIfReady ?? (await model.engine());
    // Offered load counts whether or not the request is admitted: the gear follows demand.
    model.onArrival(decoded.items);
    const admission = model.admission.admit(decoded.items, decoded.timeoutUs, engine.inFlight);
    if (!admission.accepted) {
      // Too large for its deadline: 413, without Retry-After (the same request never fits).
      if (admission.kind === 'too_large_for_deadline') throw fail('rejected', new HttpError('too_large', admission.reason));
      if (!ownDeadline) model.recordLoadFailures(decoded.items);
      throw fail('rejected', new HttpError('overloaded', admission.reason, { retryAfterS: admission.retryAfterS, statusCode: ctx.overloadStatus }));
    }
    // A client that went away while its request was read or decoded costs no engine work.
    if (call.clientGone()) throw fail('cancelled', new HttpError('client_closed', 'the client closed the connection'));
    gearId = engine.gear.id;
    if (answer) answer.gear = gearId;
    budgetUs = admission.budgetUs;
    const wantOutput = decoded.outputs.some((o) => o.name === 'probabilities');
    const options = { budgetUs, priority: decoded.priority, wantOutput };
    results = await Promise.all(decoded.tensors ? engine.submitTensors(decoded.tensors, options) : engine.submit(decoded.inputs, options));
  } finally {
    model.pendingRequests--;
  }
  const tInferred = performance.now();
  if (answer) answer.results = results;

  const failure = firstFailure(results);
  if (failure) {
    if (!ownDeadline) {
      let failed = 0;
      for (const r of results) if (r.status === 'timeout' || r.status === 'overloaded') failed++;
      model.recordLoadFailures(failed);
    }
    const { index, result } = failure;
    switch (result.status) {
      case 'error':
        call.logError?.({ model: result.model, item: index, error: result.error }, 'model failure');
        throw fail('backend', new HttpError('model_failure', `model '${result.model}' failed on item ${index}`));
      case 'timeout':
        throw fail('timeout', new HttpError('deadline', `item ${index} was not answered within its deadline of ${Math.round(budgetUs / 1000)} ms`));
      case 'overloaded':
        throw fail('rejected', new HttpError('overloaded', `the queue of model '${result.model}' is full`, { retryAfterS: 1, statusCode: ctx.overloadStatus }));
      default:
        throw fail('cancelled', new HttpError('unavailable', 'the server is shutting down'));
    }
  }

  const encoded = call.encode(results, decoded, gearId);
  const tEncoded = performance.now();

  let queueUs = 0;
  let computeUs = 0;
  for (const r of results) {
    if (r.queuedUs > queueUs) queueUs = r.queuedUs;
    if (r.computeUs > computeUs) computeUs = r.computeUs;
    stats.recordExit(r.exitStage, r.model);
  }
  stats.inferenceCount += results.length;
  stats.queueNs += queueUs * 1000;
  stats.computeInferNs += computeUs * 1000;
  stats.computeInputNs += (tDecoded - t0) * 1e6;
  stats.computeOutputNs += (tEncoded - tInferred) * 1e6;
  stats.recordSuccess((tEncoded - t0) * 1e6);
  ctx.metrics.observeRequest(model.name, (tEncoded - t0) / 1000);
  return encoded;
}

/** The first item that did not succeed, preferring errors over timeouts over refusals. */
function firstFailure(results: ItemResult[]): { index: number; result: ItemResult } | null {
  let best: { index: number; result: ItemResult } | null = null;
  const rank = { ok: 0, cancelled: 1, overloaded: 2, timeout: 3, error: 4 } as const;
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r.status !== 'ok' && (!best || rank[r.status] > rank[best.result.status])) best = { index: i, result: r };
  }
  return best;
}
