import { isErrorCode, type ErrorCode, type ErrorEffect } from './error-codes.js';
import { KEYLANE_ERROR_CODES, isKeylaneErrorCode, type KeylaneErrorCode } from './error-registry.js';

/**
 * Base of every error Keylane throws on purpose. Match on `code`, never on `message`:
 * codes are stable, messages are for people.
 */
export class KeylaneError extends Error {
  readonly code: KeylaneErrorCode;

  constructor(code: KeylaneErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /**
   * What this error says happened to the data, from the registry. Subclasses that know more
   * than their code (whether a request was sent, which code the service answered) refine it.
   */
  get effect(): ErrorEffect {
    // A code from another version of the registry: doubt goes to `unknown`.
    return isKeylaneErrorCode(this.code) ? KEYLANE_ERROR_CODES[this.code].effect : 'unknown';
  }

  /** Whether repeating the same call is safe and may succeed, from the registry. */
  get retryable(): boolean {
    return isKeylaneErrorCode(this.code) && KEYLANE_ERROR_CODES[this.code].retryable;
  }
}

/** A key that is not a signed 64-bit integer in one of the accepted forms. */
export class InvalidKeyError extends KeylaneError {
  declare readonly code: 'invalid_id';
  readonly input: unknown;

  constructor(input: unknown, reason: string) {
    super('invalid_id', `invalid id ${describe(input)}: ${reason}`);
    this.input = input;
  }
}

/**
 * A constructor or factory (`createClient`, `createEngine`, `startFleet`, ...) was given an
 * option it cannot work with. The message and `option` name it, as the caller wrote it.
 */
export class InvalidOptionsError extends KeylaneError {
  declare readonly code: 'invalid_options';
  /** Dotted path of the offending option, e.g. `healthCheck.intervalMs`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super('invalid_options', `invalid option ${option}: ${message}`);
    this.option = option;
  }
}

/** A conditional write (`ifVersion`) found another version in the database. */
export class VersionConflictError extends KeylaneError {
  declare readonly code: 'version_conflict';
  readonly expectedVersion: number;
  /** The version the store holds now; `null` when the item does not exist. */
  readonly actualVersion: number | null;

  constructor(id: string, expectedVersion: number, actualVersion: number | null) {
    super(
      'version_conflict',
      `item ${id} is at version ${actualVersion ?? 'none (absent)'}, not ${expectedVersion}`,
    );
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** Work was refused to keep memory bounded (a full lane). Safe to retry later. */
export class OverloadedError extends KeylaneError {
  declare readonly code: 'overloaded';
  /** A hint for callers; the service sends it as `Retry-After`. */
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs = 1000) {
    super('overloaded', message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A dependency (Redis, Postgres) could not do its part. Retryable; nothing was committed (a
 * write whose outcome is unknown is an `OutcomeUnknownError` instead).
 */
export class UnavailableError extends KeylaneError {
  declare readonly code: 'unavailable';

  constructor(message: string, options?: ErrorOptions) {
    super('unavailable', message, options);
  }
}

/**
 * The write may or may not have committed: the connection to Postgres broke while COMMIT was
 * in flight. It cannot commit after the request's deadline; read the item, or retry with
 * `ifVersion`, rather than repeating a blind write.
 */
export class OutcomeUnknownError extends KeylaneError {
  declare readonly code: 'outcome_unknown';

  constructor(message: string, options?: ErrorOptions) {
    super('outcome_unknown', message, options);
  }
}

/** The request's deadline passed before the work could be done; nothing was committed. */
export class DeadlineExceededError extends KeylaneError {
  declare readonly code: 'deadline_exceeded';

  constructor(message: string, options?: ErrorOptions) {
    super('deadline_exceeded', message, options);
  }
}

/** Narrows an unknown value to a KeylaneError carrying one of the wire codes. */
export function isWireError(err: unknown): err is KeylaneError & { code: ErrorCode } {
  return err instanceof KeylaneError && isErrorCode(err.code);
}

/** Renders a bad input for an error message: short, unambiguous about its type. */
export function describe(input: unknown): string {
  switch (typeof input) {
    case 'string': {
      const shown = input.length > 48 ? `${input.slice(0, 48)}…` : input;
      return `${JSON.stringify(shown)} (string of length ${input.length})`;
    }
    case 'bigint':
      return `${input}n`;
    case 'number':
      return Object.is(input, -0) ? '-0' : String(input);
    case 'undefined':
      return 'undefined';
    case 'object':
      return input === null ? 'null' : Array.isArray(input) ? 'an array' : 'an object';
    default:
      return `a ${typeof input}`;
  }
}
