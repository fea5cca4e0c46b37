import type { IncomingHttpHeaders } from 'node:http';
import { DEADLINE_HEADER, type LongIdInput } from '@keylane/protocol';
import { longKey, stringKey, type RoutedKey } from './routed-key.js';
import { InvalidOptionsError, ServiceError } from '../core/errors.js';
import type { Instance } from '../pool/instance.js';
import { assertJsonValue, stringifyJson } from './json-value.js';
import type { RequestOptions } from './call-options.js';
import type { Answer, Operation } from './operation.js';
import { errorAnswer } from './response-errors.js';

/**
 * What `client.request(key, options)` sends: any route of a service built on the engine, with
 * the call's options of `get`/`put` (`signal`, `requestId`, trace context).
 */
export interface RoutedRequestOptions extends RequestOptions {
  /** @default 'GET' */
  method?: string;
  /** Origin-relative, starting with `/`: `/v1/carts/42/lines/apple?x=1`. */
  path: string;
  /** A JSON value, sent as `application/json`. */
  body?: unknown;
  /** Extra request headers; the SDK sets `accept`, `content-type` and the deadline header itself. */
  headers?: Readonly<Record<string, string>>;
}

/** A service's answer below 500: the status, the headers and the body. */
export interface RoutedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed JSON when the answer says it is JSON; `undefined` for an empty body. */
  body: unknown;
  /** The body as received (UTF-8), for answers that are not JSON. */
  text: string;
  /** The instance that answered. */
  instanceId: string;
}

/**
 * Methods a service must not change anything for (RFC 9110 §9.2.1): only these are sent again
 * to the key's next owner after a connection broke with the request possibly delivered.
 * Every other method is retried only when it surely never left this process.
 */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const METHOD = /^[A-Z]{1,16}$/;
// Headers the SDK or undici owns: a caller's value would contradict the body or the connection.
const OWNED_HEADERS = new Set([DEADLINE_HEADER, 'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The key as the router takes it: long ids checked, other strings routed by their hash as engines route string keys. */
function keyOf(id: LongIdInput | string): RoutedKey {
  return typeof id === 'string' ? stringKey(id) : longKey(id);
}

/** Validates `options` and builds the operation the client's dispatch runs. */
export function routedOperation(
  id: LongIdInput | string,
  options: RoutedRequestOptions,
): Operation<RoutedResponse> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options', 'expected { method, path, body?, headers? }');
  const key = keyOf(id);
  const method = options.method ?? 'GET';
  if (typeof method !== 'string' || !METHOD.test(method)) {
    throw new InvalidOptionsError('method', `expected an upper-case HTTP method, got ${JSON.stringify(method)}`);
  }
  const { path } = options;
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /\s/.test(path) || hasControl(path)) {
    throw new InvalidOptionsError('path', `expected an origin-relative path starting with one "/", without spaces or control characters, got ${JSON.stringify(path)?.slice(0, 80)}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!HEADER_NAME.test(name)) throw new InvalidOptionsError('headers', `not a header name: ${JSON.stringify(name).slice(0, 80)}`);
    const lower = name.toLowerCase();
    if (OWNED_HEADERS.has(lower)) throw new InvalidOptionsError('headers', `${lower} is set by the SDK`);
    if (typeof value !== 'string' || hasControl(value)) throw new InvalidOptionsError('headers', `the value of ${lower} must be a string without control characters`);
    headers[lower] = value;
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    assertJsonValue(options.body);
    body = stringifyJson(options.body, 'body');
    headers['content-type'] = 'application/json';
  }
  return {
    key,
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body }),
    idempotent: SAFE_METHODS.has(method),
    answer: (status, text, responseHeaders, instance) => routedAnswer(status, text, responseHeaders, instance, key),
  };
}

/**
 * Below 500 the answer is the service's word about this request (a 404 included): it resolves.
 * A 5xx rejects with the same errors `get` and `put` reject with (`OverloadedError`,
 * `UnavailableError`, `DeadlineExceededError`, `OutcomeUnknownError`, `ServiceError`), and
 * counts against the instance's health the same way.
 */
function routedAnswer(status: number, text: string, headers: IncomingHttpHeaders, instance: Instance, key: RoutedKey): Answer<RoutedResponse> {
  if (status >= 500) return errorAnswer(instance.id, status, text, headers, key.text, undefined);
  const type = headers['content-type'];
  let body: unknown;
  if (text !== '' && typeof type === 'string' && /^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      return { error: new ServiceError(instance.id, status, null, 'the answer says application/json but is not JSON'), code: null };
    }
  }
  return { value: { status, headers, body, text, instanceId: instance.id } };
}
