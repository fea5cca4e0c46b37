import { Redis } from 'ioredis';
import pg from 'pg';
import { formatLongId } from '@keylane/protocol';
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
}): Promise<DirectCacheAside> {
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
  const table = `"${options.schema}".items`;
  const select = `SELECT id::text AS id, value, version::text AS version FROM ${table} WHERE id = $1`;
  const upsert = `INSERT INTO ${table} AS t (id, value, version, updated_at) VALUES ($1::bigint, $2::jsonb, 1, now())
                  ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
                  RETURNING id::text AS id, value, version::text AS version`;
  const cacheKey = (key: bigint): string => `{${options.prefix}:${formatLongId(key)}}:v`;
  const toItem = (row: { id: string; value: unknown; version: string }) => ({
    id: row.id,
    value: row.value,
    version: Number(row.version),
  });
  return {
    async read(key) {
      const k = cacheKey(key);
      const cached = await redis.get(k);
      if (cached !== null) return JSON.parse(cached) as unknown;
      const { rows } = await pool.query<{ id: string; value: unknown; version: string }>(select, [
        formatLongId(key),
      ]);
      const item = rows[0] ? toItem(rows[0]) : null;
      await redis.set(k, JSON.stringify(item), 'PX', options.ttlMs);
      return item;
    },
    async write(key, value) {
      const { rows } = await pool.query<{ id: string; value: unknown; version: string }>(upsert, [
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
