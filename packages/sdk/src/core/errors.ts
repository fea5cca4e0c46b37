import { KeylaneError, effectOf, isRetryable, type ErrorCode, type ErrorEffect } from '@keylane/protocol';

// The SDK's own errors. Every one extends protocol's KeylaneError and carries a stable
// `code`, registered in protocol's LOCAL_ERROR_CODES with its `retryable` and `effect`: match
// on `error.code`, never on `error.message`. Transport errors keep the underlying undici or
// system error as `cause`.

// `createClient` (or a per-call option) throws the shared options error, naming the option.
export { InvalidOptionsError } from '@keylane/protocol';

/** No instance is healthy, so no key can be routed. The SDK never routes to a sick instance. */
export class NoHealthyInstanceError extends KeylaneError {
  declare readonly code: 'no_healthy_instance';

  constructor(message = 'no healthy instance to route to', options?: ErrorOptions) {
    super('no_healthy_instance', message, options);
  }
}

/**
 * The request did not finish within `requestTimeoutMs`. A write may have committed before that
 * deadline, never after it: the deadline travels with the request and the service's commit
 * fence holds it, so nothing of this request lands later. Read the item, or retry with
 * `ifVersion`; a later write of the key is never overtaken by this one.
 */
export class RequestTimeoutError extends KeylaneError {
  declare readonly code: 'request_timeout';
  readonly timeoutMs: number;
  readonly instanceId: string;

  constructor(instanceId: string, timeoutMs: number, options?: ErrorOptions) {
    super(
      'request_timeout',
      `request to instance ${instanceId} timed out after ${timeoutMs} ms`,
      options,
    );
    this.timeoutMs = timeoutMs;
    this.instanceId = instanceId;
  }
}

/**
 * The connection to an instance failed (refused, reset, closed mid-response). `sent` tells
 * whether the request may have reached the service: when `false` it surely did not, so a
 * write was not applied.
 */
export class ConnectionError extends KeylaneError {
  declare readonly code: 'connection_failed';
  readonly instanceId: string;
  readonly sent: boolean;

  constructor(instanceId: string, sent: boolean, options?: ErrorOptions) {
    const detail = describeCause(options?.cause);
    super(
      'connection_failed',
      `connection to instance ${instanceId} failed${sent ? '' : ' before the request was sent'}${detail}`,
      options,
    );
    this.instanceId = instanceId;
    this.sent = sent;
  }

  // A request that never left this process did nothing, so repeating it is safe; the
  // registry's `unknown` is for the one that may have reached the service.
  override get effect(): ErrorEffect {
    return this.sent ? super.effect : 'none';
  }

  override get retryable(): boolean {
    return this.sent ? super.retryable : true;
  }
}

/**
 * The service answered with a status the SDK does not turn into a more specific error.
 * `serviceCode` is the protocol error code from the body, or `null` when the body had none.
 */
export class ServiceError extends KeylaneError {
  declare readonly code: 'service_error';
  readonly status: number;
  readonly serviceCode: ErrorCode | null;
  readonly instanceId: string;

  constructor(
    instanceId: string,
    status: number,
    serviceCode: ErrorCode | null,
    message: string,
    options?: ErrorOptions,
  ) {
    super(
      'service_error',
      `instance ${instanceId} answered ${status}${serviceCode === null ? '' : ` ${serviceCode}`}: ${message}`,
      options,
    );
    this.status = status;
    this.serviceCode = serviceCode;
    this.instanceId = instanceId;
  }

  /** The service's own code says it; without one, a 4xx still says the request was refused. */
  override get effect(): ErrorEffect {
    if (this.serviceCode !== null) return effectOf(this.serviceCode);
    return this.status >= 400 && this.status < 500 ? 'n/a' : super.effect;
  }

  override get retryable(): boolean {
    return this.serviceCode !== null ? isRetryable(this.serviceCode) : super.retryable;
  }
}

/**
 * Resolving the DNS name of `instances.dns` failed, or answered no address. The client keeps
 * the last good set of instances; before the first good answer, `ready()` rejects with this.
 */
export class DiscoveryError extends KeylaneError {
  declare readonly code: 'discovery_failed';
  /** The name that was resolved. */
  readonly host: string;

  constructor(host: string, reason: string, options?: ErrorOptions) {
    super(
      'discovery_failed',
      `DNS discovery of ${JSON.stringify(host)} failed: ${reason}`,
      options,
    );
    this.host = host;
  }
}

/**
 * A value JSON cannot carry as it is (NaN, Infinity, an `undefined` member, a Map, a Set, a
 * Date or another class instance, a function, a bigint, a cycle): refused before anything is
 * sent rather than quietly changed into something else. `path` says where, e.g. `$.a[2]`.
 */
export class InvalidValueError extends KeylaneError {
  declare readonly code: 'invalid_value';
  readonly path: string;

  constructor(path: string, what: string) {
    super('invalid_value', `value at ${path} is ${what}, which JSON cannot carry as it is; convert it first`);
    this.path = path;
  }
}

/** The client was closed; it sends nothing more. */
export class ClientClosedError extends KeylaneError {
  declare readonly code: 'client_closed';

  constructor() {
    super('client_closed', 'the client is closed');
  }
}

function describeCause(cause: unknown): string {
  if (typeof cause !== 'object' || cause === null) return '';
  const { code, message } = cause as { code?: unknown; message?: unknown };
  if (typeof code === 'string') return ` (${code})`;
  return typeof message === 'string' ? ` (${message})` : '';
}
