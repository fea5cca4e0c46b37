import { describe, expect, test } from '@jest/globals';
import {
  checkHistory,
  InvalidHistoryError,
  type Operation,
  type OperationOutcome,
} from '../src/index.js';

// Times below are in microseconds from an arbitrary origin; messages show them in ms from the
// history's first invocation.
const ORIGIN = 5_000_000_000n;
function op(
  kind: 'read' | 'write',
  process: string,
  value: string | null,
  inv: number,
  cmp: number,
  outcome: OperationOutcome = 'ok',
  key = 'k',
): Operation {
  return {
    process,
    key,
    kind,
    value,
    invokeNs: ORIGIN + BigInt(inv) * 1000n,
    completeNs: ORIGIN + BigInt(cmp) * 1000n,
    outcome,
  };
}
const w = (
  p: string,
  v: string,
  inv: number,
  cmp: number,
  o?: OperationOutcome,
  key?: string,
): Operation => op('write', p, v, inv, cmp, o, key);
const r = (
  p: string,
  v: string | null,
  inv: number,
  cmp: number,
  o?: OperationOutcome,
  key?: string,
): Operation => op('read', p, v, inv, cmp, o, key);

function kinds(ops: Operation[]): string[] {
  return checkHistory(ops).violations.map((v) => v.kind);
}

describe('linearizable histories', () => {
  test('sequential writes and reads', () => {
    const result = checkHistory([
      r('p1', null, 0, 1),
      w('p1', 'a', 2, 3),
      r('p2', 'a', 4, 5),
      w('p2', 'b', 6, 7),
      r('p1', 'b', 8, 9),
    ]);
    expect(result).toEqual({ ok: true, keysChecked: 1, opsChecked: 5, violations: [] });
  });

  test('a read concurrent with a write may see either value', () => {
    expect(kinds([w('p1', 'a', 0, 10), r('p2', null, 1, 2), r('p3', 'a', 3, 4)])).toEqual([]);
  });

  test('two concurrent writes may take effect in either order', () => {
    expect(
      kinds([w('p1', 'a', 0, 10), w('p2', 'b', 0, 10), r('p3', 'b', 1, 2), r('p3', 'a', 3, 4)]),
    ).toEqual([]);
    expect(
      kinds([w('p1', 'a', 0, 10), w('p2', 'b', 0, 10), r('p3', 'a', 1, 2), r('p3', 'b', 3, 4)]),
    ).toEqual([]);
  });

  test('touching intervals (equal timestamps) count as concurrent', () => {
    expect(kinds([w('p1', 'a', 0, 5), r('p2', null, 5, 6)])).toEqual([]);
    expect(kinds([w('p1', 'a', 0, 5), r('p2', null, 6, 7)])).toEqual(['stale-read']);
  });

  test('a failed write that nobody read is ignored', () => {
    expect(kinds([w('p1', 'a', 0, 1, 'fail'), r('p2', null, 2, 3)])).toEqual([]);
  });

  test('reads that failed or ended unknown carry no information', () => {
    expect(
      kinds([
        w('p1', 'a', 0, 1),
        r('p2', 'nonsense', 2, 3, 'fail'),
        r('p2', null, 4, 5, 'unknown'),
      ]),
    ).toEqual([]);
  });
});

describe('writes with outcome unknown', () => {
  test('read later: it happened', () => {
    expect(kinds([w('p1', 'a', 0, 1, 'unknown'), r('p2', 'a', 50, 60)])).toEqual([]);
  });

  test('never read: it may never have happened', () => {
    expect(
      kinds([w('p1', 'a', 0, 1, 'unknown'), r('p2', null, 2, 3), r('p2', null, 50, 60)]),
    ).toEqual([]);
  });

  test('it may land after a later acknowledged write, which an acknowledged one may not', () => {
    // The recorded completion of an unknown write is when the caller gave up, not a bound.
    expect(kinds([w('p1', 'a', 0, 1, 'unknown'), w('p2', 'b', 2, 3), r('p3', 'a', 4, 5)])).toEqual(
      [],
    );
    expect(kinds([w('p1', 'a', 0, 1, 'ok'), w('p2', 'b', 2, 3), r('p3', 'a', 4, 5)])).toEqual([
      'stale-read',
    ]);
  });

  test('once seen, the initial value cannot come back', () => {
    expect(kinds([w('p1', 'a', 0, 1, 'unknown'), r('p2', 'a', 2, 3), r('p2', null, 4, 5)])).toEqual(
      ['stale-read'],
    );
  });

  test('its value cannot be read before it began', () => {
    expect(kinds([r('p2', 'a', 0, 1), w('p1', 'a', 2, 3, 'unknown')])).toEqual(['future-read']);
  });
});

