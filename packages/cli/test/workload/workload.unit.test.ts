import { describe, expect, it } from '@jest/globals';
import { InvalidOptionsError, MAX_LONG_ID, MIN_LONG_ID } from '@keylane/protocol';
import {
  createRng,
  createWorkload,
  deriveSeed,
  EDGE_KEYS,
  type WorkloadOp,
} from '../../src/workload/index.js';

function take(n: number, next: () => WorkloadOp): WorkloadOp[] {
  return Array.from({ length: n }, next);
}

describe('createRng', () => {
  it('is reproducible per seed and differs between seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const seqA = Array.from({ length: 100 }, () => a.uint32());
    expect(Array.from({ length: 100 }, () => b.uint32())).toEqual(seqA);
    expect(Array.from({ length: 100 }, () => c.uint32())).not.toEqual(seqA);
  });

  it('spreads uniformly enough for a workload (chi-square over 16 buckets)', () => {
    const rng = createRng(1);
    const buckets = new Array<number>(16).fill(0);
    const n = 160_000;
    for (let i = 0; i < n; i++) buckets[rng.int(16)]! += 1;
    const expected = n / 16;
    const chi2 = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(37.7); // p = 0.001 for 15 degrees of freedom
  });

  it('produces signed 64-bit ids of both signs, all in range', () => {
    const rng = createRng(3);
    const ids = Array.from({ length: 1000 }, () => rng.int64());
    expect(ids.every((id) => id >= MIN_LONG_ID && id <= MAX_LONG_ID)).toBe(true);
    expect(ids.some((id) => id < 0n)).toBe(true);
    expect(ids.some((id) => id > 2n ** 53n)).toBe(true);
  });

  it('rejects seeds outside [0, 2^32-1] and derives distinct caller seeds', () => {
    expect(() => createRng(-1)).toThrow(/^invalid option seed: must be an integer/);
    expect(() => createRng(1.5)).toThrow(InvalidOptionsError);
    const seeds = new Set(Array.from({ length: 1000 }, (_, i) => deriveSeed(42, i)));
    expect(seeds.size).toBe(1000);
  });
});

describe('createWorkload', () => {
  it('gives the same keys and the same per-caller sequences for the same seed', () => {
    const a = createWorkload({ seed: 42 });
    const b = createWorkload({ seed: 42 });
    expect(b.keys).toEqual(a.keys);
    expect(take(500, b.caller(3).next)).toEqual(take(500, a.caller(3).next));
    expect(take(500, createWorkload({ seed: 43 }).caller(3).next)).not.toEqual(
      take(500, a.caller(3).next),
    );
  });

  it('makes the edge ids hot and spreads the rest over both signs', () => {
    const w = createWorkload({ seed: 1, keys: 64, hotKeys: 4 });
    expect(w.hotKeys).toEqual(EDGE_KEYS);
    expect(w.hotKeys).toEqual(expect.arrayContaining([MIN_LONG_ID, MAX_LONG_ID, -1n]));
    expect(new Set(w.keys).size).toBe(64);
    expect(w.keys.slice(4).some((k) => k < 0n)).toBe(true);
  });

  it('sends about hotShare of the traffic to the hot keys, readShare of it as reads', () => {
    const w = createWorkload({ seed: 5, hotShare: 0.8, readShare: 0.7 });
    const hot = new Set(w.hotKeys);
    const ops = take(20_000, w.caller(0).next);
    const hotFraction = ops.filter((op) => hot.has(op.key)).length / ops.length;
    const readFraction = ops.filter((op) => op.kind === 'read').length / ops.length;
    expect(hotFraction).toBeGreaterThan(0.78);
    expect(hotFraction).toBeLessThan(0.82);
    expect(readFraction).toBeGreaterThan(0.68);
    expect(readFraction).toBeLessThan(0.72);
  });

  it('never writes the same value twice to a key, across callers', () => {
    const w = createWorkload({ seed: 9, keys: 3, hotKeys: 1 });
    const seen = new Set<string>();
    for (let c = 0; c < 20; c++) {
      for (const op of take(500, w.caller(c).next)) {
        if (op.kind !== 'write') continue;
        const tag = `${op.key}/${op.value}`;
        expect(seen.has(tag)).toBe(false);
        seen.add(tag);
      }
    }
    expect(seen.size).toBeGreaterThan(2000);
  });

  it('validates its options with messages that name the option', () => {
    expect(() => createWorkload({ seed: 1, keys: 0 })).toThrow(
      'invalid option keys: must be an integer in [1, 1000000], got 0',
    );
    expect(() => createWorkload({ seed: 1, keys: 4, hotKeys: 5 })).toThrow(
      /^invalid option hotKeys: /,
    );
    expect(() => createWorkload({ seed: 1, hotShare: 1.5 })).toThrow(/^invalid option hotShare: /);
    expect(() => createWorkload({ seed: 1, readShare: Number.NaN })).toThrow(
      /^invalid option readShare: /,
    );
    expect(() => createWorkload({ seed: 2 ** 32 })).toThrow(/^invalid option seed: /);
    expect(() => createWorkload({ seed: 1 }).caller(-1)).toThrow(/^invalid option index: /);
  });
});
