/** A figure over several runs: the median is what tables show, min and max bound the noise. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** The per-run values, in run order. */
  runs: number[];
}

/** Median (mean of the middle two for an even count), min and max. Throws on no values. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread() needs at least one value');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...values] };
}

/**
 * Ratios of two series taken pairwise, run i against run i: both numbers of a pair were
 * measured minutes apart at most, under the same background load, so the ratio cancels most
 * of what a shared machine adds. A pair with a zero or missing denominator is skipped.
 */
export function pairwiseRatios(
  numerators: readonly number[],
  denominators: readonly number[],
): number[] {
  const ratios: number[] = [];
  const n = Math.min(numerators.length, denominators.length);
  for (let i = 0; i < n; i++) {
    const a = numerators[i]!;
    const b = denominators[i]!;
    if (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b);
  }
  return ratios;
}

/** `spread` of the pairwise ratios, or null when no pair had a usable denominator. */
export function ratioSpread(
  numerators: readonly number[],
  denominators: readonly number[],
): Spread | null {
  const ratios = pairwiseRatios(numerators, denominators);
  return ratios.length === 0 ? null : spread(ratios);
}
