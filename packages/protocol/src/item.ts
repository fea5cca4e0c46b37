import { formatLongId } from './long-id.js';

/** An item as it travels: ids as decimal strings so all 64 bits survive JSON. */
export interface Item {
  id: string;
  value: unknown;
  /** Starts at 1 on the first write and grows by one with each write. */
  version: number;
}

/** The body of `PUT /v1/items/:id`. */
export interface PutItemBody {
  value: unknown;
  /** Apply the write only if the item is at this version (0 = must not exist). */
  ifVersion?: number;
}

export const ITEMS_PATH = '/v1/items';
export const HEALTH_LIVE_PATH = '/healthz/live';
export const HEALTH_READY_PATH = '/healthz/ready';
export const METRICS_PATH = '/metrics';

/**
 * What `GET /healthz/ready` answers (200 when `ready`, else 503 with an error body beside
 * these fields). `degraded`: a dependency has been unreachable for a while; the instance
 * still serves what it can, and callers route to it only when no instance is ready.
 */
export interface ReadinessBody {
  ready: boolean;
  degraded: boolean;
  draining: boolean;
  instanceId: string;
  strategy: string;
  postgres: boolean;
  redis: boolean;
  problems: string[];
}

/**
 * The request's absolute deadline, integer epoch milliseconds on the caller's clock. The SDK
 * sends it; the service never starts work after it and its writes cannot commit after it, so a
 * caller answered with a timeout is never overtaken by its own abandoned write. Caller and
 * instance clocks are assumed to agree within the service's skew allowance.
 */
export const DEADLINE_HEADER = 'x-keylane-deadline';

/**
 * The request's id: the SDK sends one on every request (the caller's, or a generated UUID), and
 * the item service logs under it and echoes it in its answer, so a caller's log line and the
 * instance's can be joined. At most {@link MAX_REQUEST_ID_LENGTH} visible ASCII characters.
 */
export const REQUEST_ID_HEADER = 'x-request-id';
export const MAX_REQUEST_ID_LENGTH = 128;
/** What a request id may be: visible ASCII, no spaces (it goes into headers and log lines as is). */
export const REQUEST_ID_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${MAX_REQUEST_ID_LENGTH}}$`);

export function itemPath(id: bigint): string {
  return `${ITEMS_PATH}/${formatLongId(id)}`;
}
