// Graceful drain of keep-alive connections. HTTP/1.1 has no way to tell a client "do not send
// on this connection any more" except a response with Connection: close, so a connection
// closed while idle can race with a request the client is sending at that moment: that
// request ends in a reset. Closing idle connections at once when the drain starts (node's
// server.close() does) loses exactly the requests of busy keep-alive clients, which are idle
// only for the moment between an answer and their next request.
//
// The drain therefore keeps every connection open until it has carried its last response
// (every response during the drain says Connection: close, and node closes the connection
// after it), and closes a connection that carries no request only once it has been idle for
// `idleGraceMs`: with a FIN (socket.end()), not a reset. Then (at the latest after the grace)
// the server stops listening and closes, which waits for any request still in progress.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface ConnectionState {
  /** Requests received on the connection and not yet answered (or abandoned). */
  active: number;
  /** When the connection last became idle (accepted, or its last response ended), ms. */
  idleSinceMs: number;
  ended: boolean;
}

/** How often the drain looks at the connections, ms. */
const kPollMs = 10;

export class ConnectionDrain {
  readonly idleGraceMs: number;
  #connections = new Map<Socket, ConnectionState>();
  #activeRequests = 0;

  constructor(server: Server, idleGraceMs: number) {
    this.idleGraceMs = idleGraceMs;
    server.on('connection', (socket: Socket) => {
      this.#connections.set(socket, { active: 0, idleSinceMs: performance.now(), ended: false });
      socket.once('close', () => this.#connections.delete(socket));
    });
  }

  /** Every request the server takes (node 'request', or a 'checkContinue' accepted or refused). */
  track(socket: Socket, res: { once(event: 'close', f: () => void): unknown }): void {
    const state = this.#connections.get(socket);
    this.#activeRequests++;
    if (state) state.active++;
    res.once('close', () => {
      this.#activeRequests--;
      if (state) {
        state.active--;
        state.idleSinceMs = performance.now();
      }
    });
  }

  /**
   * Resolves when every request received has been answered and every connection is closed,
   * or at the latest once the grace has passed since the drain began (then idle connections
   * have been sent their FIN; connections with a request in progress are left to the server's
   * close, which waits for their answers). The caller sets its closing flag first, so that
   * every answer from now on carries Connection: close. Bounded by the grace: clients that
   * keep connecting cannot hold the drain open.
   */
  async drain(): Promise<void> {
    const t0 = performance.now();
    for (;;) {
      const now = performance.now();
      for (const [socket, s] of this.#connections) {
        if (s.active === 0 && !s.ended && now - s.idleSinceMs >= this.idleGraceMs) {
          s.ended = true;
          socket.end();
        }
      }
      if ((this.#activeRequests === 0 && this.#connections.size === 0) || now - t0 >= this.idleGraceMs + kPollMs) return;
      await new Promise((resolve) => setTimeout(resolve, kPollMs));
    }
  }
}
