import type { Item, LongIdInput } from '@keylane/protocol';
import type pg from 'pg';

/** How reads fill the cache and how writes invalidate it; see README.md for the table. */
export type StrategyName =
  | 'cache-aside'
  | 'invalidate-first'
  | 'double-delete'
  | 'locked'
  | 'serial'
  | 'serial-guarded';

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'cache-aside',
  'invalidate-first',
  'double-delete',
  'locked',
  'serial',
  'serial-guarded',
];

export interface PostgresOptions {
  connectionString: string;
  /** Schema holding the items table; created if missing. @default 'keylane' */
  schema?: string;
  /**
   * Server-side `statement_timeout` of every engine connection, 0 for none. A statement stuck
   * behind a lock (or a runaway read) would hold its lane and every key queued in it; this
   * bounds that, and a cancelled statement commits nothing. @default 30_000
   */
  statementTimeoutMs?: number;
}

export interface RedisOptions {
  url: string;
  /** Goes inside every key's hash tag: `{<keyPrefix>:<id>}:v`. @default 'kl' */
  keyPrefix?: string;
  /**
   * Per-command timeout. With the offline queue off, commands fail at once while Redis is
   * unreachable; this bounds the ones sent into a connection that hangs. @default 2_000
   */
  commandTimeoutMs?: number;
}

/**
 * Test-only fault injection: widens race windows that are rare in production so the demo
 * and the tests can make them happen on demand. Off unless set.
 */
export interface ChaosOptions {
  /** Pause between a miss's DB read and its cache fill. */
  fillDelayMs?: number;
  /** Pause between a write's invalidation and its DB write. */
  writeDelayMs?: number;
}

export interface EngineOptions {
  postgres: PostgresOptions;
  redis: RedisOptions;
  /** Keyed DB connections (lanes) in this engine. @default 16 */
  lanes?: number;
  /** @default 'serial-guarded' */
  strategy?: StrategyName;
  /** TTL of cached values. @default 300_000 */
  cacheTtlMs?: number;
  /** TTL of a fill lease. @default 5_000 */
  leaseTtlMs?: number;
  /** TTL of a write marker; a DB write must commit within it. @default 10_000 */
  markerTtlMs?: number;
  /** Queued jobs per lane before `OverloadedError`. @default 10_000 */
  maxQueuePerLane?: number;
  /** `double-delete` only: delay before the second DEL. @default 100 */
  doubleDeleteDelayMs?: number;
  /** `locked` only: TTL of the per-key Redis lock. @default 5_000 */
  lockTtlMs?: number;
  /** Test-only. */
  chaos?: ChaosOptions;
}

export interface WriteOptions {
  /** Apply only if the item is at this version; 0 means "must not exist yet". */
  ifVersion?: number;
}

/** The lane a key's serialized work runs on (the article's `GetDBConnection(longId)`). */
export interface DBConnection {
  readonly index: number;
  readonly client: pg.Client;
}

export interface LaneStats {
  index: number;
  /** Jobs waiting (not counting the running one). */
  queued: number;
  running: boolean;
  connected: boolean;
}

/** Monotonic counters since the engine started, plus a snapshot of the lanes. */
export interface EngineStats {
  strategy: StrategyName;
  lanes: LaneStats[];
  reads: number;
  hits: number;
  misses: number;
  /** Misses answered by another miss's fill after waiting in the lane (coalesced). */
  coalesced: number;
  dbReads: number;
  fills: number;
  /** Fills the guard refused (a write began after the lease, or the lease expired). */
  fillsRejected: number;
  /**
   * serial-guarded: writes and deletes whose committed row went into the cache at the write's
   * end (no other write overlapped theirs), so the reads after them hit.
   */
  writeFills: number;
  /** Lease requests by outcome (serial-guarded). */
  leases: { granted: number; writeInProgress: number; busy: number };
  /** Writes that completed (committed). */
  writes: number;
  /** Deletes that completed (whether or not a row existed). */
  deletes: number;
  versionConflicts: number;
  /** Writes whose marker deadline passed before the DB write: nothing committed. */
  writesExpired: number;
  /**
   * Writes and deletes whose connection broke mid-statement: they may have committed. Their
   * write marker (serial-guarded) is left to expire rather than removed.
   */
  writesUnknown: number;
  overloaded: number;
  redisErrors: number;
  dbErrors: number;
}

export interface EngineHealth {
  postgres: boolean;
  redis: boolean;
  /** Human-readable causes when something is down. */
  problems: string[];
}

export interface Engine {
  readonly strategy: StrategyName;
  read(id: LongIdInput): Promise<Item | null>;
  write(id: LongIdInput, value: unknown, options?: WriteOptions): Promise<Item>;
  delete(id: LongIdInput): Promise<boolean>;
  getDBConnection(id: LongIdInput): DBConnection;
  stats(): EngineStats;
  /**
   * For tests and the demo's convergence check: the raw cached entry (`undefined` when no
   * entry is cached, `null` when absence is cached) and the DB row, read directly without
   * entering a lane or touching the guard.
   */
  inspect(id: LongIdInput): Promise<{ cached: Item | null | undefined; stored: Item | null }>;
  /** Pings Postgres and Redis (bounded by a short timeout) for readiness probes. */
  health(): Promise<EngineHealth>;
  /** Stops taking work, drains every queued lane job, then closes its connections. */
  close(): Promise<void>;
}
