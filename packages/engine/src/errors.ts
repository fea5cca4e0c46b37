import { KeylaneError } from '@keylane/protocol';

/** `createEngine` was given an option it cannot work with; the message names the option. */
export class InvalidOptionsError extends KeylaneError {
  declare readonly code: 'invalid_options';
  /** Dotted path of the offending option, e.g. `redis.keyPrefix`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super('invalid_options', `invalid option ${option}: ${message}`);
    this.option = option;
  }
}

/** A value given to `write` that cannot be stored as JSON (undefined, a function, a cycle, a bigint). */
export class InvalidValueError extends KeylaneError {
  declare readonly code: 'invalid_body';

  constructor(message: string, options?: ErrorOptions) {
    super('invalid_body', message, options);
  }
}
