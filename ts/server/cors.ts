// Opt-in CORS for browser clients (`cors` option, `--cors ORIGINS`): requests from a listed
// origin get Access-Control-Allow-Origin (and the headers a client needs to read: the binary
// header length, Retry-After); preflights (OPTIONS with Access-Control-Request-Method) are
// answered 204 before authentication, since browsers send them without credentials. Without
// the option no CORS header is ever sent, and browsers keep other origins out.
import type { FastifyInstance } from 'fastify';

/** '*' or scheme://host[:port], as browsers send Origin. */
const kOrigin = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;
const kHeaderList = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
const kDefaultAllowHeaders = 'content-type, authorization, content-encoding, inference-header-content-length';
const kExposeHeaders = 'inference-header-content-length, retry-after, www-authenticate';
const kPreflightMaxAgeS = 600;

/**
 * Checks a list of origins (an array, or one comma-separated string as the flag takes it);
 * throws a RangeError naming `what` and the bad entry.
 */
export function parseCorsOrigins(value: string | readonly string[], what = 'cors'): string[] {
  const list = (typeof value === 'string' ? value.split(',') : [...value]).map((o) => (typeof o === 'string' ? o.trim() : o));
  if (list.length === 0 || list.some((o) => o === '')) throw new RangeError(`${what}: expected a comma-separated list of origins (https://host[:port]) or *, got '${String(value)}'`);
  for (const o of list) {
    if (typeof o !== 'string' || (o !== '*' && !kOrigin.test(o))) {
      throw new RangeError(`${what}: '${String(o)}' is not an origin; expected scheme://host[:port] without a path (e.g. https://app.example.com) or *`);
    }
  }
  return list.map((o) => o.toLowerCase());
}

/** Installs the CORS headers and preflight answers; `allowed(url)` gives a route's methods. */
export function installCors(app: FastifyInstance, origins: readonly string[], allowed: (url: string) => string[]): void {
  const any = origins.includes('*');
  const listed = new Set(origins);
  app.addHook('onRequest', async (req, reply) => {
    // Answers differ by Origin: caches must keep them apart.
    reply.header('Vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !(any || listed.has(origin.toLowerCase()))) return;
    reply.header('Access-Control-Allow-Origin', any ? '*' : origin);
    const route = req.routeOptions.url;
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined && route !== undefined) {
      const asked = req.headers['access-control-request-headers'];
      reply
        .header('Access-Control-Allow-Methods', allowed(route).join(', '))
        .header('Access-Control-Allow-Headers', typeof asked === 'string' && kHeaderList.test(asked) ? asked : kDefaultAllowHeaders)
        .header('Access-Control-Max-Age', String(kPreflightMaxAgeS))
        .header('Allow', allowed(route).join(', '));
      return reply.code(204).send();
    }
    reply.header('Access-Control-Expose-Headers', kExposeHeaders);
  });
}
