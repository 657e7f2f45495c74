// Expect: 100-continue. Node answers 100 Continue at once unless the server handles
// 'checkContinue'; then a client uploads its whole body only to be refused (413 over the
// limit, or 404, 401, 415). Here 100 Continue is sent only when the body is about to be read
// (Fastify's preParsing, after the routing, auth and content checks of onRequest), and a
// declared Content-Length over the limit is refused before: the client never uploads it. Node
// closes the connection after a final answer without 100 Continue (the client may still be
// sending the body), so the next request cannot be mistaken for its rest.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { bodyTooLargeMessage, tooLarge } from './errors.js';

/** Requests waiting for their 100 Continue. */
const awaitingContinue = new WeakSet<IncomingMessage>();

export function installExpectContinue(app: FastifyInstance, limitBytes: number): void {
  const server: Server = app.server;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    server.emit('request', req, res);
  });
  app.addHook('preParsing', async (req, reply, payload) => {
    if (!awaitingContinue.delete(req.raw)) return payload;
    const declared = Number(req.headers['content-length']);
    if (declared > limitBytes) throw tooLarge(bodyTooLargeMessage(limitBytes));
    reply.raw.writeContinue();
    return payload;
  });
}
