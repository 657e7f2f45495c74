// GET /metrics: the Prometheus exposition of the server's registry.
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';

export const metricsRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/metrics', async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    reply.type(ctx.metrics.registry.contentType).send(text);
  });
};
