import { KeylaneError } from '@keylane/protocol';

/**
 * Errors the fleet helpers raise on purpose. Each carries a stable `code` and a message that
 * says what to do next; the `keylane` and `keylane-bench` bins print it and exit non-zero.
 * A bad option is @keylane/protocol's `InvalidOptionsError` (code `invalid_options`, `option`
 * names it), the same class the SDK and the engine throw.
 */

/** A fleet's instances did not all become healthy in the SDK's view before a run. */
export class FleetUnhealthyError extends KeylaneError {
  declare readonly code: 'fleet_unhealthy';
  constructor(message: string) {
    super('fleet_unhealthy', message);
  }
}

/** Postgres or Redis could not be reached before anything was started. */
export class DependencyUnreachableError extends KeylaneError {
  declare readonly code: 'dependency_unreachable';
  readonly dependency: 'postgres' | 'redis';
  readonly url: string;
  constructor(
    dependency: 'postgres' | 'redis',
    url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('dependency_unreachable', message, options);
    this.dependency = dependency;
    this.url = url;
  }
}

/** An instance exited or stayed unready while the fleet was starting. */
export class InstanceStartError extends KeylaneError {
  declare readonly code: 'instance_start_failed';
  readonly instanceId: string;
  /** The last lines the instance wrote to stdout/stderr. */
  readonly outputTail: string;
  constructor(instanceId: string, message: string, outputTail: string) {
    super(
      'instance_start_failed',
      outputTail ? `${message}\n--- last output of ${instanceId} ---\n${outputTail}` : message,
    );
    this.instanceId = instanceId;
    this.outputTail = outputTail;
  }
}

/** The item service's build output is missing: it has to be built before the fleet runs. */
export class ServiceBinMissingError extends KeylaneError {
  declare readonly code: 'service_bin_missing';
  constructor(message: string) {
    super('service_bin_missing', message);
  }
}
