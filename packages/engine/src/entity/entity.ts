import {
  InvalidOptionsError,
  longIdText,
  OverloadedError,
  parseStringKey,
  routingKey,
  stringRoutingKey,
} from '@keylane/protocol';
import { TOMBSTONE, type Cache } from '../cache/cache.js';
import { hashTag } from '../cache/keys.js';
import type { Admission } from '../db/lane.js';
import { channels, traceCall, type MissContext, type ReadContext } from '../diagnostics.js';
import type { LaneSet } from '../db/lane-set.js';
import type { MutationPlan } from '../db/transaction.js';
import { InvalidValueError } from '../errors.js';
import { registerInspector, type Inspection } from '../internals.js';
import { cacheTtl } from '../options/index.js';
import { newCounters, snapshot, type Counters } from '../stats.js';
import type { Strategy } from '../strategies/strategy.js';
import type {
  Entity,
  EntityOptions,
  KeyInput,
  KeyKind,
  KeyOf,
  CallOptions,
  MutationResult,
  Queryable,
} from '../types.js';
import { jsonCodec } from './codec.js';
import type { EntityRuntime, KeyRef } from './key-ref.js';

/** What an entity needs of its engine. */
export interface EntityHost {
  /** The engine's id, for diagnostics events. */
  readonly engine: number;
  readonly keyPrefix: string;
  readonly cacheTtlMs: number;
  readonly cache: Cache;
  readonly lanes: LaneSet;
  readonly strategy: Strategy;
  /** Every public operation goes through here so close() can refuse new work and wait for the rest. */
  admit<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `fn` on a connection outside the lanes (inspect). */
  outsideLanes<T>(fn: (db: Queryable) => Promise<T>): Promise<T>;
}

const ENTITY_NAME = /^[a-z][a-z0-9_-]{0,47}$/;

