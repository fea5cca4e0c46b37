import { hash } from 'node:crypto';
import { InvalidKeyError } from './errors.js';

/** The longest string key, in UTF-8 bytes: room for emails and long slugs, small enough for a Redis key. */
export const MAX_STRING_KEY_BYTES = 512;

// Same spelling rule as parseLongId's: a string that is a canonical int64 routes as that long.
const CANONICAL_DECIMAL = /^(?:0|-?[1-9][0-9]{0,18})$/;

/**
 * Checks a string key (a UUID, a slug, an email): 1 to 512 UTF-8 bytes of well-formed Unicode
 * without U+0000. A lone UTF-16 surrogate has no UTF-8 form (two different strings would
 * become the same bytes in Redis and Postgres), and Postgres text cannot hold U+0000.
 * Returns the key unchanged; throws {@link InvalidKeyError} (`invalid_id`) otherwise.
 */
export function parseStringKey(input: unknown): string {
  if (typeof input !== 'string') throw new InvalidKeyError(input, 'a string key must be a string');
  if (input.length === 0) throw new InvalidKeyError(input, 'a string key must not be empty');
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most keys skip the byte count.
  if (input.length * 3 > MAX_STRING_KEY_BYTES && Buffer.byteLength(input, 'utf8') > MAX_STRING_KEY_BYTES) {
    throw new InvalidKeyError(input, `a string key is at most ${MAX_STRING_KEY_BYTES} UTF-8 bytes`);
  }
  if (!input.isWellFormed()) throw new InvalidKeyError(input, 'a string key must not contain a lone UTF-16 surrogate');
  if (input.includes('\u0000')) throw new InvalidKeyError(input, 'a string key must not contain U+0000');
  return input;
}

/**
 * The routing key (uint64) of a string key, the same in every process and package:
 * - a string spelling a signed 64-bit integer canonically (`"42"`, `"-7"`) routes as that
 *   long (`routingKey(42n)`), so a caller that passes decimal strings for long ids and a
 *   string-keyed entity agree;
 * - any other string routes by the first 8 bytes, big-endian, of SHA-256 over its UTF-8 bytes.
 * The key must be valid for {@link parseStringKey}; test vectors are in README.md.
 */
export function stringRoutingKey(key: string): bigint {
  if (CANONICAL_DECIMAL.test(key)) {
    const long = BigInt(key);
    // In the signed 64-bit range exactly when two's-complement truncation leaves it alone.
    if (BigInt.asIntN(64, long) === long) return BigInt.asUintN(64, long);
  }
  return hash('sha256', key, 'buffer').readBigUInt64BE(0);
}
