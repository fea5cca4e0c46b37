import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  InvalidKeyError,
  MAX_STRING_KEY_BYTES,
  parseStringKey,
  routingKey,
  stringRoutingKey,
} from '../src/index.js';

/**
 * The routing keys of string keys, pinned. The SDK's and the engine's tests pin the same table:
 * a change here is a change of every deployment's key placement. Computed independently with
 * `printf '%s' KEY | sha256sum | cut -c1-16` read as an unsigned 64-bit integer.
 */
const STRING_KEY_VECTORS: readonly (readonly [string, bigint])[] = [
  ['550e8400-e29b-41d4-a716-446655440000', 11793205509806541490n],
  ['alice@example.com', 18414541688758211263n],
  ['007', 7106483370208201996n],
  ['ü', 6950308537068853028n],
  ['9223372036854775808', 14250122529802926627n],
  // Canonical decimal int64 spellings route as the long they spell.
  ['42', 42n],
  ['-1', 18446744073709551615n],
  ['-9223372036854775808', 9223372036854775808n],
];

describe('string keys', () => {
  it.each(STRING_KEY_VECTORS)('routes %j as %s', (key, expected) => {
    expect(routingKey(key)).toBe(expected);
    expect(stringRoutingKey(key)).toBe(expected);
  });

  it('is SHA-256 of the UTF-8 bytes, first 8 bytes big-endian, for every non-decimal string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (key) => {
        fc.pre(!/^(?:0|-?[1-9][0-9]*)$/.test(key));
        const digest = createHash('sha256').update(Buffer.from(key, 'utf8')).digest();
        expect(routingKey(key)).toBe(digest.readBigUInt64BE(0));
      }),
      { numRuns: 2_000 },
    );
  });

  it('routes a canonical decimal string exactly like the long it spells', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (id) => {
        expect(routingKey(id.toString())).toBe(routingKey(id));
      }),
    );
  });

  it.each<[string, unknown, RegExp]>([
    ['the empty string', '', /empty/],
    ['a lone surrogate', 'a\ud800b', /surrogate/],
    ['U+0000', 'a\u0000b', /U\+0000/],
    ['a number', 42, /must be a string/],
    ['too many bytes', 'é'.repeat(MAX_STRING_KEY_BYTES / 2 + 1), /at most 512 UTF-8 bytes/],
  ])('refuses %s with InvalidKeyError', (_name, input, message) => {
    expect(() => parseStringKey(input)).toThrow(InvalidKeyError);
    expect(() => parseStringKey(input)).toThrow(message);
  });

  it('accepts up to the byte limit exactly', () => {
    const key = 'é'.repeat(MAX_STRING_KEY_BYTES / 2);
    expect(parseStringKey(key)).toBe(key);
    expect(typeof routingKey(key)).toBe('bigint');
  });
});
