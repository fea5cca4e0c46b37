/**
 * What an error says happened to the data: `none` (nothing was committed), `unknown` (it may or
 * may not have committed), or `n/a` (a read, or refused before any work: the request itself
 * was wrong, so repeating it cannot help).
 */
export type ErrorEffect = 'none' | 'unknown' | 'n/a';

/**
 * The one registry of error codes that cross the wire: the HTTP status each travels with,
 * whether repeating the same request is safe and may succeed (`retryable`), and what it says
 * about the data (`effect`). The item service answers with these; the SDK maps them back to
 * errors and decides its retries from `retryable`. The codes raised only inside a process are
 * in `LOCAL_ERROR_CODES`; `KEYLANE_ERROR_CODES` is both. README.md lists the same tables, and a
 * test keeps them in step.
 */
export const ERROR_CODES = {
  invalid_id: {
    status: 400,
    retryable: false,
    effect: 'n/a',
    description: 'The id is not a valid key (a signed 64-bit integer in canonical decimal form).',
  },
  invalid_body: {
    status: 400,
    retryable: false,
    effect: 'n/a',
    description:
      'The body is not JSON, lacks `value`, has a bad `ifVersion`, or holds what the store cannot keep (U+0000, a lone UTF-16 surrogate).',
  },
  invalid_header: {
    status: 400,
    retryable: false,
    effect: 'n/a',
    description: 'A Keylane header is malformed (`x-keylane-deadline` must be integer epoch milliseconds).',
  },
  payload_too_large: { status: 413, retryable: false, effect: 'n/a', description: 'The body is larger than the service accepts.' },
  not_found: { status: 404, retryable: false, effect: 'n/a', description: 'No item has this id (or the route does not exist).' },
  version_conflict: {
    status: 409,
    retryable: false,
    effect: 'none',
    description: 'A conditional write named a version the item is not at; nothing was committed.',
  },
  overloaded: {
    status: 503,
    retryable: true,
    effect: 'none',
    description: "The key's lane (or the instance's bytes in flight) is full; nothing was done; retry after `Retry-After`.",
  },
  unavailable: {
    status: 503,
    retryable: true,
    effect: 'none',
    description: 'Redis or Postgres could not do its part; nothing was committed; retry.',
  },
  deadline_exceeded: {
    status: 504,
    retryable: true,
    effect: 'none',
    description: "The request's deadline passed before the work could be done; nothing was committed.",
  },
  outcome_unknown: {
    status: 504,
    retryable: false,
    effect: 'unknown',
    description:
      "The write may or may not have committed (the database connection broke during COMMIT); it cannot commit after the request's deadline: read, or retry with `ifVersion`.",
  },
  internal: { status: 500, retryable: false, effect: 'unknown', description: 'A bug: the service logged it with the request id.' },
} as const satisfies Record<string, { status: number; retryable: boolean; effect: ErrorEffect; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error body every non-2xx answer of the item service carries. */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    /** `version_conflict` only: the version the item is at now, `null` when it does not exist. */
    actualVersion?: number | null;
  };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** True for a well-formed error body with a registered code. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return isErrorCode(code) && typeof message === 'string';
}
