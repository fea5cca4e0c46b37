import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode, KeylaneError } from '@keylane/protocol';
import type { Instance } from '../pool/instance.js';
import type { RoutedKey } from './routed-key.js';

/**
 * The outcome of one answered request, decided per operation. An error carries `code`, the
 * protocol code its body named (`null` when the body was not a protocol error body), so the
 * dispatch can judge the instance's health without parsing the body a second time.
 */
export type Answer<T> = { readonly value: T } | ErrorAnswer;

export interface ErrorAnswer {
  readonly error: KeylaneError;
  readonly code: ErrorCode | null;
}

/**
 * One call as the dispatch sends it: what to send and how to read what comes back. Built by
 * the item operations (item-operations.ts) and by `client.request` (routed-request.ts).
 */
export interface Operation<T> {
  /** What routing picks the owner by. */
  readonly key: RoutedKey;
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  /** Added to the SDK's own headers (`client.request`); never the deadline header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** May be sent twice: only after a connection failure, and only reads. */
  readonly idempotent: boolean;
  answer(status: number, text: string, headers: IncomingHttpHeaders, instance: Instance): Answer<T>;
}
