import { InvalidOptionsError, parseLongId, routingKey, UnavailableError, type LongIdInput } from '@keylane/protocol';
import pg from 'pg';
import { Cache } from './cache/cache.js';
import { clientConfig } from './db/lane.js';
import { LaneSet } from './db/lane-set.js';
import { CURRENT_LSN_SQL } from './db/lsn.js';
import { ReplicaSet } from './db/replicas.js';
import { Session } from './db/session.js';
import { nextEngineId } from './diagnostics.js';
import { createEntity } from './entity/entity.js';
import { DEFAULTS, resolveOptions, type LabEngineOptions } from './options/index.js';
import { errorMessage, PostgresLink } from './postgres-link.js';
import { snapshot, sum, type Counters } from './stats.js';
import { createStrategy, isSerialized } from './strategies/index.js';
import type { StrategyContext } from './strategies/strategy.js';
import { TransactionAbortedError } from './errors.js';
import { registerInternals } from './internals.js';
import type { CallOptions, Engine, EngineHealth, EngineStats, EntityOptions, KeyKind, Queryable } from './types.js';

/**
 * Connects to Postgres (one connection per lane, each with its commit fence) and Redis
 * (scripts loaded), then returns the engine. Fails with `UnavailableError` if either is
 * unreachable at start; after that, outages are survived (see README). `lab` is set only by
 * `@keylane/engine/baselines`.
 */