function checkCallOptions(options: CallOptions): Admission {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options', 'expected an object');
  const { deadline, signal } = options;
  if (deadline !== undefined && (typeof deadline !== 'number' || !Number.isFinite(deadline))) {
    throw new InvalidOptionsError('deadline', `expected epoch milliseconds, got ${String(deadline)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionsError('signal', 'expected an AbortSignal');
  return { deadline, signal };
}

/** Validates the options and builds the entity; the engine checks the name is unused. */
export function createEntity<V, K extends KeyKind>(host: EntityHost, options: EntityOptions<V, K>): Entity<V, K> & { readonly counters: Counters } {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('entity', 'expected an object');
  const { name, load, snapshot: snapshotReads = false, groupCommit = false } = options;
  const key = (options.key ?? 'long') as K;
  if (typeof name !== 'string' || !ENTITY_NAME.test(name)) {
    throw new InvalidOptionsError('entity.name', `expected a name matching ${String(ENTITY_NAME)}, got ${JSON.stringify(name)}`);
  }
  if (key !== 'long' && key !== 'string') {
    throw new InvalidOptionsError('entity.key', `expected 'long' or 'string', got ${JSON.stringify(key)}`);
  }
  if (typeof load !== 'function') throw new InvalidOptionsError('entity.load', 'expected a function (db, id) => Promise<value | null>');
  if (typeof snapshotReads !== 'boolean') {
    throw new InvalidOptionsError('entity.snapshot', `expected a boolean, got ${JSON.stringify(snapshotReads)}`);
  }
  if (typeof groupCommit !== 'boolean') {
    throw new InvalidOptionsError('entity.groupCommit', `expected a boolean, got ${JSON.stringify(groupCommit)}`);
  }
  const codec = options.codec ?? jsonCodec<V>();
  if (typeof codec !== 'object' || codec === null || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new InvalidOptionsError('entity.codec', 'expected { encode(value): string, decode(text): value }');
  }
  const ttlMs = cacheTtl('entity.ttlMs', options.ttlMs, host.cacheTtlMs);
  const counters = newCounters();
  const encode = (value: unknown): string => {
    const text = codec.encode(value as V);
    if (typeof text !== 'string') throw new InvalidValueError(`the codec of ${name} returned a ${typeof text}, not a string`);
    // The tombstone is the one text that means "no row"; a codec must never produce it.
    if (text === TOMBSTONE) throw new InvalidValueError(`the codec of ${name} encoded a value as "${TOMBSTONE}", Keylane's tombstone`);
    return text;
  };
  const runtime: EntityRuntime = {
    name,
    load: load as (db: Queryable, id: bigint | string) => Promise<unknown>,
    encode,
    ttlMs,
    snapshot: snapshotReads,
    groupCommit,
    counters,
  };
  const { cache, lanes, strategy } = host;

  /**
   * Checks a key, once per call, into what the strategies need. A cache hit needs only its
   * tag: the parsed id and the lane (BigInt arithmetic for long keys) are worked out the first
   * time a miss or a mutation asks for them.
   */
  const resolve = (input: KeyInput<K>): KeyRef => {
    if (key === 'long') {
      const text = longIdText(input);
      return new LazyKeyRef(runtime, text, hashTag(host.keyPrefix, name, text), () => BigInt(text), (id) => lanes.indexOf(routingKey(id)));
    }
    const id = parseStringKey(input);
    return new LazyKeyRef(runtime, id, hashTag(host.keyPrefix, name, id), () => id, (k) => lanes.indexOf(stringRoutingKey(k as string)));
  };
  const decode = (text: string): V | null => (text === TOMBSTONE ? null : codec.decode(text));
  const counted = <T>(work: Promise<T>): Promise<T> =>
    work.catch((err: unknown) => {
      if (err instanceof OverloadedError) counters.overloaded += 1;
      throw err;
    });

  const miss = (ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> => {
    if (!channels.miss.hasSubscribers) return counted(strategy.readMiss(ref, cacheUsable, admission));
    const context: MissContext = { engine: host.engine, entity: name, key: ref.text, lane: ref.lane, cacheUsable };
    return traceCall(channels.miss, context, () => counted(strategy.readMiss(ref, cacheUsable, admission))) as Promise<string>;
  };
  // The hit path: one GET, and with nobody subscribed nothing else (no context, no closure).
  // Answers the value's text as the cache holds it (TOMBSTONE: no row).
  const read = async (ref: KeyRef, admission: Admission, context: ReadContext | undefined): Promise<string> => {
    counters.reads += 1;
    let cacheUsable = true;
    try {
      const found = await cache.get(ref.tag);
      if (found !== null) {
        counters.hits += 1;
        if (context) context.hit = true;
        return found;
      }
    } catch {
      cacheUsable = false;
    }
    counters.misses += 1;
    if (context) context.hit = false;
    return miss(ref, cacheUsable, admission);
  };
  const readTraced = (input: KeyInput<K>, callOptions: CallOptions): Promise<string> => {
    const ref = resolve(input);
    const admission = checkCallOptions(callOptions);
    if (!channels.read.hasSubscribers) return host.admit(() => read(ref, admission, undefined));
    const context: ReadContext = { engine: host.engine, entity: name, key: ref.text, lane: ref.lane };
    return host.admit(() => traceCall(channels.read, context, () => read(ref, admission, context)) as Promise<string>);
  };

  const entity = {
    name,
    key,
    counters,

    async get(input: KeyInput<K>, callOptions: CallOptions = {}): Promise<V | null> {
      // A miss answers what a hit would: the value as the codec brings it back.
      return decode(await readTraced(input, callOptions));
    },

    async getText(input: KeyInput<K>, callOptions: CallOptions = {}): Promise<string | null> {
      const text = await readTraced(input, callOptions);
      return text === TOMBSTONE ? null : text;
    },

    async mutate<R extends MutationResult<V>>(
      input: KeyInput<K>,
      fn: (tx: Queryable, id: KeyOf<K>) => Promise<R>,
      callOptions: CallOptions = {},
    ): Promise<R> {
      const ref = resolve(input);
      if (typeof fn !== 'function') throw new InvalidOptionsError('mutate', 'expected a callback (tx, id) => Promise<value | null | undefined>');
      const admission = checkCallOptions(callOptions);
      const plan: MutationPlan<R> = {
        run: (tx) => fn(tx, ref.id as KeyOf<K>),
        fillText: (result) => (result === undefined ? undefined : result === null ? TOMBSTONE : encode(result)),
      };
      if (!channels.mutate.hasSubscribers) return host.admit(() => counted(strategy.mutate(ref, plan, admission)));
      const context = { engine: host.engine, entity: name, key: ref.text, lane: ref.lane };
      return host.admit(() => traceCall(channels.mutate, context, () => counted(strategy.mutate(ref, plan, admission))) as Promise<R>);
    },

    async invalidate(input: KeyInput<K>): Promise<void> {
      const ref = resolve(input);
      await host.admit(async () => {
        await cache.invalidate(ref.tag);
        counters.invalidations += 1;
      });
    },

    laneOf(input: KeyInput<K>): number {
      return resolve(input).lane;
    },

    stats() {
      return snapshot(counters);
    },
  };
  // For @keylane/engine/testing's inspect: it reads outside the lanes and the guard, so it is
  // not on the entity an application holds.
  registerInspector(entity, async (input: KeyInput<K>): Promise<Inspection<V>> => {
    const ref = resolve(input);
    const [raw, stored] = await Promise.all([
      cache.get(ref.tag),
      host.outsideLanes(async (db) => {
        const value = await runtime.load(db, ref.id);
        return value === null || value === undefined ? null : decode(encode(value));
      }),
    ]);
    return { cached: raw === null ? undefined : decode(raw), stored };
  });
  return entity;
}

/** A KeyRef whose id and lane are computed on first use (see resolve). */
class LazyKeyRef implements KeyRef {
  #id: bigint | string | undefined;
  #lane: number | undefined;

  constructor(
    readonly entity: EntityRuntime,
    readonly text: string,
    readonly tag: string,
    private readonly parse: () => bigint | string,
    private readonly laneOf: (id: bigint | string) => number,
  ) {}

  get id(): bigint | string {
    return (this.#id ??= this.parse());
  }

  get lane(): number {
    return (this.#lane ??= this.laneOf(this.id));
  }
}
