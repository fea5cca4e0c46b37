import {
  formatLongId,
  parseLongId,
  UnavailableError,
  VersionConflictError,
  type Item,
  type LongIdInput,
} from '@keylane/protocol';
import pg from 'pg';
import { Cache } from './cache/cache.js';
import { InvalidValueError, WriteExpiredError } from './errors.js';
import { CONNECT_TIMEOUT_MS, queryTimeoutMs } from './lanes/lane.js';
import { LaneSet } from './lanes/lane-set.js';
import { DEFAULTS, resolveOptions } from './options.js';
import { newCounters } from './stats.js';
import { ItemStore } from './store/item-store.js';
import { createStrategy, isSerialized, type Mutation } from './strategies/index.js';
import type { StrategyContext } from './strategies/strategy.js';
import type {
  DBConnection,
  Engine,
  EngineHealth,
  EngineOptions,
  EngineStats,
  WriteOptions,
} from './types.js';

/**
 * Connects to Postgres (one connection per lane, table created if missing) and Redis
 * (scripts loaded), then returns the engine. Fails with `UnavailableError` if either is
 * unreachable at start; after that, Redis outages are survived (see README).
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const opts = resolveOptions(options);
  const counters = newCounters();
  const store = new ItemStore(opts.schema);
  const background = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    background.add(work);
    void work.finally(() => background.delete(work));
  };

  const cache = new Cache({
    url: opts.redisUrl,
    keyPrefix: opts.keyPrefix,
    commandTimeoutMs: opts.redisCommandTimeoutMs,
    cacheTtlMs: opts.cacheTtlMs,
    leaseTtlMs: opts.leaseTtlMs,
    markerTtlMs: opts.markerTtlMs,
    onError: () => {
      counters.redisErrors += 1;
    },
  });
  const onDbError = (): void => {
    counters.dbErrors += 1;
  };
  const lanes = new LaneSet({
    count: opts.lanes,
    connectionString: opts.connectionString,
    statementTimeoutMs: opts.statementTimeoutMs,
    maxQueuePerLane: opts.maxQueuePerLane,
    onDbError,
    onOverloaded: () => {
      counters.overloaded += 1;
    },
  });
  // The unserialized strategies run here (`lanes` connections, opened on demand); the
  // serialized ones use it only for inspect() and health().
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: isSerialized(opts.strategy) ? 2 : opts.lanes,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: opts.statementTimeoutMs,
    // pg-pool destroys a client released with an error, so a timed-out one is not reused.
    query_timeout: queryTimeoutMs(opts.statementTimeoutMs),
  });
  pool.on('error', onDbError);

  const shutdown = async (): Promise<void> => {
    await Promise.allSettled([lanes.close(), pool.end(), cache.close()]);
  };
  try {
    await cache.start();
    await store.ensureTable(pool);
    await lanes.start();
  } catch (err) {
    await shutdown();
    throw new UnavailableError(`engine could not start: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }

  const ctx: StrategyContext = { options: opts, store, cache, lanes, pool, counters, track };
  const strategy = createStrategy(opts.strategy, ctx);

  let closing: Promise<void> | undefined;
  const inflight = new Set<Promise<unknown>>();
  // Every public operation goes through here so close() can refuse new work and wait for
  // the accepted work.
  const admit = <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new UnavailableError('engine is closing'));
    const p = work();
    inflight.add(p);
    void p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    return p;
  };

  const mutation = <T>(kind: 'write' | 'delete', id: bigint, run: Mutation<T>): Promise<T> =>
    admit(async () => {
      const result = await strategy.mutate(id, run);
      // Counted once committed, so the counters say what reached the DB.
      if (kind === 'write') counters.writes += 1;
      else counters.deletes += 1;
      return result;
    });

  const engine: Engine = {
    strategy: opts.strategy,

    async read(input: LongIdInput): Promise<Item | null> {
      const id = parseLongId(input);
      return admit(async () => {
        counters.reads += 1;
        let cacheUsable = true;
        try {
          const found = await cache.get(id);
          if (found.hit) {
            counters.hits += 1;
            return found.item;
          }
        } catch {
          cacheUsable = false;
        }
        counters.misses += 1;
        return strategy.readMiss(id, cacheUsable);
      });
    },

    async write(input: LongIdInput, value: unknown, writeOptions: WriteOptions = {}): Promise<Item> {
      const id = parseLongId(input);
      const json = encodeValue(value);
      const { ifVersion } = writeOptions;
      if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
        throw new InvalidValueError(`ifVersion must be a non-negative safe integer, got ${String(ifVersion)}`);
      }
      const idText = formatLongId(id);
      return mutation('write', id, async (db, deadlineMs) => {
        const outcome = await store.write(db, id, json, ifVersion, deadlineMs);
        if (outcome.ok) return { result: outcome.item, row: outcome.item };
        if (outcome.refusal.kind === 'expired') throw new WriteExpiredError(idText);
        counters.versionConflicts += 1;
        throw new VersionConflictError(idText, ifVersion ?? 0, outcome.refusal.actualVersion);
      });
    },

    async delete(input: LongIdInput): Promise<boolean> {
      const id = parseLongId(input);
      const idText = formatLongId(id);
      return mutation('delete', id, async (db, deadlineMs) => {
        const outcome = await store.delete(db, id, deadlineMs);
        if (!outcome.ok) throw new WriteExpiredError(idText);
        return { result: outcome.existed, row: null };
      });
    },

    getDBConnection(input: LongIdInput): DBConnection {
      const lane = lanes.laneFor(parseLongId(input));
      return { index: lane.index, client: lane.client };
    },

    stats(): EngineStats {
      return {
        strategy: opts.strategy,
        lanes: lanes.stats(),
        ...counters,
        leases: { ...counters.leases },
      };
    },

    async inspect(input: LongIdInput) {
      const id = parseLongId(input);
      const [cached, stored] = await Promise.all([cache.peek(id), store.read(pool, id)]);
      return { cached, stored };
    },

    async health(): Promise<EngineHealth> {
      const problems: string[] = [];
      const [postgres, redis] = await Promise.all([
        withTimeout(pool.query('SELECT 1'), DEFAULTS.healthTimeoutMs).then(
          () => true,
          (err: unknown) => {
            problems.push(`postgres: ${err instanceof Error ? err.message : String(err)}`);
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
      return { postgres, redis, problems };
    },

    close(): Promise<void> {
      closing ??= (async () => {
        await Promise.allSettled([...inflight]);
        await lanes.drain();
        while (background.size > 0) await Promise.allSettled([...background]);
        await shutdown();
      })();
      return closing;
    },
  };
  return engine;
}

const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

function encodeValue(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new InvalidValueError(`value is not JSON-serializable: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (json === undefined) throw new InvalidValueError('value is not JSON-serializable (undefined, a function or a symbol)');
  // Postgres' jsonb refuses U+0000 (22P05) and the write would surface as `unavailable`; it is
  // the caller's value that cannot be stored. JSON.stringify writes it as \u0000, preceded by
  // an even number of backslashes (an odd number means an escaped backslash, then text).
  if (NUL_ESCAPE.test(json)) {
    throw new InvalidValueError('value contains U+0000 (a NUL character), which PostgreSQL jsonb cannot store');
  }
  return json;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
