import type { EngineLogger } from './postgres-link.js';
import type { LongIdInput } from '@keylane/protocol';
import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';

/**
 * What user code gets to run SQL on: the `query` of a node-postgres client, every overload
 * (text and values, a query config object, a prepared statement name), so query builders and
 * ORMs that take a pg client work over it. It is only valid inside the callback it was given to.
 */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** How an entity's ids are spelled. */
export type KeyKind = 'long' | 'string';

/** The parsed id user callbacks receive: a bigint for `long` keys, the string itself for `string` keys. */
export type KeyOf<K extends KeyKind> = K extends 'long' ? bigint : string;

/** What `get`/`mutate`/`invalidate` accept: any `parseLongId` input for `long`, a string for `string`. */
export type KeyInput<K extends KeyKind> = K extends 'long' ? LongIdInput : string;

/**
 * Turns an entity's value into the text kept in Redis and back. `decode(encode(v))` must
 * equal `v` for every value `load` can return: a hit and a miss then answer the same thing.
 */
export interface Codec<V> {
  encode(value: V): string;
  decode(text: string): V;
}

export interface EntityOptions<V, K extends KeyKind = 'long'> {
  /**
   * The entity's namespace inside each key's hash tag (`{<keyPrefix>:<name>:<id>}`): unique per
   * engine, `[a-z][a-z0-9_-]{0,47}`.
   */
  name: string;
  /** @default 'long' */
  key?: K;
  /**
   * Reads the current value from the database, `null` when there is none (absence is cached
   * too). Runs on the key's lane connection, outside any transaction unless `snapshot` is set.
   */
  load: (db: Queryable, id: KeyOf<K>) => Promise<V | null>;
  /** TTL of this entity's cached values (and cached absence). @default the engine's cacheTtlMs */
  ttlMs?: number;
  /**
   * @default a JSON codec that also round-trips what node-postgres returns beyond JSON:
   * `Date`, `Buffer` (bytea), `bigint`, NaN, ±Infinity and -0.
   */
  codec?: Codec<V>;
  /**
   * Run `load` inside one `REPEATABLE READ READ ONLY` transaction, so a loader of several
   * statements (a parent row, then its children) sees one snapshot. @default false
   */
  snapshot?: boolean;
  /**
   * Group commit (serial-guarded): mutations of one key queued behind each other in its lane
   * run in ONE transaction, each callback behind its own savepoint (a throw rolls back only its
   * statements), under one write marker, one fenced COMMIT and one end script; each caller
   * still gets its own result or error. Members share what a transaction shares: `now()`,
   * `SET LOCAL` settings, locks, a failure of the COMMIT itself. At most 32 per group; a
   * mutation joins only if its caller's deadline is no earlier than the first one's.
   * @default false
   */
  groupCommit?: boolean;
}

/**
 * What a mutation's callback may return: the entity's new value as `load` would now read it
 * (put in the cache when no other write overlapped this one), `null` when the entity no longer
 * exists, or nothing (`undefined`): the cache is only invalidated.
 */
export type MutationResult<V> = V | null | undefined | void;

/** What a caller allows one `get` or `mutate`. */
export interface CallOptions {
  /**
   * Absolute deadline (epoch ms, this process's clock): the work is not started after it (a
   * lane that cannot reach it in time refuses it with `OverloadedError` just before), and a
   * mutation cannot commit after it: the commit fence uses the earlier of this and the write
   * marker's deadline (`CallerDeadlineError`, code `deadline_exceeded`, when it was this one).
   */
  deadline?: number;
  /** The caller went away (its HTTP request closed, say): work not yet started is dropped. */
  signal?: AbortSignal;
}

/** A cached entity: one table or a join of several, read by your loader and written by your transactions. */
export interface Entity<V, K extends KeyKind = 'long'> {
  readonly name: string;
  readonly key: K;
  /** Hit: one Redis GET. Miss: the key's lane, a fill lease, your `load`, a guarded fill. */
  get(id: KeyInput<K>, options?: CallOptions): Promise<V | null>;
  /**
   * `get` without the decode: the value's text as the codec wrote it (what the cache holds),
   * `null` when there is no row. For a server whose codec writes its wire form: a hit's bytes
   * go out as they came from Redis, nothing parsed or re-encoded.
   */
  getText(id: KeyInput<K>, options?: CallOptions): Promise<string | null>;
  /**
   * Runs `fn` in the key's lane inside ONE transaction on the lane's connection, under a
   * write marker whose deadline Postgres enforces at COMMIT. A throw rolls back and rejects
   * with that error; the cache is left invalidated, never stale. Rejections mean nothing was
   * committed, except `WriteOutcomeUnknownError` (the connection broke during COMMIT).
   * Never `COMMIT`/`ROLLBACK` inside `fn` (use savepoints).
   */
  mutate<R extends MutationResult<V>>(
    id: KeyInput<K>,
    fn: (tx: Queryable, id: KeyOf<K>) => Promise<R>,
    options?: CallOptions,
  ): Promise<R>;
  /**
   * For a change committed outside Keylane (another service, psql, a batch job): call it
   * after that commit. Deletes the cached value and cancels every outstanding fill lease,
   * so a fill that read before the outside commit is refused.
   */
  invalidate(id: KeyInput<K>): Promise<void>;
  /** The lane index this key's work runs on. */
  laneOf(id: KeyInput<K>): number;
  /** This entity's counters (the engine's `stats()` adds every entity's up). */
  stats(): EntityStats;
}

