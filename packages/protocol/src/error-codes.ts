/**
 * The one registry of error codes that cross the wire, with the HTTP status each one
 * travels with. The item service answers with these; the SDK maps them back to errors.
 * README.md lists the same table, and a test keeps the two in step.
 */
export const ERROR_CODES = {
  invalid_id: { status: 400, description: 'The id is not a signed 64-bit integer in canonical decimal form.' },
  invalid_body: { status: 400, description: 'The body is not JSON, lacks `value`, or has a bad `ifVersion`.' },
  payload_too_large: { status: 413, description: 'The body is larger than the service accepts.' },
  not_found: { status: 404, description: 'No item has this id (or the route does not exist).' },
  version_conflict: { status: 409, description: 'A conditional write named a version the item is not at.' },
  overloaded: { status: 503, description: "The key's lane is full; retry after `Retry-After`." },
  unavailable: {
    status: 503,
    description: 'Redis or Postgres could not do its part; retry. A write did not commit unless the message says its outcome is unknown.',
  },
  internal: { status: 500, description: 'A bug: the service logged it with the request id.' },
} as const satisfies Record<string, { status: number; description: string }>;

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
