import { describe, expect, test } from '@jest/globals';
import {
  checkConvergence,
  checkHistory,
  countByKind,
  countKindsFound,
  formatCheckResult,
  formatConvergenceResult,
  type Operation,
} from '../src/index.js';

describe('checkConvergence', () => {
  test('empty cache entries and equal values converge', () => {
    const result = checkConvergence([
      { key: '1', cached: undefined, stored: 'v1' },
      { key: '2', cached: undefined, stored: null },
      { key: '3', cached: 'v3', stored: 'v3' },
      { key: '4', cached: null, stored: null },
    ]);
    expect(result).toEqual({ ok: true, keysChecked: 4, diverged: [] });
  });

  test('every kind of disagreement is named', () => {
    const result = checkConvergence(
      (function* () {
        yield { key: '1', cached: 'v1', stored: 'v2' };
        yield { key: '2', cached: null, stored: 'v2' };
        yield { key: '3', cached: 'v3', stored: null };
        yield { key: '4', cached: 'same', stored: 'same' };
      })(),
    );
    expect(result.ok).toBe(false);
    expect(result.keysChecked).toBe(4);
    expect(result.diverged.map((d) => d.message)).toEqual([
      'key 1: the cache holds "v1" but the database holds "v2"',
      'key 2: the cache holds "absent" but the database holds "v2"',
      'key 3: the cache holds "v3" but the database has no row',
    ]);
    expect(result.diverged[0]).toMatchObject({ key: '1', cached: 'v1', stored: 'v2' });
  });
});

describe('formatting', () => {
  const op = (
    kind: 'read' | 'write',
    value: string | null,
    inv: number,
    cmp: number,
    key = 'k',
  ): Operation => ({
    process: 'p',
    key,
    kind,
    value,
    invokeNs: BigInt(inv) * 1_000_000n,
    completeNs: BigInt(cmp) * 1_000_000n,
    outcome: 'ok',
  });

  test('an ok result is one line', () => {
    expect(formatCheckResult(checkHistory([op('write', 'a', 0, 1)]))).toBe(
      'linearizability: ok (1 key / 1 op)',
    );
    expect(formatConvergenceResult(checkConvergence([]))).toBe('convergence: ok (0 keys)');
  });

  test('violations are counted by kind and listed up to the limit', () => {
    const ops: Operation[] = [];
    for (let k = 0; k < 3; k++) {
      const key = String(k);
      ops.push(
        op('write', 'a', 0, 1, key),
        op('write', 'b', 2, 3, key),
        op('read', 'a', 4, 5, key),
      );
    }
    ops.push(op('read', 'zzz', 0, 1, 'g'));
    const result = checkHistory(ops);
    expect(countByKind(result.violations)).toEqual({
      'stale-read': 3,
      'future-read': 0,
      'garbage-read': 1,
      'aborted-read': 0,
      order: 0,
    });
    const text = formatCheckResult(result, { limit: 2 });
    expect(text.split('\n')).toEqual([
      'linearizability: 4 violations in 4 keys / 10 ops (3 stale-read, 1 garbage-read)',
      expect.stringMatching(
        /^ {2}\[stale-read\] key 0: read by p -> "a" \[\+4\.000ms, \+5\.000ms\] began after/,
      ),
      expect.stringMatching(/^ {2}\[stale-read\] key 1: /),
      '  ... and 2 more',
    ]);
    expect(() => formatCheckResult(result, { limit: -1 })).toThrow(
      'options.limit must be a non-negative integer, got -1',
    );
  });

  test('countKindsFound holds only the kinds found, in the order they first occur', () => {
    const result = checkHistory([
      op('read', 'zzz', 0, 1, 'g'),
      op('write', 'a', 0, 1, 'k'),
      op('write', 'b', 2, 3, 'k'),
      op('read', 'a', 4, 5, 'k'),
    ]);
    const found = countKindsFound(result.violations);
    expect(found).toEqual({ 'garbage-read': 1, 'stale-read': 1 });
    expect(Object.keys(found)).toEqual([...new Set(result.violations.map((v) => v.kind))]);
    expect(countKindsFound([])).toEqual({});
  });

  test('diverged keys are listed up to the limit', () => {
    const result = checkConvergence([
      { key: '1', cached: 'x', stored: 'y' },
      { key: '2', cached: 'x', stored: 'y' },
    ]);
    expect(formatConvergenceResult(result, { limit: 1 })).toBe(
      'convergence: 2 of 2 keys diverged\n  key 1: the cache holds "x" but the database holds "y"\n  ... and 1 more',
    );
  });
});
