import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { START_POSTGRES, START_REDIS, TEST_DATABASE_URL, TEST_REDIS_URL } from './env.js';

/**
 * One suite's private corner of the shared Postgres and Redis: a schema and a key
 * prefix no other suite uses, removed again by `dispose()`.
 */
export interface TestContext {
  /** A fresh schema, e.g. `kltest_engine_3f9a1c2b`. */
  readonly schema: string;
  /** A key prefix of the same name; every Redis key a suite makes must contain it. */
  readonly prefix: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** A pool whose connections use the schema as their search_path. */
  readonly pg: pg.Pool;
  readonly redis: Redis;
  /** Drops the schema, deletes every key containing the prefix, closes the clients. */
  dispose(): Promise<void>;
}

export interface TestContextOptions {
  /** Part of the schema and prefix name, to tell leftovers apart; [a-z0-9_] only. */
  name?: string;
  databaseUrl?: string;
  redisUrl?: string;
}

export async function createTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const name = options.name ?? 'suite';
  if (!/^[a-z0-9_]{1,24}$/.test(name)) {
    throw new Error(`test context name must match [a-z0-9_]{1,24}, got ${JSON.stringify(name)}`);
  }
  const databaseUrl = options.databaseUrl ?? TEST_DATABASE_URL;
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const schema = `kltest_${name}_${randomBytes(4).toString('hex')}`;

  const redis = await connectRedis(redisUrl);
  let pool: pg.Pool;
  try {
    pool = await connectPostgres(databaseUrl, schema);
  } catch (err) {
    redis.disconnect();
    throw err;
  }

  let disposed = false;
  return {
    schema,
    prefix: schema,
    databaseUrl,
    redisUrl,
    pg: pool,
    redis,
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await deleteKeysContaining(redis, schema);
      } finally {
        await pool.end();
        // QUIT closes the socket at once; disconnect() would leave a 2 s timer behind.
        await redis.quit().catch(() => redis.disconnect());
      }
    },
  };
}

async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported through the failing command below; an unhandled 'error' event would crash jest.
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(
      `Redis is not reachable at ${url} (${errorText(err)}). Start it with: ${START_REDIS}` +
        ' or point KEYLANE_TEST_REDIS_URL at one.',
      { cause: err },
    );
  }
  return redis;
}

async function connectPostgres(url: string, schema: string): Promise<pg.Pool> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    await probe.query(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    throw new Error(
      `Postgres is not reachable at ${url} (${errorText(err)}). Start it with: ${START_POSTGRES}` +
        ' or point KEYLANE_TEST_DATABASE_URL at one.',
      { cause: err },
    );
  } finally {
    await probe.end().catch(() => undefined);
  }
  return new pg.Pool({
    connectionString: url,
    max: 4,
    options: `-c search_path=${schema}`,
  });
}

/**
 * Deletes every key containing `fragment` (a random prefix matches only its owner's keys);
 * returns how many. SCAN, not KEYS, and UNLINK, not DEL: others share this Redis and must not
 * be blocked.
 */
export async function deleteKeysContaining(redis: Redis, fragment: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${fragment}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Text for an unknown thrown value, including AggregateError members (pg/net report those). */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorText).join('; ');
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
