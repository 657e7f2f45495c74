// Methods per route: a known path asked with another method answers 405 with an Allow header
// (not 404, which would say the path does not exist), and OPTIONS answers 204 with Allow. The
// routes' methods are collected as they are registered (onRoute); once all are registered,
// the other methods of each path get a route that answers so.
import type { FastifyInstance, FastifyReply, HTTPMethods } from 'fastify';
import { HttpError } from './errors.js';

/** The methods answered per path: those of the routes, plus 405s for these others. */
const kOtherMethods: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** Marks the routes this module adds, so that collecting ignores them. */
const kAnswersMethods = Symbol('answersMethods');

export class RouteMethods {
  #byUrl = new Map<string, Set<string>>();

  /** Starts collecting: call before the routes are registered. */
  collect(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      if ((route.config as Record<symbol, unknown> | undefined)?.[kAnswersMethods]) return;
      const methods = this.#byUrl.get(route.url) ?? new Set<string>();
      for (const m of [route.method].flat()) methods.add(m);
      // Fastify answers HEAD for every GET route (exposeHeadRoutes).
      if (methods.has('GET')) methods.add('HEAD');
      this.#byUrl.set(route.url, methods);
    });
  }

  /** Methods a route pattern answers, OPTIONS included (the Allow header's value). */
  allowed(url: string): string[] {
    const methods = this.#byUrl.get(url);
    return methods ? [...methods, 'OPTIONS'].filter((m, i, all) => all.indexOf(m) === i) : [];
  }

  /** Adds the 405 and OPTIONS answers: call after every route is registered. */
  answerOtherMethods(app: FastifyInstance): void {
    for (const [url, methods] of this.#byUrl) {
      const missing = kOtherMethods.filter((m) => !methods.has(m));
      if (missing.length === 0) continue;
      const allow = this.allowed(url).join(', ');
      app.route({
        method: missing,
        url,
        config: { [kAnswersMethods]: true },
        exposeHeadRoute: false,
        handler: async (req, reply: FastifyReply) => {
          reply.header('Allow', allow);
          if (req.method === 'OPTIONS') return reply.code(204).send();
          throw new HttpError('method_not_allowed', `method ${req.method} is not allowed on ${url}; allowed: ${allow}`);
        },
      });
    }
  }
}
