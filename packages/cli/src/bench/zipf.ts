import type { Rng } from '../workload/index.js';
import { InvalidOptionsError } from '@keylane/protocol';

/**
 * Zipf ranks over [0, n): rank r is drawn with probability proportional to 1 / (r + 1)^s.
 * The cumulative weights are built once (n is at most a few hundred thousand here), and a draw
 * is a binary search over them, so the distribution is exact rather than approximated.
 */
export interface ZipfSampler {
  readonly n: number;
  readonly exponent: number;
  /** A rank in [0, n); 0 is the hottest. */
  sample(rng: Rng): number;
  /** The probability mass of the `k` hottest ranks. */
  massOfTop(k: number): number;
}

export function createZipf(n: number, exponent: number): ZipfSampler {
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) {
    throw new InvalidOptionsError('keys', `a Zipf law needs 1 to 1000000 keys, got ${n}`);
  }
  if (!(exponent >= 0 && exponent <= 5)) {
    throw new InvalidOptionsError('zipfExponent', `must be in [0, 5], got ${exponent}`);
  }
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) {
    total += 1 / Math.pow(r + 1, exponent);
    cumulative[r] = total;
  }
  for (let r = 0; r < n; r++) cumulative[r] = cumulative[r]! / total;
  return {
    n,
    exponent,
    sample(rng) {
      const u = rng.float();
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid]! > u) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    },
    massOfTop(k) {
      if (k <= 0) return 0;
      return cumulative[Math.min(k, n) - 1]!;
    },
  };
}
