/**
 * The Redis keys of one entity key. All share the hash tag `{<prefix>:<entity>:<id>}`, so they
 * live in one slot and one Lua script may touch them all, also on Redis Cluster. (An id
 * containing `}` ends the tag early, but at the same place in every key of that id.)
 */
export interface GuardKeys {
  /** The cached value (the codec's text), or the tombstone for "no row". */
  readonly value: string;
  /** The fill lease: a random token, PX leaseTtlMs. */
  readonly lease: string;
  /** Write markers: a sorted set of writer tokens scored by their expiry (Redis ms). */
  readonly writes: string;
  /**
   * The token of the latest writer that began with no other marker live, PX markerTtlMs;
   * deleted by any writer (or invalidate) that begins while another is live. Only that writer may fill.
   */
  readonly soloWriter: string;
  /**
   * The key's commit watermark, a hash: `lsn` (the highest commit LSN a clean write end
   * recorded), `b` and `e` (writes begun, writes ended cleanly). PX: the watermark TTL, never
   * shortened. What lets a miss read a replica (README "Replica reads").
   */
  readonly watermark: string;
  /** The `locked` baseline's per-key mutex. */
  readonly lock: string;
}

/** `{<prefix>:<entity>:<id text>}`: what every key of one id starts with. */
export function hashTag(prefix: string, entity: string, idText: string): string {
  return `{${prefix}:${entity}:${idText}}`;
}

/** The cached value's key alone: a cache hit needs only this one string. */
export function valueKey(tag: string): string {
  return `${tag}:v`;
}

export function guardKeys(tag: string): GuardKeys {
  return { value: `${tag}:v`, lease: `${tag}:lease`, writes: `${tag}:w`, soloWriter: `${tag}:ws`, watermark: `${tag}:lsn`, lock: `${tag}:lock` };
}
