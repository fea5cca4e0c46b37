import { InvalidOptionsError, InvalidValueError } from '../core/errors.js';
import { describeError } from '../core/describe-error.js';

/**
 * Checks that `value` survives JSON.stringify unchanged in meaning: plain objects, arrays,
 * strings, booleans, null and finite numbers only. JSON.stringify itself would turn NaN into
 * null, drop `undefined` members, write a Map as `{}` and a Date as a string: a caller's value
 * must not change on the way without them knowing.
 */
export function assertJsonValue(value: unknown, path = '$', seen: Set<object> = new Set()): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidValueError(path, String(value));
      return;
    case 'undefined':
      throw new InvalidValueError(path, 'undefined');
    case 'bigint':
      throw new InvalidValueError(path, 'a bigint');
    case 'function':
    case 'symbol':
      throw new InvalidValueError(path, `a ${typeof value}`);
    case 'object':
      break;
  }
  if (value === null) return;
  if (seen.has(value)) throw new InvalidValueError(path, 'a cycle (an object that contains itself)');
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new InvalidValueError(`${path}[${i}]`, 'a hole in an array');
      assertJsonValue(value[i], `${path}[${i}]`, seen);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'an object';
      throw new InvalidValueError(path, `a ${name}`);
    }
    for (const key of Object.keys(value)) {
      assertJsonValue((value as Record<string, unknown>)[key], `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`, seen);
    }
  }
  seen.delete(value);
}

/**
 * JSON.stringify for a body that already passed {@link assertJsonValue}: what can still fail
 * (a getter that throws, a `toJSON` that does) is the caller's option `option`.
 */
export function stringifyJson(value: unknown, option: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw new InvalidOptionsError(option, `not serializable as JSON: ${describeError(err)}`);
  }
}
