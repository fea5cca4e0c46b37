import { KeylaneError } from '@keylane/protocol';

/**
 * A history the checker cannot judge: an operation that breaks the model's assumptions
 * (a write of `null`, the same value written twice to one key, completion before invocation).
 * The verdict would be meaningless, so the checker refuses instead of guessing.
 */
export class InvalidHistoryError extends KeylaneError {
  declare readonly code: 'invalid_history';
  /** Position of the offending operation in the input. */
  readonly index: number;

  constructor(index: number, reason: string) {
    super('invalid_history', `operation #${index}: ${reason}`);
    this.index = index;
  }
}

/** A JSONL line that is not a well-formed operation. */
export class HistoryFormatError extends KeylaneError {
  declare readonly code: 'invalid_history_line';
  /** 1-based line number in the input. */
  readonly line: number;

  constructor(line: number, reason: string, options?: ErrorOptions) {
    super('invalid_history_line', `history line ${line}: ${reason}`, options);
    this.line = line;
  }
}

/** The recorder was used in a way that would corrupt the history (e.g. completing twice). */
export class RecorderMisuseError extends KeylaneError {
  declare readonly code: 'recorder_misuse';

  constructor(message: string) {
    super('recorder_misuse', message);
  }
}
