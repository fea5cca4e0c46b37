import { tracingChannel } from 'node:diagnostics_channel';

/**
 * The SDK's `diagnostics_channel` tracing channels. `request` has one span per attempt of a
 * routed request (a read rerouted after a connection failure is two): `start` before it is
 * sent, `error` if it failed, `asyncStart`/`asyncEnd` when it settled, all with the same
 * {@link RequestContext}. Nothing is built or published while nobody subscribes.
 */
export const SDK_CHANNELS = {
  request: 'keylane:sdk:request',
} as const;

export interface RequestContext {
  /** `GET`, `PUT`, `DELETE`, or any method `client.request` sent. */
  method: string;
  /** The key: a long id in decimal, or the string key `client.request` was given. */
  key: string;
  /** The instance this attempt went to. */
  instance: string;
  /** 1 for the first attempt; a reroute or retry of the same call counts up. */
  attempt: number;
  /** The `x-request-id` sent (the same on every attempt of one call). */
  requestId: string;
  /** The `traceparent` sent, when the caller gave one. */
  traceparent: string | undefined;
  /** Set when it settled. */
  outcome?: 'ok' | 'error';
  /** The HTTP status, when an answer came. */
  status?: number;
  /**
   * Why it failed: a wire code (`version_conflict`, `overloaded`, ...), `connection_failed`
   * (the connection broke or was refused; a read is then rerouted), `instance_down` (a read
   * in flight to an instance just marked down, rerouted), or the error's own `code`.
   */
  code?: string;
  result?: unknown;
  error?: unknown;
}

export const requestChannel = tracingChannel<unknown, RequestContext>(SDK_CHANNELS.request);
