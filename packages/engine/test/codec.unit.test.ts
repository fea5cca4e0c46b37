import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InvalidValueError, jsonCodec } from '../src/index.js';

/** The default codec alone: no database, no Redis. */
describe('the default codec', () => {
  const codec = jsonCodec<unknown>();
  const roundTrip = (value: unknown): unknown => codec.decode(codec.encode(value));

  it('keeps plain JSON plain: the text is JSON.stringify, decoded by one JSON.parse', () => {
    const value = { id: '42', name: 'Ada', tags: ['a', 'b'], n: 1.5, ok: true, none: null };
    expect(codec.encode(value)).toBe(JSON.stringify(value));
    expect(roundTrip(value)).toEqual(value);
  });

  it('round-trips what node-postgres returns beyond JSON', () => {
    const value = {
      createdAt: new Date('2026-01-02T03:04:05.678Z'),
      avatar: Buffer.from([0, 1, 2, 255]),
      big: 9007199254740993n,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      negativeZero: -0,
      nested: [{ at: new Date(0) }, [Buffer.alloc(0)]],
    };
    const back = roundTrip(value) as typeof value;
    expect(back).toEqual(value);
    expect(back.createdAt).toBeInstanceOf(Date);
    expect(Buffer.isBuffer(back.avatar)).toBe(true);
    expect(typeof back.big).toBe('bigint');
    expect(Number.isNaN(back.nan)).toBe(true);
    expect(Object.is(back.negativeZero, -0)).toBe(true);
    expect(roundTrip(new Date('2026-05-06T07:08:09.010Z'))).toEqual(new Date('2026-05-06T07:08:09.010Z'));
  });

  it("cannot be fooled by a user's own keys that look like its tags", () => {
    const value = { '~kl': 'date', v: '2026-01-01T00:00:00.000Z', '~~x': 1, inner: { '~kl': 'bytes', v: 'AAE=' } };
    expect(roundTrip(value)).toEqual(value);
  });

  it('round-trips arbitrary JSON, with dates and buffers mixed in', () => {
    const extra = fc.oneof(
      fc.date({ noInvalidDate: true }),
      fc.uint8Array().map((a) => Buffer.from(a)),
      fc.bigInt(),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue(),
        extra,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(roundTrip(v)).toEqual(v);
      }),
      { numRuns: 2_000 },
    );
  });

  it.each<[string, unknown]>([
    ['a Map', new Map([[1, 2]])],
    ['a Set', { s: new Set([1]) }],
    ['a function', { f: () => 1 }],
    ['a symbol', [Symbol('x')]],
    ['undefined', undefined],
  ])('refuses %s rather than cache something else', (_name, value) => {
    expect(() => codec.encode(value)).toThrow(InvalidValueError);
  });

  it('refuses a cycle with InvalidValueError', () => {
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(() => codec.encode(cycle)).toThrow(InvalidValueError);
  });
});
