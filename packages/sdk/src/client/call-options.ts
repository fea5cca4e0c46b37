import { randomUUID } from 'node:crypto';
import { MAX_REQUEST_ID_LENGTH, REQUEST_ID_PATTERN } from '@keylane/protocol';
import { InvalidOptionsError } from '../core/errors.js';

export interface RequestOptions {
  /** Aborts the call; the promise then rejects with the signal's `reason`. */
  signal?: AbortSignal;
  /**
   * Sent as `x-request-id` (the item service logs under it and echoes it): visible ASCII, at
   * most 128 characters. @default a UUID-shaped id unique to the call (a random prefix drawn once
   * per process, then a counter in the last group)
   */
  requestId?: string;
  /**
   * A W3C trace context to send as `traceparent` (and `tracestate`), e.g. from your tracer's
   * propagator. The SDK depends on no tracing library. @default none sent
   */
  traceparent?: string;
  tracestate?: string;
}

/** One call's checked options. */
export interface Call {
  readonly signal: AbortSignal | undefined;
  readonly requestId: string;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

// A random UUID drawn per call cost a `randomFillSync` refill every 128 calls, visible in the
// SDK's profile; the first four groups of one drawn at load keep ids unique across processes
// (and still a well-formed v4 UUID), the counter keeps them unique within one.
const REQUEST_ID_PREFIX = randomUUID().slice(0, 23);
let requestCount = 0;
const nextRequestId = (): string =>
  `${REQUEST_ID_PREFIX}-${(requestCount++).toString(16).padStart(12, '0')}`;

// W3C Trace Context, version 00: version-traceid-parentid-flags, lowercase hex.
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function checkCall(options: RequestOptions): Call {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options', 'expected an object');
  const { signal, requestId, traceparent, tracestate } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionsError('signal', 'expected an AbortSignal');
  }
  if (requestId !== undefined && (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId))) {
    throw new InvalidOptionsError('requestId', `expected 1 to ${MAX_REQUEST_ID_LENGTH} visible ASCII characters, got ${JSON.stringify(requestId)}`);
  }
  if (traceparent !== undefined && (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent))) {
    throw new InvalidOptionsError('traceparent', `expected a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), got ${JSON.stringify(traceparent)}`);
  }
  if (tracestate !== undefined && (typeof tracestate !== 'string' || traceparent === undefined || !/^[\x20-\x7e]{0,512}$/.test(tracestate))) {
    throw new InvalidOptionsError('tracestate', 'expected at most 512 visible ASCII characters, and only with traceparent');
  }
  return { signal, requestId: requestId ?? nextRequestId(), traceparent, tracestate };
}
