// POST /v2/models/{name}[/versions/{v}]/infer: the shared inference path (infer-core.ts) with
// REST's decoding and encoding. Each accepted request is answered exactly once: the handler
// either returns one response or throws one error, which the server's error handler answers.
import { performance } from 'node:perf_hooks';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { decodeInferRequest, encodeInferResponse, isAcceptedContentType, parseRequestBody, type InferRequestBody } from '../codec.js';
import { lookupModel, type ServerContext } from '../context.js';
import { HttpError } from '../errors.js';
import { refuseWhileLagging, runInference } from '../infer-core.js';
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
    if (ctx.loopLag?.overloaded) refuseWhileLagging(ctx, model);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parse);

  const schema = { params: kModelParamsSchema, body: kInferRequestSchema, response: { 200: kInferResponseSchema, ...kErrorResponses } };
  for (const path of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post<{ Params: Params; Body: InferRequestBody }>(path, { schema }, async (req, reply) => {
      const t0 = performance.now();
      const model = lookupModel(ctx, req.params);
      const answer: InferAnswerLog = { model: model.name };
      req.answer = answer;
      const encoded = await runInference(ctx, model, {
        t0,
        answer,
        logError: (obj, msg) => req.log.error(obj, msg),
        decode: () => decodeInferRequest(req.body, req.binaryTail ?? undefined, model.contract),
        clientGone: () => req.raw.socket?.destroyed === true,
        encode: (results, decoded, gearId) =>
          encodeInferResponse(results, decoded.outputs, {
            modelName: model.name,
            id: decoded.id,
            gearId,
            classes: model.classes,
            outputIsLogits: model.outputIsLogits,
          }),
      });
      if (encoded.kind === 'json') return encoded.body;
      reply.header('Inference-Header-Content-Length', String(encoded.headerLength)).type('application/octet-stream');
      return encoded.body;
    });
  }
};