export async function startEngine(options: LabEngineOptions, lab: boolean): Promise<Engine> {
  const opts = resolveOptions(options, lab);
  const id = nextEngineId();
  const background = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    background.add(work);
    void work.finally(() => background.delete(work));
  };
  let redisErrors = 0;
  // Connection-level Postgres errors belong to no entity.
  const unattributed: Counters = sum([]);

  const cache = new Cache({
    engine: id,
    redis: opts.redis,
    leaseTtlMs: opts.leaseTtlMs,
    markerTtlMs: opts.markerTtlMs,
    watermarkTtlMs: opts.watermarkTtlMs,
    ignoreRestarts: opts.chaos.ignoreRedisRestarts,
    onError: () => {
      redisErrors += 1;
    },
  });
  const link = new PostgresLink(options.logger);
  const onDbError = (err: unknown, lane?: number): void => {
    unattributed.dbErrors += 1;
    link.lost(errorMessage(err), lane === undefined ? {} : { lane });
  };
  const lanes: LaneSet = new LaneSet({
    count: opts.lanes,
    engine: id,
    postgres: opts.postgres,
    statementTimeoutMs: opts.statementTimeoutMs,
    maxQueuePerLane: opts.maxQueuePerLane,
    maxQueueWaitMs: opts.maxQueueWaitMs,
    onDbError,
    onConnected: (lane) => {
      if (lanes.stalled().length === 0) link.regained(`lane ${lane} connected`);
    },
    onStalled: ({ lane, waitedMs, reason }) => {
      unattributed.dbErrors += 1;
      options.logger?.warn(
        { lane: lane.index, waitedMs },
        `lane ${lane.index} dropped its Postgres connection after ${waitedMs} ms without an answer: ${reason}`,
      );
      link.lost(`lane ${lane.index}: no answer for ${waitedMs} ms`, { lane: lane.index });
    },
  });
  // The unserialized baselines run here (`lanes` connections, opened on demand); the
  // serialized strategies use it only for inspect() and health().
  const pool = new pg.Pool({ ...clientConfig(opts.postgres, opts.statementTimeoutMs), max: isSerialized(opts.strategy) ? 2 : opts.lanes });
  pool.on('error', (err) => onDbError(err));
  const replicas =
    opts.replicas.length === 0
      ? undefined
      : new ReplicaSet({
          replicas: opts.replicas,
          lanes: opts.lanes,
          engine: id,
          statementTimeoutMs: opts.statementTimeoutMs,
          mode: opts.chaos.replicaReads,
          floorWindowMs: opts.floorWindowMs,
          sampleLsn: async () => {
            const { rows } = await pool.query<{ lsn: string }>(CURRENT_LSN);
            return rows[0]!.lsn;
          },
          redisRestarts: () => cache.restarts,
        });

  const shutdown = async (): Promise<void> => {
    await Promise.allSettled([lanes.close(), pool.end(), cache.close(), replicas?.close()]);
  };
  try {
    await cache.start();
    await lanes.start();
    // Replicas are not needed to start: one that is down is tried again by each lane later.
    await replicas?.start();
  } catch (err) {
    await shutdown();
    throw new UnavailableError(`engine could not start: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }

  const ctx: StrategyContext = { engine: id, options: opts, cache, lanes, pool, replicas, track };
  const strategy = createStrategy(opts.strategy, ctx);

  let closing: Promise<void> | undefined;
  // Work admitted and not yet settled, counted rather than kept in a set: close waits for the
  // count to reach 0, and a call costs one shared settle handler instead of two closures.
  let inflight = 0;
  let drained: (() => void) | undefined;
  const settled = (): void => {
    inflight -= 1;
    if (inflight === 0) drained?.();
  };
  const admit = <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new UnavailableError('engine is closing'));
    const p = work();
    inflight += 1;
    void p.then(settled, settled);
    return p;
  };
  const outsideLanes = async <T>(fn: (db: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    const session = new Session(client, () => undefined, undefined, { engine: id, lane: null });
    try {
      return await fn(session);
    } finally {
      session.close();
      client.release(session.broken ? new Error('connection failed') : undefined);
    }
  };

  const entities = new Map<string, Counters>();
  const host = { engine: id, keyPrefix: opts.keyPrefix, cacheTtlMs: opts.cacheTtlMs, cache, lanes, strategy, admit, outsideLanes };

  /** The lane's next job must not run inside a transaction this one left open: roll it back. */
  const leaveTransaction = async (session: Session): Promise<'T' | 'E' | undefined> => {
    const status = session.transactionStatus();
    if (status === 'I' || status === null) return undefined;
    // A broken connection is dropped by the lane anyway, and its transaction with it.
    if (!session.broken) await session.query('ROLLBACK').catch((err: unknown) => session.observe(err));
    return status;
  };

  const laneOf = (key: LongIdInput): number =>
    lanes.indexOf(typeof key === 'string' ? routingKey(key) : routingKey(parseLongId(key)));

  const engine: Engine = {
    id,
    strategy: opts.strategy,

    entity<V, K extends KeyKind = 'long'>(entityOptions: EntityOptions<V, K>) {
      const name = (entityOptions as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && entities.has(name)) {
        throw new InvalidOptionsError('entity.name', `an entity named ${JSON.stringify(name)} already exists in this engine`);
      }
      const entity = createEntity(host, entityOptions);
      entities.set(entity.name, entity.counters);
      return entity;
    },

    laneOf,

    runInLane<T>(key: LongIdInput, work: (db: Queryable) => Promise<T>, call: CallOptions = {}): Promise<T> {
      const index = laneOf(key);
      return admit(() =>
        lanes.run(
          index,
          async (session) => {
            let result: T;
            try {
              result = await work(session);
            } catch (err) {
              await leaveTransaction(session);
              throw err;
            }
            const left = await leaveTransaction(session);
            if (left === undefined) return result;
            throw new TransactionAbortedError(
              `runInLane work returned inside ${left === 'E' ? 'a failed' : 'an open'} transaction; it was rolled back, nothing of it committed`,
            );
          },
          call,
        ),
      );
    },

    stats(): EngineStats {
      const perEntity: Record<string, EngineStats['entities'][string]> = {};
      for (const [name, counters] of entities) perEntity[name] = snapshot(counters);
      return {
        ...sum([unattributed, ...entities.values()]),
        strategy: opts.strategy,
        lanes: lanes.stats(),
        redisErrors,
        entities: perEntity,
      };
    },

    async health(): Promise<EngineHealth> {
      const problems: string[] = [];
      const [reachable, redis] = await Promise.all([
        // The probe's own read timeout makes pg-pool destroy a connection that did not answer,
        // so a partition cannot leave stuck connections in the pool after it healed (pg reads a
        // per-query query_timeout; its types only know the client-wide one).
        withTimeout(pool.query(HEALTH_QUERY), DEFAULTS.healthTimeoutMs).then(
          () => true,
          (err: unknown) => {
            problems.push(`postgres: ${errorMessage(err)}`);
            return false;
          },
        ),
        withTimeout(cache.ping(), DEFAULTS.healthTimeoutMs).then(
          () => true,
          (err: unknown) => {
            problems.push(`redis: ${cache.lastError ?? (err instanceof Error ? err.message : String(err))}`);
            return false;
          },
        ),
      ]);
      // Readiness must not run ahead of the lanes: a fresh probe connection can work while a
      // lane's old socket still waits out TCP backoff after a partition healed.
      const now = Date.now();
      const stalled = lanes.stalled(now);
      for (const lane of stalled) {
        problems.push(`postgres: lane ${lane.index} has had no answer for ${lane.waitingMs(now)} ms`);
      }
      const postgres = reachable && stalled.length === 0;
      if (postgres) link.regained('readiness probe');
      else if (!reachable) link.lost(problems[0] ?? 'readiness probe failed');
      return { postgres, redis, problems };
    },

    close(): Promise<void> {
      closing ??= (async () => {
        if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
        await lanes.drain();
        while (background.size > 0) await Promise.allSettled([...background]);
        await shutdown();
      })();
      return closing;
    },
  };
  registerInternals(engine, { laneClient: (key) => lanes.lane(laneOf(key)).client });
  return engine;
}

const CURRENT_LSN = { text: CURRENT_LSN_SQL, query_timeout: DEFAULTS.healthTimeoutMs } as pg.QueryConfig;

const HEALTH_QUERY = { text: 'SELECT 1', query_timeout: DEFAULTS.healthTimeoutMs } as pg.QueryConfig;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
