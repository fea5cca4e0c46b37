import { describe, expect, it } from '@jest/globals';
import { pairwiseRatios, ratioSpread, spread } from '../../src/bench/index.js';

describe('spread', () => {
  it('takes the middle value of an odd count, whatever the order', () => {
    expect(spread([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, runs: [5, 1, 3] });
  });

  it('averages the middle two of an even count', () => {
    expect(spread([4, 1, 2, 10])).toMatchObject({ median: 3, min: 1, max: 10 });
  });

  it('is the value itself for one run', () => {
    expect(spread([7])).toMatchObject({ median: 7, min: 7, max: 7 });
  });

  it('refuses no values', () => {
    expect(() => spread([])).toThrow(RangeError);
  });
});

describe('ratios', () => {
  it('pairs run i with run i and skips unusable denominators', () => {
    expect(pairwiseRatios([10, 20, 30, 40], [5, 0, Number.NaN, 80])).toEqual([2, 0.5]);
  });

  it('takes the median of per-run ratios, not the ratio of medians', () => {
    // Run 2 ran under heavy background load: both numbers fell together.
    const a = [100, 30, 90];
    const b = [200, 30, 100];
    const r = ratioSpread(a, b)!;
    expect(r.median).toBeCloseTo(0.9);
    expect(r.min).toBeCloseTo(0.5);
    expect(r.max).toBeCloseTo(1);
    // The ratio of the medians would say something else (90 / 100 happens to agree here,
    // so check a case where it does not).
    const skewed = ratioSpread([10, 50, 60], [20, 100, 60])!;
    expect(skewed.median).toBeCloseTo(0.5);
    expect(spread([10, 50, 60]).median / spread([20, 100, 60]).median).toBeCloseTo(50 / 60);
  });

  it('is null when no run has a denominator', () => {
    expect(ratioSpread([1, 2], [0, Number.NaN])).toBeNull();
  });
});
