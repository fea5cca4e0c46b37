// Stable hashes shared by every process that routes: pure integer arithmetic, no
// randomness, no per-process seed, so two callers always compute the same values.

const MASK_32 = 0xffff_ffffn;

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Folds a routing key (uint64) into a well-mixed uint32. Sequential ids land far apart on the
 * ring, so a run of new ids does not pile onto one instance.
 */
export function hashRoutingKey(key: bigint): number {
  const lo = Number(key & MASK_32);
  const hi = Number(key >> 32n);
  return fmix32(Math.imul(fmix32(hi), 0x9e37_79b1) ^ lo);
}
