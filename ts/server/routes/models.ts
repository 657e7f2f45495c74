// Model endpoints: metadata, readiness, configuration and statistics, with and without /versions/{v}.
import type { FastifyPluginAsync } from 'fastify';
import { HttpError } from '../errors.js';
import { lookupModel, type ServerContext } from '../context.js';
import { modelConfig } from '../model-config.js';
import { kErrorResponses, kModelMetadataSchema, kModelParamsSchema, kStatsSchema } from '../schemas.js';
import type { ServedModel } from '../served-model.js';

type Params = { name: string; version?: string };

export const modelRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const statsOf = (models: ServedModel[]) => ({ model_stats: models.map((m) => m.stats.toJSON(m.live())) });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{ Params: Params }>(prefix, { schema: { params: kModelParamsSchema, response: { 200: kModelMetadataSchema, ...kErrorResponses } } }, async (req) =>
      lookupModel(ctx, req.params).metadata(),
    );
    app.get<{ Params: Params }>(`${prefix}/ready`, { schema: { params: kModelParamsSchema, response: kErrorResponses } }, async (req, reply) => {
      const model = lookupModel(ctx, req.params);
      if (ctx.closing || !model.ready) throw new HttpError('unavailable', `model '${model.name}' is not ready`);
      reply.code(200).send();
    });
    // Triton's model configuration; its shape is model-config.ts's (serialized as built).
    app.get<{ Params: Params }>(`${prefix}/config`, { schema: { params: kModelParamsSchema, response: kErrorResponses } }, async (req) =>
      modelConfig(lookupModel(ctx, req.params)),
    );
    app.get<{ Params: Params }>(`${prefix}/stats`, { schema: { params: kModelParamsSchema, response: { 200: kStatsSchema, ...kErrorResponses } } }, async (req) =>
      statsOf([lookupModel(ctx, req.params)]),
    );
  }
  app.get('/v2/models/stats', { schema: { response: { 200: kStatsSchema, ...kErrorResponses } } }, async () => statsOf([...ctx.models.values()]));
};
