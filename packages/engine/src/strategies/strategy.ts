import { UnavailableError, VersionConflictError, type Item } from '@keylane/protocol';
import pg from 'pg';
import type { Cache } from '../cache/cache.js';
import type { LaneSet } from '../lanes/lane-set.js';
import type { ResolvedOptions } from '../options.js';
import type { Counters } from '../stats.js';
import type { ItemStore, Queryable } from '../store/item-store.js';
import type { StrategyName } from '../types.js';
import { WriteExpiredError, WriteOutcomeUnknownError } from '../errors.js';

/**
 * What a committed mutation returns: the caller's result, and the row as the statement left
 * it (`null`: no row), which serial-guarded may put in the cache under its marker.
 */
export interface Committed<T> {
  readonly result: T;
  readonly row: Item | null;
}

/**
 * A DB mutation (write or delete) as the engine hands it to a strategy: run it on `db`,
 * applying only before `deadlineMs` (epoch ms, Postgres' clock) when one is given. It
 * throws typed errors for refusals (conflict, expired) and returns what it committed otherwise.
 */
export type Mutation<T> = (db: Queryable, deadlineMs: number | null) => Promise<Committed<T>>;

/** What a strategy works with; one per engine. */
export interface StrategyContext {
  readonly options: ResolvedOptions;
  readonly store: ItemStore;
  readonly cache: Cache;
  readonly lanes: LaneSet;
  /** Connections for work that does not run in a lane (the unserialized strategies). */
  readonly pool: pg.Pool;
  readonly counters: Counters;
  /** Keeps background work (double-delete's second DEL) alive until close() waits for it. */
  readonly track: (work: Promise<unknown>) => void;
}

/**
 * How misses fill the cache and how writes invalidate it. The engine answers cache hits
 * itself (one GET); strategies only see misses and mutations.
 */
export interface Strategy {
  readonly name: StrategyName;
  /**
   * Answers a read whose GET missed. `cacheUsable` is false when that GET failed (Redis
   * down): then the strategy must read the DB and not fill.
   */
  readMiss(id: bigint, cacheUsable: boolean): Promise<Item | null>;
  mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T>;
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** A DB read, counted; failures become `UnavailableError`. */
export async function dbRead(ctx: StrategyContext, db: Queryable, id: bigint): Promise<Item | null> {
  ctx.counters.dbReads += 1;
  try {
    return await ctx.store.read(db, id);
  } catch (err) {
    ctx.counters.dbErrors += 1;
    throw new UnavailableError(`postgres read failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Runs a mutation and says whether its failure left the DB untouched. A server-side error
 * (SQLSTATE) or a typed refusal means the statement did not commit; a lost connection
 * leaves it unknown: the statement may still commit.
 */
export type MutationOutcome<T> =
  | { ok: true; value: Committed<T> }
  | { ok: false; error: unknown; outcomeKnown: boolean };

export async function runMutation<T>(
  ctx: StrategyContext,
  db: Queryable,
  mutation: Mutation<T>,
  deadlineMs: number | null,
): Promise<MutationOutcome<T>> {
  try {
    return { ok: true, value: await mutation(db, deadlineMs) };
  } catch (err) {
    if (err instanceof VersionConflictError || err instanceof WriteExpiredError) {
      return { ok: false, error: err, outcomeKnown: true };
    }
    ctx.counters.dbErrors += 1;
    if (err instanceof pg.DatabaseError) {
      // A server-side error (SQLSTATE) rolled the single-statement transaction back.
      const error = new UnavailableError(`postgres refused the write, nothing was committed: ${errorMessage(err)}`, {
        cause: err,
      });
      return { ok: false, error, outcomeKnown: true };
    }
    ctx.counters.writesUnknown += 1;
    const error = new WriteOutcomeUnknownError(
      `postgres connection failed during the write; it may or may not have committed: ${errorMessage(err)}`,
      { cause: err },
    );
    return { ok: false, error, outcomeKnown: false };
  }
}

/** Like runMutation, for strategies without a guard: rethrows failures as they are. */
export async function mutateOrThrow<T>(ctx: StrategyContext, db: Queryable, mutation: Mutation<T>): Promise<T> {
  const result = await runMutation(ctx, db, mutation, null);
  if (result.ok) return result.value.result;
  throw result.error;
}

/** Fails fast, before the DB is touched, when Redis is not connected. */
export function requireRedis(ctx: StrategyContext): void {
  if (!ctx.cache.ready) {
    throw new UnavailableError('redis is unreachable; the write was not attempted (nothing was committed)');
  }
}

/** The invalidation that must precede a DB write: if Redis fails it, the DB is not touched. */
export async function invalidateFirst(ctx: StrategyContext, id: bigint): Promise<void> {
  try {
    await ctx.cache.del(id);
  } catch (err) {
    throw notAttempted(err);
  }
}

/** Wraps a Redis failure that stopped a write before it reached the DB. */
export function notAttempted(err: unknown): UnavailableError {
  return new UnavailableError(
    `redis could not invalidate the cache, so the write was not attempted (nothing was committed): ${errorMessage(err)}`,
    { cause: err },
  );
}

/** An unguarded fill: a failure only costs the next reader a miss. */
export async function plainFill(ctx: StrategyContext, id: bigint, item: Item | null): Promise<void> {
  await sleep(ctx.options.chaos.fillDelayMs);
  try {
    await ctx.cache.set(id, item);
    ctx.counters.fills += 1;
  } catch {
    // Counted by the cache layer; the reader already has its answer.
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
