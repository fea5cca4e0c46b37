import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

/**
 * The engine's `diagnostics_channel` tracing channels. Each is a TracingChannel: a subscriber
 * sees `start` when the work begins, `end` when its function returned its promise, `error` if
 * it failed, and `asyncStart`/`asyncEnd` when it settled, all with the same context object
 * (`result` or `error` set on it). Nothing is built or published while nobody subscribes.
 */
export const ENGINE_CHANNELS = {
  /** `entity.get`: the whole read, hit or miss. Context: {@link ReadContext}. */
  read: 'keylane:engine:read',
  /** A read the cache did not answer: the lane, lease, loader and fill. {@link MissContext} */
  miss: 'keylane:engine:miss',
  /** A job waiting in its lane's queue, from enqueue until it starts. {@link LaneWaitContext} */
  laneWait: 'keylane:engine:lane-wait',
  /** A fill lease request (serial-guarded). {@link LeaseContext} */
  lease: 'keylane:engine:lease',
  /** A cache fill after a miss. {@link FillContext} */
  fill: 'keylane:engine:fill',
  /** `entity.mutate`: the lane wait, marker, transaction and end. {@link MutateContext} */
  mutate: 'keylane:engine:mutate',
  /** One mutation's transaction: BEGIN to COMMIT (or ROLLBACK). {@link TransactionContext} */
  transaction: 'keylane:engine:transaction',
  /** One PostgreSQL statement sent through the engine (the loader's, the callback's, its own). {@link QueryContext} */
  query: 'keylane:engine:query',
  /** One guard script (EVALSHA) on Redis. {@link RedisScriptContext} */
  redisScript: 'keylane:engine:redis-script',
} as const;

/** Fields every engine event carries: which engine (one process may hold several). */
interface EngineEvent {
  /** The engine's `id`. */
  engine: number;
}

/** What a TracingChannel puts on the context when the work settled. */
interface Settled<R> {
  result?: R;
  error?: unknown;
}

export interface ReadContext extends EngineEvent, Settled<unknown> {
  entity: string;
  /** The key as text (a long id in decimal). */
  key: string;
  lane: number;
  /** Set before the read settles: true when Redis answered it. */
  hit?: boolean;
}

export interface MissContext extends EngineEvent, Settled<string> {
  entity: string;
  key: string;
  lane: number;
  /** False when the read's GET failed (Redis down): the miss reads the DB and does not fill. */
  cacheUsable: boolean;
}

export interface LaneWaitContext extends EngineEvent, Settled<void> {
  lane: number;
  /** Jobs ahead of this one when it was queued (waiting plus running). */
  ahead: number;
}

export interface LeaseContext extends EngineEvent, Settled<unknown> {
  entity: string;
  key: string;
  /** Set when Redis answered. */
  outcome?: 'granted' | 'write_in_progress' | 'busy';
}

export interface FillContext extends EngineEvent, Settled<unknown> {
  entity: string;
  key: string;
  /** Set when Redis answered: `stored`, or `rejected` by the guard (a write began, the lease expired). */
  outcome?: 'stored' | 'rejected';
}

export interface MutateContext extends EngineEvent, Settled<unknown> {
  entity: string;
  key: string;
  lane: number;
}

export interface TransactionContext extends EngineEvent, Settled<unknown> {
  entity: string;
  key: string;
  lane: number;
  /** Set when it ended: `no` also covers refusals (the fence, the callback's own error). */
  committed?: 'yes' | 'no' | 'unknown';
}

export interface QueryContext extends EngineEvent, Settled<unknown> {
  /** The lane whose connection ran it; null for the engine's pool (inspect, the unserialized baselines). */
  lane: number | null;
  /** The statement's text when it was given as text or a config object. */
  text: string | undefined;
}

export interface RedisScriptContext extends EngineEvent, Settled<unknown> {
  /** `writeBegin`, `writeEnd`, `lease`, `fill` or `unlock`. */
  script: string;
}

/** The channels themselves, created once: what the engine publishes on. */
export const channels = {
  read: tracingChannel<unknown, ReadContext>(ENGINE_CHANNELS.read),
  miss: tracingChannel<unknown, MissContext>(ENGINE_CHANNELS.miss),
  laneWait: tracingChannel<unknown, LaneWaitContext>(ENGINE_CHANNELS.laneWait),
  lease: tracingChannel<unknown, LeaseContext>(ENGINE_CHANNELS.lease),
  fill: tracingChannel<unknown, FillContext>(ENGINE_CHANNELS.fill),
  mutate: tracingChannel<unknown, MutateContext>(ENGINE_CHANNELS.mutate),
  transaction: tracingChannel<unknown, TransactionContext>(ENGINE_CHANNELS.transaction),
  query: tracingChannel<unknown, QueryContext>(ENGINE_CHANNELS.query),
  redisScript: tracingChannel<unknown, RedisScriptContext>(ENGINE_CHANNELS.redisScript),
};

let lastEngineId = 0;

/** A process-unique engine id for the events' `engine` field. */
export function nextEngineId(): number {
  lastEngineId += 1;
  return lastEngineId;
}

/**
 * Publishes `start`/`end`, then `error` (if it failed) and `asyncStart`/`asyncEnd` when the
 * promise `run` returned settles, the way `tracePromise` does, for a call that may return a
 * non-promise (pg's callback form), which is passed through with `start`/`end` only.
 */
export function traceCall<C extends object>(channel: TracingChannel<unknown, C>, context: C & Settled<unknown>, run: () => unknown): unknown {
  channel.start.publish(context);
  let result: unknown;
  try {
    result = run();
  } catch (err) {
    context.error = err;
    channel.error.publish(context);
    throw err;
  } finally {
    channel.end.publish(context);
  }
  if (!(result instanceof Promise)) return result;
  return result.then(
    (value: unknown) => {
      context.result = value;
      channel.asyncStart.publish(context);
      channel.asyncEnd.publish(context);
      return value;
    },
    (err: unknown) => {
      context.error = err;
      channel.error.publish(context);
      channel.asyncStart.publish(context);
      channel.asyncEnd.publish(context);
      throw err;
    },
  );
}

export type { TracingChannel };
