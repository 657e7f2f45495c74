// GET /dashboard (the live page, ../dashboard-page.ts) and GET /v2/cascadeserve/status (the
// JSON it polls, ../status.ts). With --auth-token the status JSON needs the token like every
// API route; the page itself holds no data and is open (auth.ts), and sends the token it
// reads from its URL fragment.
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { kDashboardHtml } from '../dashboard-page.js';
import { cascadeStatus } from '../status.js';

export const kStatusPath = '/v2/cascadeserve/status';

export const dashboardRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/dashboard', async (_req, reply) => {
    reply
      .type('text/html; charset=utf-8')
      // Nothing but the page's own inline script and style, and fetches to this server.
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
      .header('cache-control', 'no-store')
      .send(kDashboardHtml);
  });
  app.get(kStatusPath, async (_req, reply) => {
    reply.header('cache-control', 'no-store').send(await cascadeStatus(ctx));
  });
};
