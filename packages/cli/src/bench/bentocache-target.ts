import { setTimeout as sleep } from 'node:timers/promises';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { formatLongId } from '@keylane/protocol';
import { itemStatements, toItem, type ItemRow } from './items-sql.js';
import type { ItemTarget } from './phases.js';

/**
 * The two bentocache setups its documentation recommends: Redis alone (`l2`), and for several
 * instances an in-memory L1 in front of Redis with a Redis bus keeping the L1s in step
 * (`l1-l2-bus`).
 */
export const BENTOCACHE_SETUPS = ['l2', 'l1-l2-bus'] as const;
export type BentocacheSetup = (typeof BENTOCACHE_SETUPS)[number];

export interface BentocacheTarget extends ItemTarget {
  close(): Promise<void>;
}

export interface BentocacheTargetOptions {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  setup: BentocacheSetup;
  /** pg pool size: the same as the direct cache-aside's. */
  poolSize: number;
  ttlMs: number;
  /**
   * Delays that widen the same race windows the engine's chaos option widens: after the
   * factory's DB read (before bentocache stores what it read), and before a write's UPSERT.
   * Only for checked runs.
   */
  chaos?: { fillDelayMs: number; writeDelayMs: number };
}

/**
 * bentocache as a user would wire it to this table: `getOrSet` with a factory that SELECTs the
 * row (bentocache's stampede protection coalesces concurrent misses), and a write that UPSERTs
 * and then deletes the key (through the bus, with L1). A peer for the bench, not part of Keylane.
 */
export async function createBentocacheTarget(
  options: BentocacheTargetOptions,
): Promise<BentocacheTarget> {
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const bus =
    options.setup === 'l1-l2-bus' ? new Redis(options.redisUrl, { lazyConnect: true }) : undefined;
  await bus?.connect();
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
  const store = bentostore({ prefix: options.prefix }).useL2Layer(
    redisDriver({ connection: redis }),
  );
  if (bus) {
    store
      .useL1Layer(memoryDriver({ maxItems: 100_000 }))
      .useBus(redisBusDriver({ connection: bus }));
  }
  const bento = new BentoCache({ default: 'items', stores: { items: store } });
  const { select, upsert } = itemStatements(options.schema);
  const fillDelayMs = options.chaos?.fillDelayMs ?? 0;
  const writeDelayMs = options.chaos?.writeDelayMs ?? 0;
  return {
    read: (key) => {
      const id = formatLongId(key);
      return bento.getOrSet({
        key: id,
        ttl: options.ttlMs,
        factory: async () => {
          const { rows } = await pool.query<ItemRow>(select, [id]);
          if (fillDelayMs > 0) await sleep(fillDelayMs);
          return rows[0] ? toItem(rows[0]) : null;
        },
      });
    },
    async write(key, value) {
      const id = formatLongId(key);
      // Where the engine's chaos puts it: before the DB write.
      if (writeDelayMs > 0) await sleep(writeDelayMs);
      const { rows } = await pool.query<ItemRow>(upsert, [id, JSON.stringify(value)]);
      await bento.delete({ key: id });
      return rows[0] ? toItem(rows[0]) : null;
    },
    async close() {
      await bento.disconnectAll();
      await pool.end();
      // bentocache closes the connections it was given itself; whatever it left open, this does.
      for (const c of [redis, bus]) {
        if (c && c.status !== 'end') await c.quit().catch(() => undefined);
      }
    },
  };
}
