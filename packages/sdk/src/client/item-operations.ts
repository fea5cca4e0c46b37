import type { IncomingHttpHeaders } from 'node:http';
import { ITEMS_PATH, type Item, type LongIdInput, type PutItemBody } from '@keylane/protocol';
import { InvalidOptionsError, ServiceError } from '../core/errors.js';
import type { Instance } from '../pool/instance.js';
import type { RequestOptions } from './call-options.js';
import { assertJsonValue, stringifyJson } from './json-value.js';
import type { Answer, Operation } from './operation.js';
import { errorAnswer, parseErrorBody } from './response-errors.js';
import { longKey } from './routed-key.js';

// The item service's routes as operations: what `get`, `put` and `delete` send and how each
// reads its answer. Everything here runs before the request is sent or after its answer came,
// in the order the caller's mistakes should surface: the key, then the value, then the call's
// options (checked by the client).

export interface PutOptions extends RequestOptions {
  /** Write only if the item is at this version; `0` means it must not exist yet. */
  ifVersion?: number;
}

/** `GET /v1/items/:id`: the item, or `null` for a 404 `not_found`. */
export function getItem(id: LongIdInput): Operation<Item | null> {
  const key = longKey(id);
  return {
    key,
    method: 'GET',
    path: `${ITEMS_PATH}/${key.text}`,
    idempotent: true,
    answer: (status, text, headers, instance) => {
      if (status === 200) return readItem(text, status, instance);
      return absentOrError(null, status, text, headers, instance, key.text);
    },
  };
}

/** `PUT /v1/items/:id`: the item with its new version. Checks the value before anything is sent. */
export function putItem(id: LongIdInput, value: unknown, options: PutOptions): Operation<Item> {
  const key = longKey(id);
  const { ifVersion } = options;
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
    throw new InvalidOptionsError(
      'ifVersion',
      `expected a non-negative integer, got ${String(ifVersion)}`,
    );
  }
  assertJsonValue(value);
  const request: PutItemBody = ifVersion === undefined ? { value } : { value, ifVersion };
  return {
    key,
    method: 'PUT',
    path: `${ITEMS_PATH}/${key.text}`,
    body: stringifyJson(request, 'value'),
    idempotent: false,
    answer: (status, text, headers, instance) =>
      status === 200
        ? readItem(text, status, instance)
        : errorAnswer(instance.id, status, text, headers, key.text, ifVersion),
  };
}

/** `DELETE /v1/items/:id`: `true`, or `false` for a 404 `not_found`. */
export function deleteItem(id: LongIdInput): Operation<boolean> {
  const key = longKey(id);
  return {
    key,
    method: 'DELETE',
    path: `${ITEMS_PATH}/${key.text}`,
    idempotent: false,
    answer: (status, text, headers, instance) => {
      if (status === 204 || status === 200) return { value: true };
      return absentOrError(false, status, text, headers, instance, key.text);
    },
  };
}

/**
 * Any other answer to a read or a delete: a 404 `not_found` says the item is absent, the rest
 * is an error. The body is parsed here once and handed on to build the error.
 */
function absentOrError<T>(
  absent: T,
  status: number,
  text: string,
  headers: IncomingHttpHeaders,
  instance: Instance,
  id: string,
): Answer<T> {
  const parsed = parseErrorBody(text);
  if (status === 404 && parsed?.code === 'not_found') return { value: absent };
  return errorAnswer(instance.id, status, text, headers, id, undefined, parsed);
}

/** A 200's body, the cache-hit path: parsed once, checked by shape, handed over as is. */
function readItem(text: string, status: number, instance: Instance): Answer<Item> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (isItem(json)) return { value: json };
  return { error: new ServiceError(instance.id, status, null, 'the answer is not an item'), code: null };
}

function isItem(value: unknown): value is Item {
  if (typeof value !== 'object' || value === null) return false;
  const { id, version } = value as { id?: unknown; version?: unknown };
  return typeof id === 'string' && typeof version === 'number' && 'value' in value;
}
