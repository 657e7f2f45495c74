// Helpers of the reliability tests: raw HTTP over node:net (byte-by-byte senders, malformed
// requests fetch() cannot make) and the check every error body must pass.
import { connect } from 'node:net';
import type { Test } from 'tap';

export interface RawResponse {
  /** null when the server closed the connection without a status line. */
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from connect to the end of the response (or the close). */
  ms: number;
}

export interface RawOptions {
  /** Delay between the parts written, milliseconds. */
  delayMs?: number;
  /** Give up (and destroy the socket) after this long. Default 10 s. */
  timeoutMs?: number;
}

/** Writes `parts` one after another (with delays) and reads one response. */
export function rawRequest(url: string, parts: (string | Buffer)[], o: RawOptions = {}): Promise<RawResponse> {
  const u = new URL(url);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks), performance.now() - t0));
    };
    const timer = setTimeout(finish, o.timeoutMs ?? 10_000);
    socket.on('data', (d) => {
      chunks.push(d);
      const r = parseResponse(Buffer.concat(chunks), 0);
      const length = Number(r.headers['content-length'] ?? NaN);
      if (r.status !== null && Buffer.byteLength(r.body) >= length) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', async () => {
      for (const p of parts) {
        if (done || socket.destroyed) return;
        socket.write(p);
        if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
      }
    });
  });
}

function parseResponse(buf: Buffer, ms: number): RawResponse {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, headers: {}, body: '', ms };
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : null, headers, body: buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8'), ms };
}

/** A whole HTTP/1.1 POST as text (Connection: close). */
export function httpPost(path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head = [`POST ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', `Content-Length: ${b.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n'), b]);
}

/** Splits a buffer into pieces of `size` bytes. */
export const pieces = (b: Buffer, size = 1): Buffer[] => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

/** Stack frames, file paths, module names: none may reach a client. */
export const kLeak = /\n\s*at |\bat [\w.<>]+ \(|\/(?:work|tmp|home|usr|root|var|etc\/passwd)\b|node_modules|\.(?:js|ts|cc|onnx):\d*|\.onnx\b|plan\.json|cascade\.json|\b(?:TypeError|RangeError|ReferenceError)\b/;

/** The protocol's error body: exactly {"error": "<message>"}, with nothing internal in it. */
export function checkErrorBody(t: Test, body: unknown, what: string): void {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      t.fail(`${what}: error body is not JSON: ${body.slice(0, 80)}`);
      return;
    }
  }
  const ok = parsed !== null && typeof parsed === 'object' && Object.keys(parsed as object).length === 1 && typeof (parsed as { error?: unknown }).error === 'string';
  t.ok(ok, `${what}: body is {"error": "..."}`);
  const msg = String((parsed as { error?: unknown })?.error ?? '');
  t.notMatch(msg, kLeak, `${what}: no stack trace or path in '${msg.slice(0, 100)}'`);
}
