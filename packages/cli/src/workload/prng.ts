import { InvalidOptionsError } from '@keylane/protocol';

/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) so a `--seed` reproduces the
 * same keys and the same per-caller operation sequences on every machine. Math.random cannot be
 * seeded; crypto is needlessly slow for a workload generator.
 */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  uint32(): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** A uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** A uniform signed 64-bit integer. */
  int64(): bigint;
}

export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new InvalidOptionsError('seed', `must be an integer in [0, 2^32-1], got ${seed}`);
  }
  let sm = seed >>> 0;
  const splitmix = (): number => {
    sm = (sm + 0x9e3779b9) >>> 0;
    let z = sm;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point of xoshiro

  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };

  return {
    uint32,
    float: () => uint32() / 0x1_0000_0000,
    int(maxExclusive) {
      if (!Number.isInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > 0x1_0000_0000) {
        throw new RangeError(`int() needs an integer bound in [1, 2^32], got ${maxExclusive}`);
      }
      return Math.floor((uint32() / 0x1_0000_0000) * maxExclusive);
    },
    int64() {
      const hi = BigInt(uint32());
      const lo = BigInt(uint32());
      return BigInt.asIntN(64, (hi << 32n) | lo);
    },
  };
}

/** An independent seed for stream `index` of `seed` (callers get their own streams). */
export function deriveSeed(seed: number, index: number): number {
  let h = Math.imul((seed ^ 0x5bd1e995) >>> 0, 0x27d4eb2d) >>> 0;
  h = Math.imul((h ^ (index + 0x165667b1)) >>> 0, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
