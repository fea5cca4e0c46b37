import type { ErrorCode } from '@keylane/protocol';
import type { FastifyReply } from 'fastify';
import type { ErrorReply } from './error-reply.js';

// The code each error answer carried, for the one log line per refused request.
const codes = new WeakMap<object, ErrorCode>();

export function sendError(reply: FastifyReply, answer: ErrorReply): FastifyReply {
  codes.set(reply.request.raw, answer.body.error.code);
  return reply
    .code(answer.status)
    .headers(answer.headers)
    .type('application/json; charset=utf-8')
    .send(answer.body);
}

export function errorCodeOf(reply: FastifyReply): ErrorCode | undefined {
  return codes.get(reply.request.raw);
}
