import { Redis } from 'ioredis';
import pg from 'pg';
import { defaultSetting } from '@keylane/item-service/config';
import { errorText } from '@keylane/harness';
import { DependencyUnreachableError } from './errors.js';

/**
 * Where the local commands (`keylane up`, `demo`, `bench`) find Postgres and Redis when
 * nothing says otherwise: the item service's own defaults (its KEYLANE_DATABASE_URL and
 * KEYLANE_REDIS_URL), so `keylane up` and a bare `keylane-item-service` reach the same
 * database. `postgres` because initdb creates that database on every installation; every
 * command works in a schema of its own inside it.
 */
export const DEFAULT_DATABASE_URL = defaultSetting('databaseUrl');
export const DEFAULT_REDIS_URL = defaultSetting('redisUrl');

/**
 * Checks Postgres and Redis before anything is started, so a missing dependency is one clear
 * sentence instead of three instances failing their readiness probes.
 */
export async function checkDependencies(databaseUrl: string, redisUrl: string): Promise<void> {
  await Promise.all([checkPostgres(databaseUrl), checkRedis(redisUrl)]);
}

export async function checkPostgres(url: string, timeoutMs = 3_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // pg emits 'error' on an idle client whose server went away; the failing call reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new DependencyUnreachableError(
      'postgres',
      url,
      `Postgres is not reachable at ${redact(url)} (${errorText(err)}): start it or pass --database-url`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function checkRedis(url: string, timeoutMs = 3_000): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the cause (ECONNREFUSED,
  // ENOTFOUND, an auth error) arrives as an 'error' event.
  let lastError: unknown;
  redis.on('error', (err: unknown) => (lastError = err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    const cause = lastError ?? err;
    throw new DependencyUnreachableError(
      'redis',
      url,
      `Redis is not reachable at ${redact(url)} (${errorText(cause)}): start it or pass --redis-url`,
      { cause },
    );
  } finally {
    redis.disconnect();
  }
}

/** Hides a password in a connection URL before it goes into a message. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
