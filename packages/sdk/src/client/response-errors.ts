import type { IncomingHttpHeaders } from 'node:http';
import {
  DeadlineExceededError,
  OutcomeUnknownError,
  OverloadedError,
  UnavailableError,
  VersionConflictError,
  isErrorBody,
  type ErrorCode,
  type KeylaneError,
} from '@keylane/protocol';
import { ServiceError } from '../core/errors.js';
import type { ErrorAnswer } from './operation.js';

/** What came back for a non-2xx answer the operation did not expect. */
export interface FailedAnswer {
  readonly instanceId: string;
  readonly status: number;
  readonly body: string;
  readonly retryAfter: string | undefined;
  readonly id: string;
  readonly ifVersion: number | undefined;
}

/**
 * A non-2xx answer an operation did not expect, as the dispatch takes it: the error callers
 * see and the body's protocol code. `parsed` is the body already parsed by an operation that
 * looked at it first (a 404 `not_found`), so no answer's body is parsed twice.
 */
export function errorAnswer(
  instanceId: string,
  status: number,
  body: string,
  headers: IncomingHttpHeaders,
  id: string,
  ifVersion: number | undefined,
  parsed: ParsedError | null = parseErrorBody(body),
): ErrorAnswer {
  const retryAfter: unknown = headers['retry-after'];
  const answer: FailedAnswer = {
    instanceId,
    status,
    body,
    retryAfter: typeof retryAfter === 'string' ? retryAfter : Array.isArray(retryAfter) ? String(retryAfter[0]) : undefined,
    id,
    ifVersion,
  };
  return { error: errorFromAnswer(answer, parsed), code: parsed?.code ?? null };
}

/** Turns an error answer into the error class callers match on (by `code`). */
export function errorFromAnswer(answer: FailedAnswer, parsed: ParsedError | null = parseErrorBody(answer.body)): KeylaneError {
  const code = parsed?.code ?? null;
  const message = parsed?.message ?? truncate(answer.body);
  if (answer.status === 409 && code === 'version_conflict' && answer.ifVersion !== undefined) {
    const conflict = new VersionConflictError(answer.id, answer.ifVersion, parsed?.actualVersion ?? null);
    // The wire body may not say which version the item is at; then the service's own words
    // are more honest than the class's "none (absent)".
    if (parsed?.actualVersion === undefined) conflict.message = message;
    return conflict;
  }
  if (answer.status === 503 && code === 'overloaded') {
    return new OverloadedError(message, retryAfterMs(answer.retryAfter));
  }
  if (answer.status === 503 && code === 'unavailable') {
    return new UnavailableError(message);
  }
  if (answer.status === 504 && code === 'outcome_unknown') {
    return new OutcomeUnknownError(message);
  }
  if (answer.status === 504 && code === 'deadline_exceeded') {
    return new DeadlineExceededError(message);
  }
  return new ServiceError(answer.instanceId, answer.status, code, message);
}

export interface ParsedError {
  code: ErrorCode;
  message: string;
  actualVersion?: number | null;
}

export function parseErrorBody(text: string): ParsedError | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isErrorBody(json)) return null;
  const { code, message } = json.error;
  // Not part of the protocol's error body today; read when a service sends it.
  const actual = (json.error as { actualVersion?: unknown }).actualVersion;
  return typeof actual === 'number' || actual === null ? { code, message, actualVersion: actual } : { code, message };
}

/** `Retry-After` is delta-seconds or an HTTP date (RFC 9110 §10.2.3); 1 s when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  if (header === undefined) return 1000;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text || '(empty body)';
}
