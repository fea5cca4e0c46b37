import { KeylaneError } from '@keylane/protocol';

// A bad option (a flag or a field of `BenchOptions`) is @keylane/protocol's InvalidOptionsError.

/** A measurement could not produce a number (every operation failed, a child did not start). */
export class BenchMeasurementError extends KeylaneError {
  declare readonly code: 'bench_measurement_failed';
  constructor(message: string, options?: ErrorOptions) {
    super('bench_measurement_failed', message, options);
  }
}
