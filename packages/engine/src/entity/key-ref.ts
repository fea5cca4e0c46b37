import type { Counters } from '../stats.js';
import type { Queryable } from '../types.js';

/** An entity as the strategies see it: values only as the codec's text. */
export interface EntityRuntime {
  readonly name: string;
  /** The user's loader, with the key as it takes it (bigint or string). */
  readonly load: (db: Queryable, id: bigint | string) => Promise<unknown>;
  readonly encode: (value: unknown) => string;
  readonly ttlMs: number;
  readonly snapshot: boolean;
  /** Queued mutations of one key may share a transaction (serial-guarded). */
  readonly groupCommit: boolean;
  readonly counters: Counters;
}

/** One key of one entity, resolved once per call: everything the strategies need to know about it. */
export interface KeyRef {
  readonly entity: EntityRuntime;
  /** What the loader and the mutation callback receive. */
  readonly id: bigint | string;
  /** The key's canonical text, for messages. */
  readonly text: string;
  /** `{prefix:entity:text}`: every Redis key of this id starts with it; also the in-process identity of the key. */
  readonly tag: string;
  /** The lane its serialized work runs on. */
  readonly lane: number;
}
