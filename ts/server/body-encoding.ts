// Request bodies with Content-Encoding (Triton's clients compress with gzip or deflate when
// asked to): decompressed as they arrive, with the body limit applied to the decompressed
// bytes, so that a small compressed body that inflates past the limit (a zip bomb) is a 413
// and the inflating stops there. Other encodings are a 415 naming the encoding.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { clip } from './codec.js';
import { badRequest, bodyTooLargeMessage, HttpError, tooLarge } from './errors.js';

/** The one coding of a Content-Encoding header, or an HttpError (415) for anything else. */
export function parseContentEncoding(header: string | undefined): 'gzip' | 'deflate' | 'identity' {
  if (header === undefined) return 'identity';
  const coding = header.trim().toLowerCase();
  if (coding === '' || coding === 'identity') return 'identity';
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate') return 'deflate';
  throw new HttpError('unsupported_media', `Content-Encoding '${clip(header, 40)}' is not supported; send the body as gzip, deflate or identity (uncompressed)`);
}

/**
 * Passes the inflater's output on and fails (413) before a chunk would take the body over the
 * limit, so Fastify never buffers more than the limit.
 */
class LimitedBody extends Transform {
  /** Compressed bytes read: Fastify checks this, not the decompressed size, against Content-Length. */
  receivedEncodedLength = 0;
  #outBytes = 0;
  readonly #limitBytes: number;

  constructor(limitBytes: number) {
    super();
    this.#limitBytes = limitBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#outBytes += chunk.length;
    if (this.#outBytes > this.#limitBytes) return done(tooLarge(bodyTooLargeMessage(this.#limitBytes, true)));
    done(null, chunk);
  }
}

/** The body stream Fastify should read: the raw one, or its decompression. */
export function decodeBody(req: FastifyRequest, payload: Readable, limitBytes: number): Readable {
  if (req.method === 'GET' || req.method === 'HEAD') return payload; // no body is read
  const encoding = parseContentEncoding(singleHeader(req.headers['content-encoding']));
  if (encoding === 'identity') return payload;
  const inflater: Gunzip | Inflate = encoding === 'gzip' ? createGunzip() : createInflate();
  const out = new LimitedBody(limitBytes);
  const onData = (chunk: Buffer) => {
    out.receivedEncodedLength += chunk.length;
  };
  // Not stream.pipeline(): on an error it would destroy the request, and with it the socket
  // the error's answer must go out on. The raw body's rest is left to node, which discards it.
  const stop = (err: Error) => {
    payload.off('data', onData);
    payload.unpipe(inflater);
    inflater.unpipe(out);
    inflater.destroy();
    out.destroy(err);
  };
  payload.on('data', onData);
  payload.pipe(inflater).pipe(out);
  inflater.on('error', (e) => stop(badRequest(`request body is not valid ${encoding} data (Content-Encoding: ${encoding}): ${clip(e.message, 80)}`)));
  out.on('error', (e) => {
    if (!inflater.destroyed) stop(e);
  });
  payload.on('error', (e) => stop(e));
  return out;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Installs the decoding for every route with a body (a preParsing hook: before the body is read). */
export function installBodyDecoding(app: FastifyInstance, limitBytes: number): void {
  app.addHook('preParsing', async (req, _reply, payload) => decodeBody(req, payload, limitBytes));
}
