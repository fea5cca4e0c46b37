import { KeylaneError, UnavailableError } from '@keylane/protocol';

// One options error for every package: `createEngine` throws it naming the option.
export { InvalidOptionsError } from '@keylane/protocol';

/** A value given to `write` that cannot be stored as JSON (undefined, a function, a cycle, a bigint). */
export class InvalidValueError extends KeylaneError {
  declare readonly code: 'invalid_body';

  constructor(message: string, options?: ErrorOptions) {
    super('invalid_body', message, options);
  }
}

/**
 * A guarded write reached Postgres after its write marker's deadline, so Postgres applied
 * nothing. Code `unavailable` (retryable, nothing committed); `writesExpired` counts them.
 */
export class WriteExpiredError extends UnavailableError {
  readonly id: string;

  constructor(id: string) {
    super(
      `write of item ${id} expired: its write marker's deadline passed before Postgres applied it, so nothing was committed; retry`,
    );
    this.id = id;
  }
}

/**
 * The connection broke while a write's statement was in flight: it may or may not have
 * committed. Code `unavailable` like every dependency failure, but unlike the others
 * something may have changed; checkers record such operations as indeterminate.
 */
export class WriteOutcomeUnknownError extends UnavailableError {
  readonly outcomeUnknown = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
