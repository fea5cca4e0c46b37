import {
  errorBody,
  httpStatusOf,
  isWireError,
  KeylaneError,
  OverloadedError,
  VersionConflictError,
  type ErrorBody,
  type ErrorCode,
} from '@keylane/protocol';

/** How one failure is answered and logged. */
export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Bad input is the caller's problem: info at most. Only our own bugs log at error. */
  logLevel: 'info' | 'warn' | 'error';
}

export function reply(
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): ErrorReply {
  const status = httpStatusOf(code);
  return {
    status,
    body: errorBody(code, message),
    headers,
    logLevel: logLevelOf(code),
  };
}

/**
 * Our bugs at error, a dependency down (or a write whose outcome it left unknown) at warn; bad input and a full lane (which can come by
 * the thousand, and is counted in metrics) at info.
 */
export function logLevelOf(code: ErrorCode | undefined): 'info' | 'warn' | 'error' {
  return code === 'internal' ? 'error' : code === 'unavailable' || code === 'outcome_unknown' ? 'warn' : 'info';
}

// Fastify's own errors, by code, that are the client's fault. Anything else from Fastify
// with a 4xx status falls back on the status below.
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_TYPE: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_TYPE: 'invalid_body',
  FST_ERR_VALIDATION: 'invalid_body',
  FST_ERR_BAD_URL: 'not_found',
  FST_ERR_MAX_PARAM_LENGTH: 'invalid_id',
  FST_ERR_NOT_FOUND: 'not_found',
};

interface ErrorShape {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  message?: unknown;
}

/**
 * Maps anything a route or Fastify threw onto the protocol's registry. Unknown errors
 * become `internal` and never leak their message: the request id ties the answer to the log.
 */
export function errorReply(err: unknown, requestId: string): ErrorReply {
  if (isWireError(err)) {
    if (err instanceof OverloadedError) {
      // Retry-After counts whole seconds; round up so callers never retry too early.
      const seconds = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      return reply('overloaded', err.message, { 'retry-after': String(seconds) });
    }
    if (err instanceof VersionConflictError) {
      // The caller's next conditional write needs the current version: saves it a GET.
      const answer = reply('version_conflict', err.message);
      answer.body.error.actualVersion = err.actualVersion;
      return answer;
    }
    if (err.code === 'internal') return internal(requestId);
    return reply(err.code, err.message);
  }
  // The engine's refusal of a value it cannot store: here that value was the request's body.
  if (err instanceof KeylaneError && err.code === 'invalid_value') return reply('invalid_body', err.message);
  if (typeof err === 'object' && err !== null) {
    const shape = err as ErrorShape;
    const message = typeof shape.message === 'string' ? shape.message : 'bad request';
    if (shape.validation !== undefined) return reply('invalid_body', `invalid body: ${message}`);
    const mapped = typeof shape.code === 'string' ? FASTIFY_CODES[shape.code] : undefined;
    if (mapped !== undefined) {
      // Fastify's message for this one ("Unsupported Media Type") does not say what would work.
      if (shape.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return reply(mapped, 'unsupported Content-Type: send the body as application/json');
      }
      return reply(mapped, message);
    }
    // JSON.parse's SyntaxError, wrapped by Fastify with a 400 status.
    if (typeof shape.statusCode === 'number' && shape.statusCode >= 400 && shape.statusCode < 500) {
      if (shape.statusCode === 413) return reply('payload_too_large', message);
      if (shape.statusCode === 404) return reply('not_found', message);
      return reply('invalid_body', message);
    }
  }
  return internal(requestId);
}

function internal(requestId: string): ErrorReply {
  return reply('internal', `internal error; the service logged it with request id ${requestId}`);
}
