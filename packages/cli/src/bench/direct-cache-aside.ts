import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { formatLongId } from '@keylane/protocol';
import { itemStatements, toItem, type ItemRow } from './items-sql.js';
import type { ItemTarget } from './phases.js';

export interface DirectCacheAside extends ItemTarget {
  close(): Promise<void>;
}

/**
 * Cache-aside as a user would write it in their own service, without Keylane: GET; on a
 * miss SELECT and SET with a TTL; a write UPSERTs and then DELs. Same table, same value
 * encoding and the same TTL as the engine's default, no fleet hop.
 */
export async function createDirectCacheAside(options: {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  /** pg pool size; the default matches one instance's lanes. */
  poolSize: number;
  ttlMs: number;
  /** Delays for checked runs, where the engine's chaos option puts them (see bentocache-target). */
  chaos?: { fillDelayMs: number; writeDelayMs: number };
}): Promise<DirectCacheAside> {
  const fillDelayMs = options.chaos?.fillDelayMs ?? 0;
  const writeDelayMs = options.chaos?.writeDelayMs ?? 0;
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
  const { select, upsert } = itemStatements(options.schema);
  const cacheKey = (key: bigint): string => `{${options.prefix}:${formatLongId(key)}}:v`;
  return {
    async read(key) {
      const k = cacheKey(key);
      const cached = await redis.get(k);
      if (cached !== null) return JSON.parse(cached) as unknown;
      const { rows } = await pool.query<ItemRow>(select, [formatLongId(key)]);
      const item = rows[0] ? toItem(rows[0]) : null;
      if (fillDelayMs > 0) await sleep(fillDelayMs);
      await redis.set(k, JSON.stringify(item), 'PX', options.ttlMs);
      return item;
    },
    async write(key, value) {
      if (writeDelayMs > 0) await sleep(writeDelayMs);
      const { rows } = await pool.query<ItemRow>(upsert, [
        formatLongId(key),
        JSON.stringify(value),
      ]);
      await redis.del(cacheKey(key));
      return rows[0] ? toItem(rows[0]) : null;
    },
    async close() {
      await pool.end();
      await redis.quit();
    },
  };
}
