import { formatLongId } from '@keylane/protocol';

/**
 * The Redis keys of one id. All share the hash tag `{<prefix>:<id>}`, so they live in one
 * slot and one Lua script may touch them all, also on Redis Cluster.
 */
export interface ItemKeys {
  /** The cached item (JSON), or the tombstone for "no row". */
  readonly value: string;
  /** The fill lease: a random token, PX leaseTtlMs. */
  readonly lease: string;
  /** Write markers: a sorted set of writer tokens scored by their expiry (Redis ms). */
  readonly writes: string;
  /**
   * The token of the latest writer that began with no other marker live, PX markerTtlMs;
   * deleted by any writer that begins while another is live. Only that writer may fill.
   */
  readonly soloWriter: string;
  /** The `locked` strategy's per-key mutex. */
  readonly lock: string;
}

function tagOf(prefix: string, id: bigint): string {
  return `{${prefix}:${formatLongId(id)}}`;
}

/** The cached value's key alone: a cache hit needs only this one string. */
export function valueKey(prefix: string, id: bigint): string {
  return `${tagOf(prefix, id)}:v`;
}

export function itemKeys(prefix: string, id: bigint): ItemKeys {
  const tag = tagOf(prefix, id);
  return { value: `${tag}:v`, lease: `${tag}:lease`, writes: `${tag}:w`, soloWriter: `${tag}:ws`, lock: `${tag}:lock` };
}
