import { describe, expect, it } from '@jest/globals';
import { createRng } from '../../src/workload/index.js';
import { InvalidOptionsError } from '@keylane/protocol';
import { createBenchWorkloads, createZipf } from '../../src/bench/index.js';

function harmonic(n: number, s: number): number {
  let h = 0;
  for (let r = 1; r <= n; r++) h += 1 / r ** s;
  return h;
}

describe('createZipf', () => {
  it('draws rank r with probability 1/(r+1)^s / H(n, s)', () => {
    const n = 1000;
    const zipf = createZipf(n, 1);
    const rng = createRng(7);
    const draws = 200_000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[zipf.sample(rng)]! += 1;
    const h = harmonic(n, 1);
    for (const r of [0, 1, 4, 9]) {
      expect(counts[r]! / draws).toBeCloseTo(1 / (r + 1) / h, 2);
    }
    // The skew the workload relies on: the hottest 1% take a large share, the coldest half little.
    const top1 = counts.slice(0, 10).reduce((a, b) => a + b, 0) / draws;
    const bottomHalf = counts.slice(n / 2).reduce((a, b) => a + b, 0) / draws;
    expect(top1).toBeCloseTo(zipf.massOfTop(10), 2);
    expect(top1).toBeGreaterThan(0.35);
    expect(bottomHalf).toBeLessThan(0.1);
  });

  it('is uniform at exponent 0', () => {
    const zipf = createZipf(100, 0);
    expect(zipf.massOfTop(1)).toBeCloseTo(0.01, 10);
    expect(zipf.massOfTop(50)).toBeCloseTo(0.5, 10);
  });

  it('refuses a bad key count or exponent, naming it', () => {
    expect(() => createZipf(0, 1)).toThrow(InvalidOptionsError);
    expect(() => createZipf(0, 1)).toThrow(/^invalid option keys: /);
    expect(() => createZipf(10, -1)).toThrow(/^invalid option zipfExponent: must be in \[0, 5\]/);
  });
});

describe('createBenchWorkloads', () => {
  const workloads = createBenchWorkloads({ seed: 3, keys: 500, zipfExponent: 1 });

  it('reproduces every caller stream from the seed', () => {
    const again = createBenchWorkloads({ seed: 3, keys: 500, zipfExponent: 1 });
    const a = workloads['read-heavy'].caller(2);
    const b = again['read-heavy'].caller(2);
    for (let i = 0; i < 100; i++) expect(a()).toEqual(b());
  });

  it('has the read shares of the issue and one key for the hot-key workload', () => {
    const share = (name: 'read-heavy' | 'balanced' | 'hot-key'): number => {
      const next = workloads[name].caller(0);
      let reads = 0;
      for (let i = 0; i < 20_000; i++) if (next().kind === 'read') reads += 1;
      return reads / 20_000;
    };
    expect(share('read-heavy')).toBeCloseTo(0.95, 1);
    expect(share('balanced')).toBeCloseTo(0.5, 1);
    expect(share('hot-key')).toBeCloseTo(0.5, 1);
    expect(workloads['hot-key'].keys).toHaveLength(1);
    const next = workloads['hot-key'].caller(1);
    const keys = new Set(Array.from({ length: 100 }, () => next().key));
    expect([...keys]).toEqual([workloads['hot-key'].keys[0]]);
  });

  it('sends most read-heavy traffic to the hottest 1% of keys', () => {
    const keys = workloads['read-heavy'].keys;
    const hot = new Set(keys.slice(0, 5));
    let hits = 0;
    for (let c = 0; c < 4; c++) {
      const next = workloads['read-heavy'].caller(c);
      for (let i = 0; i < 5_000; i++) if (hot.has(next().key)) hits += 1;
    }
    expect(hits / 20_000).toBeGreaterThan(0.3);
  });
});
