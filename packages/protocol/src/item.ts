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

export function itemPath(id: bigint): string {
  return `${ITEMS_PATH}/${formatLongId(id)}`;
}
