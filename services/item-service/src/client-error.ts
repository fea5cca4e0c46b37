import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ITEMS_PATH } from '@keylane/protocol';
import { reply, type ErrorReply } from './error-reply.js';

/** Node's default, stated here because the answer to an oversize head names it. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** What Node's `clientError` event hands over (typed loosely by Fastify). */
export interface ParserError {
  code?: string | undefined;
  rawPacket?: unknown;
}

/**
 * What to answer when Node's HTTP parser refuses a request before Fastify sees it.
 * `null`: say nothing (the peer is gone or timed out), just drop the socket.
 */
export function clientErrorReply(err: ParserError, keyedPath: string = ITEMS_PATH): { reason: string; answer: ErrorReply | null } {
  if (err.code === 'ECONNRESET') return { reason: 'reset', answer: null };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { reason: 'timeout', answer: null };
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // The registry has no 414/431. A head this long on a keyed path (items, carts) can only
    // be an over-long key, which is invalid_id; anywhere else the request is simply too large.
    if (targetsKeyedPath(err.rawPacket, keyedPath)) {
      return {
        reason: 'header_overflow',
        answer: reply(
          'invalid_id',
          `invalid id: the request line and headers exceed ${MAX_HEADER_BYTES} bytes`,
        ),
      };
    }
    return {
      reason: 'header_overflow',
      answer: reply(
        'payload_too_large',
        `the request line and headers exceed ${MAX_HEADER_BYTES} bytes`,
      ),
    };
  }
  return {
    reason: 'malformed',
    answer: reply('invalid_body', `malformed HTTP request (${err.code ?? 'parse error'})`),
  };
}

// True when the over-long part is the request line of a keyed path (so: the key), not a
// header after a short request line.
function targetsKeyedPath(packet: unknown, keyedPath: string): boolean {
  if (!Buffer.isBuffer(packet)) return false;
  const start = packet.subarray(0, 64).toString('latin1');
  const space = start.indexOf(' ');
  if (space <= 0 || !start.startsWith(`${keyedPath}/`, space + 1)) return false;
  const lineEnd = packet.indexOf('\r\n');
  return lineEnd === -1 || lineEnd > LONGEST_ITEM_REQUEST_LINE;
}

// "DELETE /v1/items/-9223372036854775808 HTTP/1.1" with room for a query string.
const LONGEST_ITEM_REQUEST_LINE = 1024;

/** Writes a complete HTTP/1.1 answer on a socket the parser gave up on, then closes it. */
export function writeRawReply(socket: Socket, answer: ErrorReply): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(answer.body);
  const headers = [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(answer.headers).map(([k, v]) => `${k}: ${v}`),
  ];
  // end(), not destroy(): the answer must reach the peer before the FIN.
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
