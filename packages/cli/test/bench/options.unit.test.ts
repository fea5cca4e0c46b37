import { describe, expect, it } from '@jest/globals';
import { InvalidOptionsError } from '@keylane/protocol';
import { QUICK_BENCH_OPTIONS, resolveBenchOptions } from '../../src/bench/index.js';

function rejection(fn: () => unknown): InvalidOptionsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidOptionsError) return err;
    throw err;
  }
  throw new Error('expected an InvalidOptionsError');
}

describe('resolveBenchOptions', () => {
  it('takes the quick budget unless an option says otherwise', () => {
    const o = resolveBenchOptions({ quick: true, runs: 2 });
    expect(o.durationMs).toBe(QUICK_BENCH_OPTIONS.durationMs);
    expect(o.runs).toBe(2);
  });

  it('names the option, and the flag where the two differ', () => {
    const err = rejection(() => resolveBenchOptions({ durationMs: 10 }));
    expect(err.code).toBe('invalid_options');
    expect(err.option).toBe('durationMs');
    expect(err.message).toBe(
      'invalid option durationMs: must be an integer in [50, 600000] (--duration), got 10',
    );
    expect(rejection(() => resolveBenchOptions({ zipfExponent: 9 })).message).toBe(
      'invalid option zipfExponent: must be in [0, 5], got 9',
    );
  });

  it('refuses a Postgres or Redis that is not on this machine', () => {
    const err = rejection(() =>
      resolveBenchOptions({ redisUrl: 'redis://cache.example.com:6379' }),
    );
    expect(err.option).toBe('redisUrl');
    expect(err.message).toContain('(--redis-url), got cache.example.com');
    expect(rejection(() => resolveBenchOptions({ only: [] })).option).toBe('only');
  });
});