export interface PostgresOptions extends Omit<pg.ClientConfig, 'statement_timeout' | 'query_timeout'> {
  /**
   * Server-side `statement_timeout` of every engine connection, 0 for none. A statement stuck
   * behind a lock (or a runaway read) would hold its lane and every key queued in it; this
   * bounds that, and a cancelled statement commits nothing. A statement with no answer at all
   * for twice that (at least 1 s more) drops its connection. @default 30_000
   */
  statementTimeoutMs?: number;
  /**
   * Streaming replicas of this primary that cache misses may read (README "Replica reads"):
   * a miss reads one only once it has replayed the key's last commit (its watermark), else
   * the primary; writes always go to the primary. Lane i reads replica i mod n over a
   * connection of its own, so each replica holds about lanes / n connections per engine.
   * @default [] (the primary only)
   */
  replicas?: ReadonlyArray<Omit<pg.ClientConfig, 'statement_timeout' | 'query_timeout'>>;
}

/** What both forms of the Redis options take. */
export interface RedisGuardOptions {
  /** Goes first inside every key's hash tag: `{<keyPrefix>:<entity>:<id>}:v`. @default 'kl' */
  keyPrefix?: string;
  /**
   * Replicas a write marker (and an `invalidate`) must reach before the DB write goes ahead:
   * the engine sends `WAIT markerReplicas markerReplicationTimeoutMs` after the begin script,
   * on the connection to the master of the key's slot. Fewer acknowledgements refuse the write
   * (`MarkerNotReplicatedError`, nothing committed). 0: no WAIT (a failover to a replica that
   * missed the marker can then let a reader fill an old value during the write). @default 0
   */
  markerReplicas?: number;
  /** How long the WAIT may take before the write is refused. @default 100 */
  markerReplicationTimeoutMs?: number;
}

/** Redis by URL: the engine creates, configures (fail fast, no offline queue) and closes its client. */
export interface RedisUrlOptions extends RedisGuardOptions {
  url: string;
  /**
   * Per-command timeout. With the offline queue off, commands fail at once while Redis is
   * unreachable; this bounds the ones sent into a connection that hangs. @default 2_000
   */
  commandTimeoutMs?: number;
}

/**
 * A client you own (a `Redis` or a `Cluster`): the engine uses it as configured and never
 * closes it. For the engine's fail-fast behaviour while Redis is down, turn its offline
 * queue off and give it a command timeout.
 */
export interface RedisClientOptions extends RedisGuardOptions {
  client: Redis | Cluster;
}

export type RedisOptions = RedisUrlOptions | RedisClientOptions;

export interface EngineOptions {
  /** A node-postgres client config: a connectionString, or host/port/user/ssl/... */
  postgres: PostgresOptions;
  redis: RedisOptions;
  /** Keyed DB connections (lanes); every entity shares them (lane = routing key mod lanes). @default 16 */
  lanes?: number;
  /** Default TTL of cached values, per entity overridable. @default 300_000 */
  cacheTtlMs?: number;
  /** TTL of a fill lease. @default 5_000 */
  leaseTtlMs?: number;
  /** Life of a write marker; a mutation must commit within it minus a margin. @default 10_000 */
  markerTtlMs?: number;
  /** Queued jobs per lane before `OverloadedError`. @default 10_000 */
  maxQueuePerLane?: number;
  /**
   * Longest expected wait in a lane's queue a job is admitted to, whatever its deadline: past
   * it the job is refused at once (`OverloadedError` with Retry-After). Keeps admitted work's
   * latency, and the connections its callers hold open, bounded on a hot key. 0: no bound
   * but the caller's deadline (and `maxQueuePerLane`). @default 0
   */
  maxQueueWaitMs?: number;
  /**
   * Where losing and regaining Postgres is reported (warn / info, once per outage) and a lane
   * that dropped a dead connection (warn). A pino logger fits. @default none
   */
  logger?: EngineLogger;
}

export interface LaneStats {
  index: number;
  /** Jobs waiting (not counting the running one). */
  queued: number;
  running: boolean;
  connected: boolean;
}

