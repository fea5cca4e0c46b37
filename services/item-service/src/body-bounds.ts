import { OverloadedError } from '@keylane/protocol';
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ServiceConfig } from './config.js';

/**
 * Memory is bounded by what the lanes hold and by the bodies being received: refuse a body
 * that would take the bytes in flight past the bound before reading it, as `overloaded`.
 */
export function registerBodyBounds(
  app: FastifyInstance,
  config: Pick<ServiceConfig, 'maxBodyBytes' | 'maxBytesInFlight'>,
): void {
  let bytesInFlight = 0;
  const held = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', (request, reply, done) => {
    const declared = request.headers['content-length'];
    const chunked = declared === undefined && request.headers['transfer-encoding'] !== undefined;
    const length = Number(declared ?? 0) || 0;
    if (length > config.maxBodyBytes) {
      refuseOversized(request, reply, length, done);
      return;
    }
    // A chunked body's size is unknown until read: count it at the largest it may be.
    const bytes = chunked ? config.maxBodyBytes : length;
    if (bytes > 0) {
      if (bytesInFlight + bytes > config.maxBytesInFlight) {
        done(new OverloadedError(`${bytesInFlight} bytes of request bodies in flight (KEYLANE_MAX_BYTES_IN_FLIGHT)`, 1_000));
        return;
      }
      bytesInFlight += bytes;
      held.set(request, bytes);
    }
    done();
  });
  /**
   * A declared body over maxBodyBytes: Fastify would answer 413 with Connection: close while the
   * caller is still sending, and the caller often sees EPIPE (a transport failure that says
   * nothing of the request) instead of the 413. So the body is read and thrown away first,
   * counted in the bytes in flight while it streams past; one too large for what is left of
   * that bound gets Fastify's answer (413 and close) at once.
   */
  const refuseOversized = (request: FastifyRequest, reply: FastifyReply, length: number, done: (err?: Error) => void): void => {
    const tooLarge = new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
    if (bytesInFlight + length > config.maxBytesInFlight) {
      void reply.header('connection', 'close');
      done(tooLarge);
      return;
    }
    bytesInFlight += length;
    held.set(request, length);
    const raw = request.raw;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      for (const event of ['end', 'error', 'close']) raw.removeListener(event, settle);
      done(tooLarge);
    };
    // 'close' without 'end': the caller went away mid-body (onRequestAbort releases the bytes).
    for (const event of ['end', 'error', 'close']) raw.on(event, settle);
    raw.resume();
  };
  const release = (request: FastifyRequest): void => {
    const bytes = held.get(request);
    if (bytes === undefined) return;
    held.delete(request);
    bytesInFlight -= bytes;
  };

  app.addHook('onRequestAbort', (request, done) => {
    release(request);
    done();
  });

  app.addHook('onResponse', (request, _reply, done) => {
    release(request);
    done();
  });
}
