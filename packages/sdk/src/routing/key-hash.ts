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
  return hashWords(Number(key >> 32n), Number(key & MASK_32));
}

/** The same hash from the key's high and low 32-bit words. */
export function hashWords(hi: number, lo: number): number {
  return fmix32(Math.imul(fmix32(hi), 0x9e37_79b1) ^ lo);
}

const TWO_32 = 2 ** 32;

/**
 * The high word of a safe-integer key's routing key (its two's-complement bits as uint64),
 * without a BigInt: division by 2^32 is exact in doubles, and floor() of a negative value
 * yields the sign-extended word.
 */
export function highWord(id: number): number {
  return Math.floor(id / TWO_32) >>> 0;
}

/** The low word: ToUint32 is exact modulo 2^32 for every safe integer. */
export function lowWord(id: number): number {
  return id >>> 0;
}