/** Monotonic counters of one entity since it was created. */
export interface EntityStats {
  reads: number;
  hits: number;
  /** Reads the cache did not answer (including reads whose GET failed). */
  misses: number;
  /**
   * Misses answered without a DB read: by the cache on the re-check in the lane (or under
   * the lock), or by the committed value of a write they waited for (serial-guarded).
   */
  coalesced: number;
  /** Loader runs. */
  dbReads: number;
  fills: number;
  /** Fills the guard refused (a write or an invalidate began after the lease, or the lease expired). */
  fillsRejected: number;
  /**
   * Misses and write ends that did not fill because Redis had just reconnected as another
   * server (run_id changed: markers may be lost) and a marker's life had not passed yet.
   */
  fillsHeld: number;
  /**
   * serial-guarded: mutations whose committed value went into the cache at the write's end
   * (no other write overlapped theirs), so the reads after them hit.
   */
  writeFills: number;
  /** Lease requests by outcome (serial-guarded). */
  leases: { granted: number; writeInProgress: number; busy: number };
  /** Mutations that committed. */
  mutations: number;
  /** `invalidate` calls that reached Redis. */
  invalidations: number;
  /** Mutations refused because their write marker's deadline passed (at the commit fence, or before they began): nothing committed. */
  writesExpired: number;
  /** Reads and mutations refused because the caller's own deadline passed before they could be done: nothing committed. */
  deadlinesExceeded: number;
  /**
   * Mutations whose connection broke during COMMIT: they may have committed. Their write
   * marker (serial-guarded) is left to expire rather than removed.
   */
  writesUnknown: number;
  overloaded: number;
  /** Failed loader runs and failed mutations (any reason but a refusal by the caller's own code). */
  dbErrors: number;
  /** Mutations that ran in another's transaction (`groupCommit`): each group of n counts n - 1. */
  groupedMutations: number;
  /**
   * With `postgres.replicas`: granted-lease misses a replica served, and those sent to the
   * primary by why (README "Replica reads"). All zero without replicas.
   */
  replicaReads: ReplicaReadStats;
}

/** Where the misses that may use a replica were read, and why not on one. */
export interface ReplicaReadStats {
  /** Read on a replica that had replayed the key's watermark. */
  served: number;
  /** The replica had not replayed the key's watermark yet. */
  lagging: number;
  /**
   * A write of the key ended with an unknown outcome, without ending (a crash), or outside
   * Keylane (`invalidate`): its commit LSN is unknown, so the primary read also settles it.
   */
  unsettled: number;
  /** No watermark and no recent primary LSN to bound it with (the floor sampler has none). */
  noFloor: number;
  /** The replica's connection failed or could not be opened (retried after a pause). */
  unavailable: number;
  /** The server is no longer in recovery (promoted): it may be ahead of or apart from the primary. */
  notStandby: number;
}

/** Engine-wide: every entity's counters added up, plus what belongs to no entity. */
export interface EngineStats extends EntityStats {
  strategy: StrategyName;
  lanes: LaneStats[];
  /** Failed Redis commands. */
  redisErrors: number;
  /** Per entity, by name. */
  entities: Record<string, EntityStats>;
}

export interface EngineHealth {
  postgres: boolean;
  redis: boolean;
  /** Human-readable causes when something is down. */
  problems: string[];
}

/** How misses fill the cache and how mutations invalidate it; see README.md for the table. */
export type StrategyName =
  | 'cache-aside'
  | 'invalidate-first'
  | 'double-delete'
  | 'locked'
  | 'serial'
  | 'serial-guarded';

export interface Engine {
  /** Process-unique; the `engine` field of its diagnostics events (ENGINE_CHANNELS). */
  readonly id: number;
  /** `serial-guarded`, unless built by `@keylane/engine/baselines`. */
  readonly strategy: StrategyName;
  /** Declares a cached entity. Names are unique per engine. */
  entity<V, K extends KeyKind = 'long'>(options: EntityOptions<V, K>): Entity<V, K>;
  /**
   * The key's lane (the article's `GetDBConnection(longId)`): a long id, or a string key (which
   * routes as `routingKey` from `@keylane/protocol` says). Every entity's work on that key runs there.
   */
  laneOf(key: LongIdInput): number;
  /**
   * Runs `work` in the key's lane: after what is already queued there, before what comes
   * later, on the lane's connection, through a handle that refuses queries once `work` has
   * settled (the connection itself is never handed out: it would be a way around the lane).
   * For statements that must be ordered with the key's guarded reads and writes without being
   * one (a lock probe, a one-key backfill). It neither reads nor touches the cache and sets no
   * write marker: change an entity's rows with `entity.mutate`, or call `entity.invalidate`
   * after. Admitted like entity calls (`deadline`, `signal`, `maxQueuePerLane`). A `work` that
   * returns inside a transaction is rolled back and rejects with `TransactionAbortedError`.
   */
  runInLane<T>(key: LongIdInput, work: (db: Queryable) => Promise<T>, options?: CallOptions): Promise<T>;
  stats(): EngineStats;
  /** Pings Postgres and Redis (bounded by a short timeout) for readiness probes. */
  health(): Promise<EngineHealth>;
  /** Stops taking work, drains every queued lane job, then closes the connections it owns. */
  close(): Promise<void>;
}
