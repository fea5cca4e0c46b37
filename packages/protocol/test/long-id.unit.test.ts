import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  InvalidKeyError,
  KeylaneError,
  MAX_LONG_ID,
  MIN_LONG_ID,
  formatLongId,
  longIdText,
  parseLongId,
  routingKey,
} from '../src/index.js';

function rejection(input: unknown): InvalidKeyError {
  try {
    parseLongId(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect(err).toBeInstanceOf(KeylaneError);
    return err as InvalidKeyError;
  }
  throw new Error(`parseLongId accepted ${String(input)}`);
}

describe('parseLongId', () => {
  it.each([
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    ['0', 0n],
    ['-1', -1n],
    ['42', 42n],
  ])('parses the canonical string %s exactly', (input, expected) => {
    expect(parseLongId(input)).toBe(expected);
    expect(formatLongId(parseLongId(input))).toBe(input);
  });

  it('accepts bigints at both ends of the range', () => {
    expect(parseLongId(2n ** 63n - 1n)).toBe(MAX_LONG_ID);
    expect(parseLongId(-(2n ** 63n))).toBe(MIN_LONG_ID);
  });

  it('accepts safe-integer numbers', () => {
    expect(parseLongId(Number.MAX_SAFE_INTEGER)).toBe(2n ** 53n - 1n);
    expect(parseLongId(-Number.MAX_SAFE_INTEGER)).toBe(-(2n ** 53n - 1n));
    expect(parseLongId(7)).toBe(7n);
  });

  it.each<[string, unknown]>([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a fraction', 1.5],
    ['2**53 as a number', 2 ** 53],
    ['the empty string', ''],
    ['hex', '0x10'],
    ['an exponent', '1e3'],
    ['a leading space', ' 7'],
    ['a trailing space', '7 '],
    ['a plus sign', '+7'],
    ['leading zeros', '007'],
    ['minus zero', '-0'],
    ['a lone minus', '-'],
    ['a decimal point', '1.0'],
    ['2^63 as a bigint', 2n ** 63n],
    ['below -2^63 as a bigint', -(2n ** 63n) - 1n],
    ['2^63 as a string', '9223372036854775808'],
    ['below -2^63 as a string', '-9223372036854775809'],
    ['a very long string', '1'.repeat(100_000)],
    ['an object', { id: 1 }],
    ['an array', [1]],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
  ])('rejects %s with invalid_id', (_name, input) => {
    const err = rejection(input);
    expect(err.code).toBe('invalid_id');
    expect(err.message).toMatch(/^invalid id /);
  });

  it('names the bad value in the message', () => {
    expect(rejection('0x10').message).toContain('"0x10"');
    expect(rejection(1.5).message).toContain('1.5');
    expect(rejection(2n ** 63n).message).toContain('9223372036854775808n');
    expect(rejection({}).message).toContain('an object');
  });

  it('round-trips every in-range bigint through its decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MIN_LONG_ID, max: MAX_LONG_ID }), (id) => {
        const text = formatLongId(id);
        expect(parseLongId(text)).toBe(id);
        expect(parseLongId(id)).toBe(id);
      }),
      { numRuns: 5_000 },
    );
  });

  it('rejects every out-of-range bigint, as a bigint and as a string', () => {
    const outside = fc.oneof(
      fc.bigInt({ min: MAX_LONG_ID + 1n, max: 2n ** 200n }),
      fc.bigInt({ min: -(2n ** 200n), max: MIN_LONG_ID - 1n }),
    );
    fc.assert(
      fc.property(outside, (id) => {
        expect(rejection(id).code).toBe('invalid_id');
        expect(rejection(id.toString()).code).toBe('invalid_id');
      }),
    );
  });

  it('rejects every non-canonical spelling of a valid key', () => {
    const spoiled = fc
      .tuple(
        fc.bigInt({ min: MIN_LONG_ID, max: MAX_LONG_ID }),
        fc.constantFrom(
          (s: string) => ` ${s}`,
          (s: string) => `${s} `,
          (s: string) => `+${s}`,
          (s: string) => (s.startsWith('-') ? `-0${s.slice(1)}` : `0${s}`),
          (s: string) => `${s}.0`,
          (s: string) => `${s}e0`,
          (s: string) => `${s}n`,
          (s: string) => s.replace(/^(-?)/, '$1 '),
        ),
      )
      .map(([id, spoil]) => spoil(id.toString()));
    fc.assert(
      fc.property(spoiled, (text) => {
        expect(rejection(text).code).toBe('invalid_id');
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects every non-integer or unsafe number', () => {
    const bad = fc.oneof(
      fc.double({ noInteger: true }),
      fc.double({ min: 2 ** 53, max: Number.MAX_VALUE }),
      fc.double({ min: -Number.MAX_VALUE, max: -(2 ** 53) }),
    );
    fc.assert(
      fc.property(bad, (n) => {
        expect(rejection(n).code).toBe('invalid_id');
      }),
    );
  });
});

describe('routingKey', () => {
  it('maps the extremes to their unsigned two-complement value', () => {
    expect(routingKey(-1n)).toBe(2n ** 64n - 1n);
    expect(routingKey(MAX_LONG_ID)).toBe(2n ** 63n - 1n);
    expect(routingKey(MIN_LONG_ID)).toBe(2n ** 63n);
    expect(routingKey(0n)).toBe(0n);
  });

  it('is a bijection from the signed range onto [0, 2^64)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MIN_LONG_ID, max: MAX_LONG_ID }), (id) => {
        const key = routingKey(id);
        expect(key >= 0n && key < 2n ** 64n).toBe(true);
        // The inverse exists and gives the id back: injective on the range...
        expect(BigInt.asIntN(64, key)).toBe(id);
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      // ...and every unsigned value has a preimage in the signed range: surjective.
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (key) => {
        expect(routingKey(BigInt.asIntN(64, key))).toBe(key);
      }),
      { numRuns: 5_000 },
    );
  });

  it('refuses ids outside the signed range instead of wrapping them', () => {
    expect(() => routingKey(2n ** 63n)).toThrow(InvalidKeyError);
  });
});

describe('longIdText', () => {
  const inputs: unknown[] = [
    0, 1, -1, 42, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, -0,
    '0', '42', '-42', '9223372036854775807', '-9223372036854775808', '1000000000000000000', '-999999999999999999',
    9223372036854775807n, -9223372036854775808n, 7n,
    // Refused, each as parseLongId refuses it:
    '9223372036854775808', '-9223372036854775809', '10000000000000000000', '-0', '+1', '01', ' 1', '1e3', '0x10', '',
    'x'.repeat(1_000_000), 2 ** 53, 1.5, Number.NaN, 9223372036854775808n, null, undefined, {},
  ];

  it.each(inputs.map((input) => [typeof input === 'string' && input.length > 40 ? `${input.slice(0, 10)}... (${input.length} chars)` : String(input), input]))(
    'agrees with formatLongId(parseLongId(%s)), refusals included',
    (_label, input) => {
      let expected: string | Error;
      try {
        expected = formatLongId(parseLongId(input));
      } catch (err) {
        expected = err as Error;
      }
      if (typeof expected === 'string') {
        expect(longIdText(input)).toBe(expected);
      } else {
        expect(() => longIdText(input)).toThrow(expected.message);
      }
    },
  );
});

describe('longIdText, by property', () => {
  it('is the canonical text of every bigint in range, and of its decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MIN_LONG_ID, max: MAX_LONG_ID }), (id) => {
        expect(longIdText(id)).toBe(id.toString());
        expect(longIdText(id.toString())).toBe(id.toString());
      }),
    );
  });
});