describe('violations', () => {
  test('stale read: a value read after a later write completed', () => {
    const ops = [w('p1', 'a', 0, 1), w('p2', 'b', 2, 3), r('p3', 'a', 4, 5)];
    const [v, ...rest] = checkHistory(ops).violations;
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ key: 'k', kind: 'stale-read', opIndexes: [2, 1, 0] });
    expect(v!.ops).toEqual([ops[2], ops[1], ops[0]]);
    expect(v!.message).toBe(
      'key k: read by p3 -> "a" [+0.004ms, +0.005ms] began after write "b" by p2 [+0.002ms, +0.003ms] had ended, ' +
        'yet returned "a"; "b" cannot come first either: write "a" by p1 [+0.000ms, +0.001ms] ended before ' +
        'write "b" by p2 [+0.002ms, +0.003ms] began',
    );
  });

  test('stale read: a value read again after another value was read', () => {
    expect(
      kinds([
        w('p1', 'a', 0, 10),
        w('p2', 'b', 0, 10),
        r('p3', 'a', 1, 2),
        r('p3', 'b', 3, 4),
        r('p3', 'a', 5, 6),
      ]),
    ).toEqual(['stale-read']);
  });

  test('stale read: the initial null after a write completed', () => {
    const [v] = checkHistory([w('p1', 'a', 0, 1), r('p2', null, 2, 3)]).violations;
    expect(v!.kind).toBe('stale-read');
    expect(v!.message).toBe(
      'key k: read by p2 -> null (absent) [+0.002ms, +0.003ms] began after write "a" by p1 [+0.000ms, +0.001ms] had ended, ' +
        'yet returned the initial null; nothing can come before the initial value',
    );
  });

  test('stale read: the initial null after another read saw a value', () => {
    const [v] = checkHistory([
      w('p1', 'a', 0, 10),
      r('p2', 'a', 1, 2),
      r('p3', null, 3, 4),
    ]).violations;
    expect(v!.kind).toBe('stale-read');
    expect(v!.message).toContain(
      'read by p3 -> null (absent) [+0.003ms, +0.004ms] began after read by p2 -> "a"',
    );
  });

  test('future read: the write began after the read ended', () => {
    const ops = [r('p1', 'a', 0, 1), w('p2', 'a', 2, 3)];
    const [v] = checkHistory(ops).violations;
    expect(v).toMatchObject({ kind: 'future-read', opIndexes: [0, 1] });
    expect(v!.message).toBe(
      'key k: read by p1 -> "a" [+0.000ms, +0.001ms] returned a value whose write began only after the read had ended: ' +
        'write "a" by p2 [+0.002ms, +0.003ms]',
    );
  });

  test('garbage read: a value never written to this key', () => {
    const ops = [w('p1', 'a', 0, 1), w('p1', 'x', 0, 1, 'ok', 'other'), r('p2', 'x', 2, 3)];
    const [v] = checkHistory(ops).violations;
    expect(v).toMatchObject({ kind: 'garbage-read', opIndexes: [2] });
    expect(v!.message).toBe(
      'key k: read by p2 -> "x" [+0.002ms, +0.003ms] returned a value that no operation wrote to this key',
    );
  });

  test('aborted read: the value of a failed write', () => {
    const [v] = checkHistory([w('p1', 'a', 0, 1, 'fail'), r('p2', 'a', 2, 3)]).violations;
    expect(v).toMatchObject({ kind: 'aborted-read', opIndexes: [1, 0] });
    expect(v!.message).toBe(
      'key k: read by p2 -> "a" [+0.002ms, +0.003ms] returned the value of a write that failed: ' +
        'write "a" by p1 (outcome fail) [+0.000ms, +0.001ms]',
    );
  });

  test('order: two forward zones overlap', () => {
    // a is seen, then b, then a, then b: each value was observed both before and after the other.
    const ops = [
      w('p1', 'a', 0, 20),
      w('p2', 'b', 0, 20),
      r('p3', 'a', 1, 2),
      r('p4', 'b', 3, 4),
      r('p3', 'a', 5, 6),
      r('p4', 'b', 7, 8),
    ];
    const [v, ...rest] = checkHistory(ops).violations;
    expect(rest).toEqual([]);
    expect(v!.kind).toBe('order');
    expect(v!.message).toBe(
      'key k: "a" and "b" were each observed before the other: ' +
        'read by p3 -> "a" [+0.001ms, +0.002ms] ended before read by p4 -> "b" [+0.007ms, +0.008ms] began, ' +
        'and read by p4 -> "b" [+0.003ms, +0.004ms] ended before read by p3 -> "a" [+0.005ms, +0.006ms] began',
    );
    expect(v!.opIndexes).toEqual([2, 5, 3, 4, 0, 1]);
  });

  test('one stale read over many later values is one violation', () => {
    const ops = [
      w('p1', 'a', 0, 1),
      r('p2', 'a', 2, 3),
      w('p1', 'b', 4, 5),
      w('p1', 'c', 6, 7),
      r('p2', 'c', 8, 9),
      w('p1', 'd', 10, 11),
      r('p3', 'a', 12, 13),
    ];
    const violations = checkHistory(ops).violations;
    expect(violations).toHaveLength(1);
    expect(violations[0]!.kind).toBe('stale-read');
    expect(violations[0]!.opIndexes[0]).toBe(6);
    expect(violations[0]!.message).toMatch(
      /^key k: read by p3 -> "a" \[\+0\.012ms, \+0\.013ms\] began after write "b" by p1 \[\+0\.004ms, \+0\.005ms\] had ended, yet returned "a";/,
    );
  });

  test('each stale read of a replaced value is its own violation', () => {
    const ops = [
      w('p1', 'a', 0, 1),
      w('p1', 'b', 2, 3),
      r('p2', 'a', 4, 5),
      r('p3', 'a', 4, 6),
      r('p2', 'b', 7, 8),
    ];
    expect(checkHistory(ops).violations.map((v) => [v.kind, v.opIndexes[0]])).toEqual([
      ['stale-read', 2],
      ['stale-read', 3],
    ]);
  });

  test('a lost acknowledged write shows as a stale read of the final state', () => {
    // After quiescence, a read of what the database holds, invoked after everything.
    const audit = (v: string | null): Operation => r('auditor', v, 100, 100);
    const run = [w('p1', 'v1', 0, 1), w('p2', 'v2', 2, 3), w('p3', 'v3', 2, 4, 'unknown')];
    expect(kinds([...run, audit('v2')])).toEqual([]);
    expect(kinds([...run, audit('v3')])).toEqual([]); // the unknown write landed
    expect(kinds([...run, audit('v1')])).toEqual(['stale-read']); // v2 was lost
    expect(kinds([...run, audit(null)])).toEqual(['stale-read']);
  });

  test('keys are checked independently', () => {
    const result = checkHistory([
      w('p1', 'a', 0, 1, 'ok', 'x'),
      w('p1', 'b', 2, 3, 'ok', 'x'),
      r('p2', 'a', 4, 5, 'ok', 'x'),
      w('p1', 'a', 0, 1, 'ok', 'y'),
      r('p2', 'a', 4, 5, 'ok', 'y'),
    ]);
    expect(result.ok).toBe(false);
    expect(result.keysChecked).toBe(2);
    expect(result.violations.map((v) => [v.key, v.kind])).toEqual([['x', 'stale-read']]);
  });

  test('an empty history is fine', () => {
    expect(checkHistory([])).toEqual({ ok: true, keysChecked: 0, opsChecked: 0, violations: [] });
  });
});

describe('histories outside the model are refused', () => {
  test.each([
    [
      'a value written twice to one key',
      [w('p1', 'a', 0, 1), w('p2', 'a', 2, 3)],
      1,
      /value "a" is also written by operation #0/,
    ],
    [
      'a write of null',
      [{ ...w('p1', 'a', 0, 1), value: null }],
      0,
      /a write must carry a string value/,
    ],
    [
      'completion before invocation',
      [r('p1', null, 5, 4)],
      0,
      /completeNs \(\d+\) is before invokeNs/,
    ],
    [
      'an unknown outcome',
      [{ ...r('p1', null, 0, 1), outcome: 'maybe' as OperationOutcome }],
      0,
      /outcome must be/,
    ],
  ])('%s', (_name, ops, index, message) => {
    let caught: unknown;
    try {
      checkHistory(ops);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidHistoryError);
    expect(caught).toMatchObject({ code: 'invalid_history', index });
    expect((caught as Error).message).toMatch(message);
  });
});
