import { UnavailableError } from '@keylane/protocol';
import pg from 'pg';
import { TOMBSTONE, type Cache } from '../cache/cache.js';
import type { Admission } from '../db/lane.js';
import type { LaneSet } from '../db/lane-set.js';
import { Session } from '../db/session.js';
import { runTransactionGroup, type Fence, type GroupOutcome, type MarkerGate, type MutationPlan, type TransactionOptions, type TransactionOutcome } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import type { ReplicaSet } from '../db/replicas.js';
import {
  CallerDeadlineError,
  InvalidValueError,
  TransactionAbortedError,
  WriteExpiredError,
  WriteOutcomeUnknownError,
} from '../errors.js';
import { channels, traceCall, type FillContext, type TransactionContext } from '../diagnostics.js';
import type { ResolvedOptions } from '../options/index.js';
import type { StrategyName } from '../types.js';

/** What a strategy works with; one per engine. */
export interface StrategyContext {
  /** The engine's id, for diagnostics events. */
  readonly engine: number;
  readonly options: ResolvedOptions;
  readonly cache: Cache;
  readonly lanes: LaneSet;
  /** Connections for work that does not run in a lane (the unserialized baselines). */
  readonly pool: pg.Pool;
  /** The streaming replicas misses may read (serial-guarded only); undefined: none configured. */
  readonly replicas: ReplicaSet | undefined;
  /** Keeps background work (double-delete's second DEL) alive until close() waits for it. */
  readonly track: (work: Promise<unknown>) => void;
}

/**
 * How misses fill the cache and how mutations invalidate it. The entity answers cache hits
 * itself (one GET); strategies only see misses and mutations, and values only as text.
 */
export interface Strategy {
  readonly name: StrategyName;
  /**
   * Answers a read whose GET missed with the value's text (TOMBSTONE: no row). `cacheUsable`
   * is false when that GET failed (Redis down): then read the DB and do not fill.
   */
  readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string>;
  /** `admission.deadline`: the caller's own, epoch ms on this process's clock. */
  mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R>;
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/**
 * Runs the entity's loader on `session` and returns the value's text, counted. A failure of
 * the connection becomes `UnavailableError`; the loader's own errors pass through as they are.
 */
export async function loadText(ref: KeyRef, session: Session): Promise<string> {
  const { entity } = ref;
  entity.counters.dbReads += 1;
  let value: unknown;
  try {
    if (entity.snapshot) {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        value = await entity.load(session, ref.id);
        await session.query('COMMIT');
      } catch (err) {
        await session.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } else {
      value = await entity.load(session, ref.id);
    }
  } catch (err) {
    entity.counters.dbErrors += 1;
    session.observe(err);
    if (session.broken) {
      throw new UnavailableError(`postgres read of ${entity.name} ${ref.text} failed: ${errorMessage(err)}`, { cause: err });
    }
    throw err;
  }
  if (value === undefined) {
    throw new InvalidValueError(
      `load of ${entity.name} ${ref.text} returned undefined; return null when there is no row (absence is cached too)`,
    );
  }
  return value === null ? TOMBSTONE : entity.encode(value);
}

/** Runs `job` on a connection of the pool (the unserialized baselines), wrapped like a lane's. */
export async function inPool<T>(ctx: StrategyContext, job: (session: Session) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await ctx.pool.connect();
  } catch (err) {
    throw new UnavailableError(`postgres is unreachable (nothing was sent): ${errorMessage(err)}`, { cause: err });
  }
  // pg-pool destroys a client released with an error, so a broken one is not reused.
  const session = new Session(client, () => undefined, undefined, { engine: ctx.engine, lane: null });
  try {
    return await job(session);
  } finally {
    session.close();
    client.release(session.broken ? new Error('connection failed') : undefined);
  }
}

/** Runs a mutation's transaction with the engine's options for `ref`. */
export async function transaction<R>(
  ctx: StrategyContext,
  ref: KeyRef,
  session: Session,
  plan: MutationPlan<R>,
  fence: Fence | null,
): Promise<TransactionOutcome<R>> {
  const [outcome] = await transactionGroup(ctx, ref, session, [plan], fence);
  if (outcome === undefined || typeof outcome === 'symbol') throw new Error('unreachable: a single plan was left to run again');
  return outcome;
}

