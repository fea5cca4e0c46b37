// Sorting undici/system errors into the two kinds of connection failure that matter for
// retries: the request surely never left (connect failed), or the connection broke after
// it may have been sent.

// Errors raised while opening the connection: no byte of the request was written.
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
// The connection broke before a complete response arrived: the request may have been processed.
const BROKEN_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export type TransportFailureKind = 'connect' | 'broken';

/** An internal marker thrown between an attempt and the retry loop; never escapes the client. */
export class TransportFailure extends Error {
  readonly kind: TransportFailureKind;

  constructor(kind: TransportFailureKind, cause: unknown) {
    super(`transport failure (${kind})`, { cause });
    this.kind = kind;
  }

  /** Whether the request may have reached the service. */
  get sent(): boolean {
    return this.kind === 'broken';
  }

  /** Nothing listens at the address: evidence enough that the instance is down. */
  get refused(): boolean {
    return errorCode(this.cause) === 'ECONNREFUSED';
  }
}

export function classifyTransportError(err: unknown): TransportFailureKind | null {
  const code = errorCode(err);
  if (code === undefined) return null;
  if (CONNECT_CODES.has(code)) {
    return 'connect';
  }
  if (BROKEN_CODES.has(code)) return 'broken';
  return null;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs connects (autoSelectFamily) fail with an AggregateError of the attempts.
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors)) {
    const codes = errors.map((e) => errorCode(e));
    if (codes.length > 0 && codes.every((c) => c !== undefined && CONNECT_CODES.has(c))) return codes[0];
  }
  return undefined;
}
