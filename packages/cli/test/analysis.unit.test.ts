import { describe, expect, it } from '@jest/globals';
import type { Operation } from '@keylane/checker';
import { findLostAckedWrites, outcomeOfError, percentile, summarizeFault } from '../src/index.js';
import {
  KeylaneError,
  OverloadedError,
  UnavailableError,
  DeadlineExceededError,
  OutcomeUnknownError,
  VersionConflictError,
} from '@keylane/protocol';
import {
  ConnectionError,
  NoHealthyInstanceError,
  RequestTimeoutError,
  ServiceError,
} from '@keylane/sdk';

/** A write on key "k" over [invoke, complete] (in ms, stored as ns). */
function w(
  value: string,
  invoke: number,
  complete: number,
  outcome: Operation['outcome'] = 'ok',
): Operation {
  return {
    process: 'p',
    key: 'k',
    kind: 'write',
    value,
    invokeNs: BigInt(invoke) * 1_000_000n,
    completeNs: BigInt(complete) * 1_000_000n,
    outcome,
  };
}

const finalIs = (value: string | null): Map<string, string | null> => new Map([['k', value]]);

describe('findLostAckedWrites', () => {
  it('accepts the last acknowledged write as the final value', () => {
    expect(findLostAckedWrites([w('a', 0, 10), w('b', 20, 30)], finalIs('b'))).toEqual([]);
  });

  it('reports an acknowledged write replaced by an older value', () => {
    expect(findLostAckedWrites([w('a', 0, 10), w('b', 20, 30)], finalIs('a'))).toEqual([
      { key: 'k', value: 'b', finalValue: 'a' },
    ]);
  });

  it('reports the key when the row is gone, and when it holds a value nobody wrote', () => {
    expect(findLostAckedWrites([w('a', 0, 10)], finalIs(null))).toHaveLength(1);
    expect(findLostAckedWrites([w('a', 0, 10)], finalIs('zzz'))).toHaveLength(1);
  });

  it('lets either of two overlapping last writes win', () => {
    const ops = [w('a', 0, 30), w('b', 10, 20)];
    expect(findLostAckedWrites(ops, finalIs('a'))).toEqual([]);
    expect(findLostAckedWrites(ops, finalIs('b'))).toEqual([]);
  });

  it('treats unknown writes as possibly applied later, failed ones as never applied', () => {
    expect(findLostAckedWrites([w('a', 0, 10, 'unknown'), w('b', 20, 30)], finalIs('a'))).toEqual(
      [],
    );
    expect(findLostAckedWrites([w('a', 0, 10), w('b', 20, 30, 'fail')], finalIs('b'))).toEqual([
      { key: 'k', value: 'a', finalValue: 'b' },
    ]);
    expect(findLostAckedWrites([w('a', 0, 10, 'unknown')], finalIs(null))).toEqual([]);
  });
});

describe('summaries', () => {
  it('percentile is nearest-rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('reroute time is fault to first success on a victim key; failures after the fault count', () => {
    const read = (
      key: string,
      invoke: number,
      complete: number,
      outcome: Operation['outcome'],
    ): Operation => ({
      process: 'p',
      key,
      kind: 'read',
      value: null,
      invokeNs: BigInt(invoke) * 1_000_000n,
      completeNs: BigInt(complete) * 1_000_000n,
      outcome,
    });
    const ops = [
      read('v', 0, 5, 'ok'),
      read('v', 90, 120, 'unknown'), // cut short by the fault: counts as failed
      read('v', 95, 105, 'ok'), // began before the fault: not a reroute
      read('v', 100, 101, 'fail'),
      read('other', 100, 102, 'ok'),
      read('v', 110, 150, 'unknown'),
      read('v', 160, 170, 'ok'),
      read('v', 180, 190, 'ok'),
    ];
    expect(summarizeFault(ops, 100n * 1_000_000n, new Set(['v']))).toEqual({
      rerouteMs: 70,
      failedRequests: 3,
    });
  });
});

describe('outcomeOfError', () => {
  it('calls fail only what surely had no effect', () => {
    expect(outcomeOfError(new NoHealthyInstanceError())).toBe('fail');
    expect(outcomeOfError(new ConnectionError('item-1', false))).toBe('fail');
    expect(outcomeOfError(new VersionConflictError('1', 1, 2))).toBe('fail');
    expect(outcomeOfError(new OverloadedError('full'))).toBe('fail');
    expect(outcomeOfError(new ServiceError('item-1', 400, 'invalid_body', 'bad'))).toBe('fail');

    expect(outcomeOfError(new ConnectionError('item-1', true))).toBe('unknown');
    expect(outcomeOfError(new RequestTimeoutError('item-1', 100))).toBe('unknown');
    expect(outcomeOfError(new ServiceError('item-1', 500, 'internal', 'bug'))).toBe('unknown');
    // Since the outcome of a write cut in flight has a code of its own, `unavailable` means
    // nothing was committed; the registry says so and the mapping reads it.
    expect(outcomeOfError(new UnavailableError('redis down'))).toBe('fail');
    expect(outcomeOfError(new DeadlineExceededError('too late'))).toBe('fail');
    expect(outcomeOfError(new OutcomeUnknownError('cut during COMMIT'))).toBe('unknown');
    expect(outcomeOfError(new ServiceError('item-1', 504, 'outcome_unknown', 'cut'))).toBe('unknown');
    // A code this registry does not know (a newer package's): no longer compiles, and still doubted.
    // @ts-expect-error -- KeylaneError.code is the registry's union
    expect(outcomeOfError(new KeylaneError('something_new', 'x'))).toBe('unknown');
    expect(outcomeOfError(new Error('plain'))).toBe('unknown');
  });
});
