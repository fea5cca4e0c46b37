import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { checkHistory, VIOLATION_KINDS, type Operation, type ViolationKind } from '../src/index.js';
import { isLinearizableExhaustive } from './support/exhaustive.js';
import { historyArb, type GeneratedHistory } from './support/histories.js';

// This file is the evidence that the O(n log n) zone checker is right: on every generated
// history it must give the same verdict as the exhaustive search, which shares none of its logic.

const RUNS = 10_000;

describe('zone checker agrees with the exhaustive search', () => {
  test('single key: same verdict on every history, with both verdicts well represented', () => {
    const tally = { ok: 0, notOk: 0, okWithUnknownRead: 0, okWithNullRead: 0 };
    const byClass = { random: [0, 0], simulated: [0, 0], mutated: [0, 0] };
    const kinds = new Set<ViolationKind>();
    fc.assert(
      fc.property(historyArb(), ({ cls, ops }: GeneratedHistory) => {
        const expected = isLinearizableExhaustive(ops);
        const result = checkHistory(ops);
        expect(result.ok).toBe(expected);
        expect(result.ok).toBe(result.violations.length === 0);
        if (expected) {
          tally.ok++;
          byClass[cls][0]!++;
          if (readsAnUnknownWrite(ops)) tally.okWithUnknownRead++;
          if (ops.some((o) => o.kind === 'read' && o.outcome === 'ok' && o.value === null))
            tally.okWithNullRead++;
        } else {
          tally.notOk++;
          byClass[cls][1]!++;
        }
        for (const v of result.violations) kinds.add(v.kind);
      }),
      { numRuns: RUNS },
    );
    // The comparison only means something if both answers come up often.
    expect(tally.ok).toBeGreaterThan(RUNS * 0.25);
    expect(tally.notOk).toBeGreaterThan(RUNS * 0.25);
    expect(tally.okWithUnknownRead).toBeGreaterThan(RUNS * 0.02);
    expect(tally.okWithNullRead).toBeGreaterThan(RUNS * 0.05);
    // Simulated runs are linearizable by construction; the oracle must say so.
    expect(byClass.simulated[1]).toBe(0);
    // Mutated runs (one read changed) land on both sides.
    expect(byClass.mutated[0]).toBeGreaterThan(0);
    expect(byClass.mutated[1]).toBeGreaterThan(0);
    expect([...kinds].sort()).toEqual([...VIOLATION_KINDS].sort());
  });

  test('several keys interleaved: same verdict, independent of input order', () => {
    fc.assert(
      fc.property(historyArb({ keys: ['a', 'b'], maxOps: 14 }), fc.nat(), ({ ops }, seed) => {
        const expected = isLinearizableExhaustive(ops);
        expect(checkHistory(ops).ok).toBe(expected);
        expect(checkHistory(shuffle(ops, seed)).ok).toBe(expected);
      }),
      { numRuns: 1_500 },
    );
  });
});

describe('the comparison catches a wrong checker', () => {
  // A test that cannot fail proves nothing: the same harness must reject checkers that are
  // almost right. fc.check returns the counterexample instead of throwing.

  test('a checker that only looks for garbage and future reads is caught', () => {
    const naive = (ops: Operation[]): boolean =>
      ops.every((r) => {
        if (r.kind !== 'read' || r.outcome !== 'ok' || r.value === null) return true;
        const w = ops.find((o) => o.kind === 'write' && o.key === r.key && o.value === r.value);
        return w !== undefined && w.outcome !== 'fail' && w.invokeNs <= r.completeNs;
      });
    const out = fc.check(
      fc.property(historyArb(), ({ ops }) => naive(ops) === isLinearizableExhaustive(ops)),
      { numRuns: RUNS },
    );
    expect(out.failed).toBe(true);
  });

  test('treating unknown writes as completed when recorded is caught', () => {
    // The tempting mistake: use the recorded completion time of a timed-out write as its bound.
    const asCompleted = (ops: Operation[]): Operation[] =>
      ops.map((o) =>
        o.kind === 'write' && o.outcome === 'unknown' ? { ...o, outcome: 'ok' as const } : o,
      );
    const out = fc.check(
      fc.property(
        historyArb(),
        ({ ops }) => checkHistory(asCompleted(ops)).ok === isLinearizableExhaustive(ops),
      ),
      { numRuns: RUNS },
    );
    expect(out.failed).toBe(true);
  });

  test('treating equal timestamps as ordered is caught', () => {
    // Shrinking every completion by one tick turns "touching" into "overlapping" for the
    // checker only: it must then disagree with the oracle somewhere.
    const earlier = (ops: Operation[]): Operation[] =>
      ops.map((o) => (o.completeNs > o.invokeNs ? { ...o, completeNs: o.completeNs - 1n } : o));
    const out = fc.check(
      fc.property(
        historyArb(),
        ({ ops }) => checkHistory(earlier(ops)).ok === isLinearizableExhaustive(ops),
      ),
      { numRuns: RUNS },
    );
    expect(out.failed).toBe(true);
  });
});

function readsAnUnknownWrite(ops: Operation[]): boolean {
  return ops.some(
    (r) =>
      r.kind === 'read' &&
      r.outcome === 'ok' &&
      ops.some(
        (w) =>
          w.kind === 'write' && w.outcome === 'unknown' && w.value === r.value && w.key === r.key,
      ),
  );
}

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed | 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) | 0;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
