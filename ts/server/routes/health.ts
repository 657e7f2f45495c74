// Server-level endpoints: liveness, readiness and server metadata.
import type { FastifyPluginAsync } from 'fastify';
import { HttpError } from '../errors.js';
import type { ServerContext } from '../context.js';
import { kErrorResponses, kServerMetadataSchema } from '../schemas.js';

/** Extensions of the protocol this server speaks (Triton's names). */
export const kExtensions = ['binary_tensor_data', 'parameters', 'statistics', 'schedule_policy', 'model_configuration', 'model_repository'];

export const healthRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/v2/health/live', { schema: { response: kErrorResponses } }, async (_req, reply) => {
    reply.code(200).send();
  });
  app.get('/v2/health/ready', { schema: { response: kErrorResponses } }, async (_req, reply) => {
    if (ctx.closing || !ctx.cascade.ready) throw new HttpError('unavailable', ctx.closing ? 'the server is shutting down' : 'the cascade is not ready');
    reply.code(200).send();
  });
  app.get('/v2', { schema: { response: { 200: kServerMetadataSchema, ...kErrorResponses } } }, async () => ({
    name: ctx.serverName,
    version: ctx.serverVersion,
    extensions: kExtensions,
  }));
};
