import { InvalidValueError } from '../errors.js';
import type { Codec } from '../types.js';

// Tagged values look like {"~kl":"date","v":"2026-01-01T00:00:00.000Z"}. A user's own keys
// that start with "~" get one more "~" on the way in and lose it on the way out, so a tag
// can only ever be one the codec wrote.
const TAG = '~kl';
const TILDE = 126;
// Text that needed a tag or an escape starts with this (no JSON text can); everything else is
// plain JSON, decoded by a plain JSON.parse: a cache hit of ordinary rows pays nothing extra.
const TAGGED = '~';

type Tag = 'date' | 'bytes' | 'bigint' | 'number';

/**
 * The default codec: JSON, plus what node-postgres returns that JSON cannot carry: `Date`
 * (timestamp columns), `Buffer` (bytea), `bigint` (if your type parsers return them),
 * NaN, ±Infinity and -0 (float columns). Other objects go as JSON (`toJSON` honoured) and come
 * back as plain objects. Maps, Sets, functions and symbols are refused (`InvalidValueError`)
 * rather than cached as something else.
 */
export function jsonCodec<V>(): Codec<V> {
  return { encode: encodeValue, decode: decodeValue as (text: string) => V };
}

export function encodeValue(value: unknown): string {
  let tagged = false;
  let json: string | undefined;
  try {
    json = JSON.stringify(value, function replacer(this: Record<string, unknown>, key: string, converted: unknown) {
      // `converted` has been through toJSON already (a Date is its ISO string here): the holder
      // still has the original.
      const raw = this[key];
      switch (typeof raw) {
        case 'bigint':
          tagged = true;
          return tag('bigint', raw.toString());
        case 'number':
          // JSON has no NaN or Infinity, and writes -0 (a float8 can hold it) as 0.
          if (Number.isFinite(raw) && !Object.is(raw, -0)) return raw;
          tagged = true;
          return tag('number', Object.is(raw, -0) ? '-0' : String(raw));
        case 'function':
        case 'symbol':
          throw new InvalidValueError(`a ${typeof raw} at ${where(key)} cannot be cached`);
        case 'object':
          if (raw === null) return null;
          if (raw instanceof Date) {
            tagged = true;
            return tag('date', Number.isNaN(raw.getTime()) ? 'Invalid Date' : raw.toISOString());
          }
          if (raw instanceof Uint8Array) {
            tagged = true;
            return tag('bytes', Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'));
          }
          if (raw instanceof Map || raw instanceof Set) {
            throw new InvalidValueError(`a ${raw.constructor.name} at ${where(key)} cannot be cached (convert it to an object or array)`);
          }
          break;
        default:
          break;
      }
      if (typeof converted === 'object' && converted !== null && !Array.isArray(converted)) {
        const escaped = escapeKeys(converted as Record<string, unknown>);
        if (escaped !== converted) tagged = true;
        return escaped;
      }
      return converted;
    });
  } catch (err) {
    if (err instanceof InvalidValueError) throw err;
    throw new InvalidValueError(`value is not JSON-serializable: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (json === undefined) throw new InvalidValueError('value is not JSON-serializable (undefined, a function or a symbol)');
  return tagged ? TAGGED + json : json;
}

export function decodeValue(text: string): unknown {
  if (!text.startsWith(TAGGED)) return JSON.parse(text);
  return JSON.parse(text.slice(TAGGED.length), (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const record = value as Record<string, unknown>;
    const kind = record[TAG];
    if (kind !== undefined) return untag(kind as Tag, record['v'] as string);
    return unescapeKeys(record);
  });
}

function tag(kind: Tag, v: string): Record<string, string> {
  return { [TAG]: kind, v };
}

function untag(kind: Tag, v: string): unknown {
  switch (kind) {
    case 'date':
      return new Date(v === 'Invalid Date' ? Number.NaN : v);
    case 'bytes':
      return Buffer.from(v, 'base64');
    case 'bigint':
      return BigInt(v);
    case 'number':
      return Number(v);
  }
}

function escapeKeys(object: Record<string, unknown>): Record<string, unknown> {
  let needs = false;
  for (const key in object) {
    if (key.charCodeAt(0) === TILDE) {
      needs = true;
      break;
    }
  }
  if (!needs) return object;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(object)) out[key.charCodeAt(0) === TILDE ? `~${key}` : key] = v;
  return out;
}

function unescapeKeys(object: Record<string, unknown>): Record<string, unknown> {
  let needs = false;
  for (const key in object) {
    if (key.charCodeAt(0) === TILDE) {
      needs = true;
      break;
    }
  }
  if (!needs) return object;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(object)) out[key.charCodeAt(0) === TILDE ? key.slice(1) : key] = v;
  return out;
}

function where(key: string): string {
  return key === '' ? 'the top level' : `key ${JSON.stringify(key)}`;
}
