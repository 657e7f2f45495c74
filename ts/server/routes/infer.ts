// POST /v2/models/{name}[/versions/{v}]/infer: decode, admit, one engine.submit() for all the
// request's images, encode. Each accepted request is answered exactly once: the handler either
// returns one response or throws one error, which the server's error handler answers.
import { performance } from 'node:perf_hooks';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ItemResult } from '../../engine/engine.js';
import { decodeInferRequest, encodeInferResponse, isAcceptedContentType, parseRequestBody, type InferRequestBody } from '../codec.js';
import { lookupModel, type ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import type { FailureReason } from '../model-stats.js';
import type { InferAnswerLog } from '../request-log.js';
import { kErrorResponses, kInferRequestSchema, kInferResponseSchema, kModelParamsSchema } from '../schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Tensor bytes after the JSON header (binary tensor extension); null for plain JSON. */
    binaryTail: Buffer | null;
  }
}

type Params = { name: string; version?: string };

export const inferRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  // Bodies are read as bytes: with Inference-Header-Content-Length the JSON header is parsed
  // and the tail kept for the codec; otherwise the whole body is JSON. Any content type is
  // accepted (Triton's clients send application/octet-stream or none for binary bodies).
  app.decorateRequest('binaryTail', null);
  app.removeAllContentTypeParsers();
  const parse = (req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      const { header, tail } = parseRequestBody(body, req.headers['inference-header-content-length']);
      req.binaryTail = tail;
      done(null, header);
    } catch (e) {
      done(e as Error);
    }
  };
  // Before the body is read: other content types (a form post, text/plain) are refused, and
  // so is everything while the event loop lags (the cheapest refusal there is).
  app.addHook('onRequest', async (req: FastifyRequest<{ Params: Params }>) => {
    // An unknown model is a 404 whatever the body: the body is not even read.
    const model = lookupModel(ctx, req.params);
    if (req.method === 'POST' && !isAcceptedContentType(req.headers['content-type'])) {
      throw new HttpError('unsupported_media', 'unsupported content type; send application/json or, with Inference-Header-Content-Length, application/octet-stream');
    }
    const lag = ctx.loopLag;
    if (lag?.overloaded) {
      model.stats.recordFailure('rejected', 0);
      throw new HttpError('overloaded', `the server is overloaded (event loop ${Math.round(lag.lagMs)} ms behind)`, { retryAfterS: 1, statusCode: ctx.overloadStatus });
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parse);

  const schema = { params: kModelParamsSchema, body: kInferRequestSchema, response: { 200: kInferResponseSchema, ...kErrorResponses } };
  for (const path of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post<{ Params: Params; Body: InferRequestBody }>(path, { schema }, async (req, reply) => {
      const t0 = performance.now();
      const model = lookupModel(ctx, req.params);
      const answer: InferAnswerLog = { model: model.name };
      req.answer = answer;
      const stats = model.stats;
      const fail = (reason: FailureReason, err: HttpError): HttpError => {
        stats.recordFailure(reason, (performance.now() - t0) * 1e6);
        return err;
      };
      if (ctx.closing) throw fail('rejected', new HttpError('unavailable', 'the server is shutting down'));

      let decoded;
      try {
        decoded = decodeInferRequest(req.body, req.binaryTail ?? undefined, model.contract);
      } catch (e) {
        throw fail('invalid', e as HttpError);
      }
      const tDecoded = performance.now();
      answer.images = decoded.items;
      if (decoded.id !== undefined) answer.id = decoded.id;
      const engine = model.engineIfReady ?? (await model.engine());

      // Offered load counts whether or not the request is admitted: the gear follows demand.
      model.onArrival(decoded.items);
      const admission = model.admission.admit(decoded.items, decoded.timeoutUs, engine.inFlight);
      if (!admission.accepted) {
        // Too large for its deadline: 413, without Retry-After (the same request never fits).
        if (admission.kind === 'too_large_for_deadline') throw fail('rejected', new HttpError('too_large', admission.reason));
        throw fail('rejected', new HttpError('overloaded', admission.reason, { retryAfterS: admission.retryAfterS, statusCode: ctx.overloadStatus }));
      }
      // A client that went away while its body was read or decoded costs no engine work.
      if (req.raw.socket?.destroyed) {
        throw fail('cancelled', new HttpError('client_closed', 'the client closed the connection'));
      }
      const gearId = engine.gear.id;
      answer.gear = gearId;
      const wantOutput = decoded.outputs.some((o) => o.name === 'probabilities');
      model.pendingRequests++;
      let results: ItemResult[];
      try {
        results = await Promise.all(engine.submit(decoded.inputs, { budgetUs: admission.budgetUs, priority: decoded.priority, wantOutput }));
      } finally {
        model.pendingRequests--;
      }
      const tInferred = performance.now();
      answer.results = results;

      const failure = firstFailure(results);
      if (failure) {
        const { index, result } = failure;
        switch (result.status) {
          case 'error':
            req.log.error({ model: result.model, image: index, error: result.error }, 'model failure');
            throw fail('backend', new HttpError('model_failure', `model '${result.model}' failed on image ${index}`));
          case 'timeout':
            throw fail('timeout', new HttpError('deadline', `image ${index} was not answered within its deadline of ${Math.round(admission.budgetUs / 1000)} ms`));
          case 'overloaded':
            throw fail('rejected', new HttpError('overloaded', `the queue of model '${result.model}' is full`, { retryAfterS: 1, statusCode: ctx.overloadStatus }));
          default:
            throw fail('cancelled', new HttpError('unavailable', 'the server is shutting down'));
        }
      }

      const encoded = encodeInferResponse(results, decoded.outputs, {
        modelName: model.name,
        id: decoded.id,
        gearId,
        classes: model.classes,
        outputIsLogits: model.outputIsLogits,
      });
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

      if (encoded.kind === 'json') return encoded.body;
      reply.header('Inference-Header-Content-Length', String(encoded.headerLength)).type('application/octet-stream');
      return encoded.body;
    });
  }
};

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
