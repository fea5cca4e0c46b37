import { InvalidKeyError } from './errors.js';
import { parseStringKey, stringRoutingKey } from './string-key.js';

/** Keys are signed 64-bit integers, like a Java or C++ `long`. */
export const MIN_LONG_ID = -(2n ** 63n);
export const MAX_LONG_ID = 2n ** 63n - 1n;

/** What callers may pass as a key. */
export type LongIdInput = bigint | number | string;

// Canonical decimal: "0", or an optional "-" then a non-zero digit and more digits.
// No "+", no leading zeros, no "-0", no spaces, no exponent, no hex.
const CANONICAL_DECIMAL = /^(?:0|-?[1-9][0-9]*)$/;
// "-9223372036854775808" is the longest valid form; anything longer is rejected before
// BigInt parses it, so a hostile megabyte-long id costs nothing.
const MAX_DECIMAL_LENGTH = 20;

/**
 * Parses a key from a bigint in range, a safe-integer number, or a canonical decimal
 * string. Anything else throws {@link InvalidKeyError} (`code: 'invalid_id'`).
 */
export function parseLongId(input: LongIdInput): bigint;
export function parseLongId(input: unknown): bigint;
export function parseLongId(input: unknown): bigint {
  switch (typeof input) {
    case 'bigint':
      return checkRange(input, input);
    case 'number':
      if (!Number.isSafeInteger(input)) {
        throw new InvalidKeyError(
          input,
          Number.isInteger(input)
            ? 'numbers beyond ±(2^53-1) lose precision; pass a bigint or a decimal string'
            : 'not an integer',
        );
      }
      return BigInt(input);
    case 'string':
      if (input.length > MAX_DECIMAL_LENGTH || !CANONICAL_DECIMAL.test(input)) {
        throw new InvalidKeyError(
          input,
          'expected a canonical decimal integer (optional leading "-", no "+", leading zeros, spaces, exponent or hex)',
        );
      }
      return checkRange(BigInt(input), input);
    default:
      throw new InvalidKeyError(input, 'expected a bigint, a safe integer or a decimal string');
  }
}

/**
 * The canonical decimal text of a key, checked as `parseLongId` checks it (same errors), but
 * without making a BigInt unless the input is one: the hit path of a server needs the key
 * only as text (its cache key), and most keys are safe integers or already canonical strings.
 */
export function longIdText(input: LongIdInput): string;
export function longIdText(input: unknown): string;
export function longIdText(input: unknown): string {
  if (typeof input === 'number' && Number.isSafeInteger(input)) return String(input);
  if (typeof input === 'string' && input.length <= MAX_DECIMAL_LENGTH && CANONICAL_DECIMAL.test(input)) {
    const digits = input.startsWith('-') ? input.length - 1 : input.length;
    if (digits < 19) return input;
    // 19 digits: compare with the bound as text (same length, so lexicographic is numeric).
    if (digits === 19 && input <= (input.startsWith('-') ? MIN_TEXT : MAX_TEXT)) return input;
  }
  // Every refusal, and bigints, as parseLongId words them.
  return formatLongId(parseLongId(input));
}

const MAX_TEXT = MAX_LONG_ID.toString(10);
const MIN_TEXT = MIN_LONG_ID.toString(10);

function checkRange(id: bigint, input: unknown): bigint {
  if (id < MIN_LONG_ID || id > MAX_LONG_ID) {
    throw new InvalidKeyError(input, 'outside the signed 64-bit range [-2^63, 2^63-1]');
  }
  return id;
}

/**
 * The unsigned value routing works on (instances and lanes take it modulo their count).
 * For a long id: its two's-complement bits read as an unsigned 64-bit integer, so -1
 * routes as 2^64-1 and negative keys spread like the rest. For a string key: see
 * `stringRoutingKey` (a canonical decimal string routes as that long, others by SHA-256).
 */
export function routingKey(key: bigint | string): bigint {
  if (typeof key === 'string') return stringRoutingKey(parseStringKey(key));
  const id = key;
  if (id < MIN_LONG_ID || id > MAX_LONG_ID) {
    throw new InvalidKeyError(id, 'outside the signed 64-bit range [-2^63, 2^63-1]');
  }
  return BigInt.asUintN(64, id);
}

/** The wire form of a key: its canonical decimal string. */
export function formatLongId(id: bigint): string {
  return id.toString(10);
}
