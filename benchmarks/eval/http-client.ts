// The load generator's HTTP/1.1 client: a pool of keep-alive TCP connections, one request in
// flight per connection, requests written as prepared bytes and answers read by a minimal
// parser (status line, Content-Length, body). Why not node:http's Agent: the generator shares
// 2 cores with the server under test, and node:http's per-request work (request objects,
// header validation, an IncomingMessage stream per answer) took about twice this client's CPU
// per request (benchmarks/eval/generator-cost.ts). While a batch of answers was being read the
// sends fell behind their schedule, and the ones held back then left together: arrivals closer
// together than the trace's, made by the harness.
//
// Scope: what the evaluation's servers send. An answer must carry Content-Length (Fastify's
// do); one without it, or a malformed one, fails its request and closes the connection.
// Ownership: single-threaded (the event loop); a connection belongs to the pool that opened it.
import net from 'node:net';

/** One answer: the HTTP status (0: no answer, the connection failed) and the body. */
export type AnswerHandler = (status: number, body: Buffer | undefined) => void;

interface Pending {
  /** The whole request: head and body. */
  request: Buffer;
  onAnswer: AnswerHandler;
}

const kHeaderEnd = Buffer.from('\r\n\r\n');
/** An answer's head longer than this is malformed (Fastify's are ~150 bytes). */
const kMaxHeadBytes = 16 * 1024;

/** One connection and the parser of the answer it awaits. */
class Connection {
  readonly socket: net.Socket;
  private inFlight: AnswerHandler | undefined;
  private buf: Buffer = Buffer.alloc(0);
  /** Body length of the answer being read, once its head is parsed; -1 before. */
  private bodyBytes = -1;
  private status = 0;
  private closeAfter = false;
  /** Whether the TCP connection was ever established (a refused one was not). */
  connected = false;

  constructor(
    host: string,
    port: number,
    private readonly onIdle: (c: Connection) => void,
    private readonly onClosed: (c: Connection) => void,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.once('connect', () => {
      this.connected = true;
      onIdle(this);
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', () => {}); // 'close' follows and fails the request in flight
    this.socket.on('close', () => {
      const h = this.inFlight;
      this.inFlight = undefined;
      this.onClosed(this);
      h?.(0, undefined);
    });
  }

  send(p: Pending): void {
    this.inFlight = p.onAnswer;
    this.buf = Buffer.alloc(0);
    this.bodyBytes = -1;
    this.socket.write(p.request);
  }

  private fail(): void {
    this.socket.destroy(); // 'close' fails the request in flight
  }

  private onData(d: Buffer): void {
    if (!this.inFlight) return this.fail(); // an answer nobody asked for
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (this.bodyBytes < 0) {
      const end = this.buf.indexOf(kHeaderEnd);
      if (end < 0) {
        if (this.buf.length > kMaxHeadBytes) this.fail();
        return;
      }
      if (!this.parseHead(this.buf.toString('latin1', 0, end))) return this.fail();
      this.buf = this.buf.subarray(end + 4);
    }
    if (this.buf.length < this.bodyBytes) return;
    if (this.buf.length > this.bodyBytes) return this.fail(); // bytes beyond the answer
    const h = this.inFlight;
    const body = this.buf;
    this.inFlight = undefined;
    this.buf = Buffer.alloc(0);
    this.bodyBytes = -1;
    if (this.closeAfter) this.socket.destroy();
    else this.onIdle(this);
    h(this.status, body);
  }

  /** Reads the status and Content-Length; false when the head is not one this client reads. */
  private parseHead(head: string): boolean {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!m) return false;
    this.status = Number(m[1]);
    const len = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (!len) return false;
    this.bodyBytes = Number(len[1]);
    this.closeAfter = /\r\nconnection:[ \t]*close/i.test(head) || head.startsWith('HTTP/1.0');
    return true;
  }
}

export interface ConnectionPoolOptions {
  /** Connections at most; requests beyond them wait in order. Default 256. */
  maxConnections?: number;
}

/**
 * Keep-alive connections to one server (http://host:port). send() writes on an idle connection,
 * opens one while fewer than maxConnections are open, or queues the request.
 */
export class ConnectionPool {
  readonly host: string;
  readonly port: number;
  private readonly max: number;
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private readonly waiting: Pending[] = [];
  private waitHead = 0;
  private closed = false;

  constructor(baseUrl: string, o: ConnectionPoolOptions = {}) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:') throw new RangeError(`ConnectionPool: ${baseUrl}: only http: URLs`);
    this.host = u.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
    this.port = Number(u.port || 80);
    this.max = o.maxConnections ?? 256;
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.open.size;
  }

  /** The bytes of a request's head; build once per distinct request shape, then send head + body. */
  requestHead(method: 'GET' | 'POST', path: string, headers: Record<string, string>, bodyBytes: number): Buffer {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    let h = `${method} ${path} HTTP/1.1\r\nHost: ${host}:${this.port}\r\n`;
    for (const [k, v] of Object.entries(headers)) h += `${k}: ${v}\r\n`;
    if (method === 'POST' || bodyBytes > 0) h += `Content-Length: ${bodyBytes}\r\n`;
    return Buffer.from(h + '\r\n', 'latin1');
  }

  /** Sends one whole request (requestHead's bytes, then the body); onAnswer is called exactly once. */
  send(request: Buffer, onAnswer: AnswerHandler): void {
    if (this.closed) return onAnswer(0, undefined);
    const p: Pending = { request, onAnswer };
    const c = this.idle.pop();
    if (c) return c.send(p);
    this.waiting.push(p);
    if (this.open.size < this.max) this.connect();
  }

  /** Opens connections until `count` are open, each checked by one GET of `path`. */
  async warm(count: number, path: string): Promise<void> {
    const head = this.requestHead('GET', path, {}, 0);
    const n = Math.min(count, this.max);
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => this.send(head, () => resolve()))));
  }

  /** Closes every connection; requests not yet answered get status 0. */
  destroy(): void {
    this.closed = true;
    for (const c of [...this.open]) c.socket.destroy();
    const w = this.waiting.splice(this.waitHead);
    this.waiting.length = 0;
    this.waitHead = 0;
    for (const p of w) p.onAnswer(0, undefined);
  }

  private connect(): void {
    const c = new Connection(
      this.host,
      this.port,
      (x) => this.onIdle(x),
      (x) => this.onClosed(x),
    );
    this.open.add(c);
  }

  private nextWaiting(): Pending | undefined {
    if (this.waitHead >= this.waiting.length) return undefined;
    const p = this.waiting[this.waitHead++];
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitHead);
      this.waitHead = 0;
    }
    return p;
  }

  private onIdle(c: Connection): void {
    const p = this.nextWaiting();
    if (p) c.send(p);
    else this.idle.push(c);
  }

  private onClosed(c: Connection): void {
    this.open.delete(c);
    const k = this.idle.indexOf(c);
    if (k >= 0) this.idle.splice(k, 1);
    if (this.closed || this.waitHead >= this.waiting.length) return;
    // A connection the server closed is replaced while requests wait. One that was never
    // established leaves them to the others; with none left, the server is unreachable and
    // they fail (a retry loop against a refusing port would never end).
    if (c.connected) this.connect();
    else if (this.open.size === 0) {
      const w = this.waiting.splice(this.waitHead);
      this.waiting.length = 0;
      this.waitHead = 0;
      for (const p of w) p.onAnswer(0, undefined);
    }
  }
}
