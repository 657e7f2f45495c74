// Optional bearer-token authentication: every route except liveness, readiness and /metrics
// (which probes and scrapers reach without credentials) needs `Authorization: Bearer <token>`;
// so does the /dashboard page's data, while the page itself (no data in it) is open: it sends
// the token it reads from its URL fragment.
// The comparison takes the same time whatever the token sent: both sides are hashed first
// (equal lengths), then compared with timingSafeEqual.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

/** Routes open without a token (matched route patterns, not raw URLs). */
export const kOpenRoutes: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready', '/metrics', '/dashboard']);

const kRealm = 'Bearer realm="cascadeserve"';
const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Checks a token option: printable ASCII without spaces, 16 to 4096 characters. */
export function validateAuthToken(token: string, what = 'authToken'): string {
  if (!/^[\x21-\x7e]{16,4096}$/.test(token)) {
    throw new RangeError(`${what} must be 16 to 4096 printable ASCII characters without spaces`);
  }
  return token;
}

/** Adds the check as the root onRequest hook: before routing's 404s and body parsing. */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  const expected = digest(validateAuthToken(token));
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== undefined && kOpenRoutes.has(route)) return;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (m && timingSafeEqual(digest(m[1]), expected)) return;
    reply.header('WWW-Authenticate', header === undefined ? kRealm : `${kRealm}, error="invalid_token"`);
    throw new HttpError('unauthorized', header === undefined ? 'this server requires a bearer token (Authorization: Bearer <token>)' : 'invalid bearer token');
  });
}

/**
 * The same check for other protocols (gRPC's `authorization` metadata): a function telling
 * whether an Authorization value carries the token.
 */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(validateAuthToken(token));
  return (header) => {
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    return m !== null && timingSafeEqual(digest(m[1]), expected);
  };
}