/** Runs several mutations of `ref` in one transaction (group commit; one plan: a plain transaction). */
export function transactionGroup<R>(
  ctx: StrategyContext,
  ref: KeyRef,
  session: Session,
  plans: readonly MutationPlan<R>[],
  fence: Fence | null,
  marker?: MarkerGate,
): Promise<GroupOutcome<R>[]> {
  const { chaos, statementTimeoutMs } = ctx.options;
  const options: TransactionOptions = {
    fence,
    statementTimeoutMs,
    entity: ref.entity.name,
    id: ref.text,
    onFenceLost: () => ctx.lanes.lane(ref.lane).markFenceLost(),
    chaos: { commitDelayMs: chaos.commitDelayMs, clientSideFence: chaos.clientSideFence },
    // A guarded write's commit LSN goes into the key's watermark, replicas or not: an engine
    // that reads replicas can then share a key prefix with one that does not.
    recordLsn: fence !== null,
    ...(marker ? { marker } : {}),
  };
  if (!channels.transaction.hasSubscribers) return runTransactionGroup(session, plans, options);
  const context: TransactionContext = { engine: ctx.engine, entity: ref.entity.name, key: ref.text, lane: ref.lane };
  return traceCall(channels.transaction, context, async () => {
    const outcomes = await runTransactionGroup(session, plans, options);
    const first = outcomes.find((o): o is TransactionOutcome<R> => typeof o !== 'symbol' && (o.ok || o.committed !== 'no'));
    context.committed = first === undefined ? 'no' : first.ok ? 'yes' : first.committed;
    return outcomes;
  }) as Promise<GroupOutcome<R>[]>;
}

/** Counts a mutation's outcome on its entity and returns its result or throws its error. */
export function settle<R>(ref: KeyRef, outcome: TransactionOutcome<R>): R {
  const { counters } = ref.entity;
  if (outcome.ok) {
    counters.mutations += 1;
    return outcome.result;
  }
  const { error } = outcome;
  if (error instanceof WriteExpiredError) counters.writesExpired += 1;
  else if (error instanceof CallerDeadlineError) counters.deadlinesExceeded += 1;
  else if (outcome.committed === 'unknown') counters.writesUnknown += 1;
  if (isDbFailure(error)) counters.dbErrors += 1;
  throw error;
}

function isDbFailure(error: unknown): boolean {
  if (error instanceof WriteExpiredError || error instanceof CallerDeadlineError) return false;
  return (
    error instanceof UnavailableError ||
    error instanceof WriteOutcomeUnknownError ||
    error instanceof TransactionAbortedError ||
    error instanceof pg.DatabaseError
  );
}

/**
 * Work outside a lane (the unserialized baselines) whose caller's deadline passed, or whose
 * caller went away, before it started: nothing is sent anywhere. (Lanes check at admission.)
 */
export function refuseLate(ref: KeyRef, admission: Admission): void {
  if (admission.signal?.aborted) throw admission.signal.reason instanceof Error ? admission.signal.reason : new Error('the caller went away');
  if (admission.deadline === undefined || Date.now() < admission.deadline) return;
  ref.entity.counters.deadlinesExceeded += 1;
  throw new CallerDeadlineError(ref.text, ref.entity.name, 'before the work started');
}

/** Fails fast, before the DB is touched, when Redis is not connected. */
export function requireRedis(ctx: StrategyContext): void {
  if (!ctx.cache.ready) {
    throw new UnavailableError('redis is unreachable; the write was not attempted (nothing was committed)');
  }
}

/** The invalidation that must precede a DB write: if Redis fails it, the DB is not touched. */
export async function invalidateFirst(ctx: StrategyContext, ref: KeyRef): Promise<void> {
  try {
    await ctx.cache.del(ref.tag);
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
export async function plainFill(ctx: StrategyContext, ref: KeyRef, text: string): Promise<void> {
  await sleep(ctx.options.chaos.fillDelayMs);
  try {
    if (channels.fill.hasSubscribers) {
      const context = fillContext(ctx, ref);
      await traceCall(channels.fill, context, async () => {
        await ctx.cache.set(ref.tag, text, ref.entity.ttlMs);
        context.outcome = 'stored';
      });
    } else {
      await ctx.cache.set(ref.tag, text, ref.entity.ttlMs);
    }
    ref.entity.counters.fills += 1;
  } catch {
    // Counted by the cache layer; the reader already has its answer.
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The fill channel's context for `ref`. */
export function fillContext(ctx: StrategyContext, ref: KeyRef): FillContext {
  return { engine: ctx.engine, entity: ref.entity.name, key: ref.text };
}

