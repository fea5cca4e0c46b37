import { KeylaneError } from '@keylane/protocol';

/** An option of the bench (a flag or a field of `BenchOptions`) that cannot work; the message names it. */
export class BenchOptionsError extends KeylaneError {
  declare readonly code: 'invalid_options';
  constructor(message: string) {
    super('invalid_options', message);
  }
}

/** A measurement could not produce a number (every operation failed, a child did not start). */
export class BenchMeasurementError extends KeylaneError {
  declare readonly code: 'bench_measurement_failed';
  constructor(message: string, options?: ErrorOptions) {
    super('bench_measurement_failed', message, options);
  }
}
