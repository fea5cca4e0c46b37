import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';
import { DEFAULT_CLIENT_OPTIONS } from '@keylane/sdk';
import { formatLongId, itemPath } from '@keylane/protocol';
import { startChildServer } from './child.js';
import { runClosedLoop, type LoadResult } from './load.js';
import { scrapeFleet } from './metrics.js';

export const CEILING_NAMES = [
  'redis-get',
  'http-hop',
  'http-hop-fleet',
  'hop-redis-fleet',
  'pg-select',
  'pg-update',
] as const;
export type CeilingName = (typeof CEILING_NAMES)[number];

export interface CeilingContext {
  redisUrl: string;
  databaseUrl: string;
  schema: string;
  /** Redis key prefix of this bench (keys are cleaned up by the caller). */
  prefix: string;
  /** Keys present in the table; SELECTs cycle through them. */
  keys: readonly bigint[];
  concurrency: number;
  durationMs: number;
  /** Unmeasured load first: a cold JIT and fresh connections are not the ceiling. */
  warmupMs: number;
  onTick?: (share: number) => void;
}

/** A ceiling's closed loop, and for the hop ceilings the CPU its server processes used. */
export interface CeilingResult extends LoadResult {
  /**
   * CPU seconds (user + system) of the hop's server processes over the measured window,
   * summed over them, from their `process_cpu_seconds_total`. Absent for the other ceilings.
   */
  serverCpuSeconds?: number;
}

/** A warm-up closed loop, then the measured one, over the same operations. */
async function warmThenMeasure<Op>(
  ctx: CeilingContext,
  source: () => () => Op,
  execute: (op: Op) => Promise<unknown>,
  minWarmupMs = 0,
  beforeWindow?: () => Promise<void>,
): Promise<LoadResult> {
  const warmupMs = Math.max(ctx.warmupMs, minWarmupMs);
  if (warmupMs > 0)
    await runClosedLoop({ concurrency: ctx.concurrency, durationMs: warmupMs, source, execute });
  await beforeWindow?.();
  return runClosedLoop({
    concurrency: ctx.concurrency,
    durationMs: ctx.durationMs,
    source,
    execute,
    ...(ctx.onTick ? { onTick: ctx.onTick } : {}),
  });
}

/**
 * The hop servers are fresh processes: their first second or so runs cold code (measured at
 * a third of the warm rate here), while the fleet's instances are warmed by the cache fill.
 */
const HOP_MIN_WARMUP_MS = 1_500;

const HOP_SERVER = fileURLToPath(new URL('./hop-server.js', import.meta.url));

/** Raw GET round trips of one cached item over one ioredis connection (as the engine uses). */
export async function measureRedisGet(ctx: CeilingContext): Promise<LoadResult> {
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const key = `{${ctx.prefix}:ceiling}:v`;
  try {
    await redis.set(
      key,
      JSON.stringify({ id: '1', value: { name: 'bench' }, version: 1 }),
      'PX',
      600_000,
    );
    return await warmThenMeasure(
      ctx,
      () => () => key,
      (k) => redis.get(k),
    );
  } finally {
    await redis.del(key);
    await redis.quit();
  }
}

/**
 * One HTTP round trip to a Fastify handler that does no work, each server process behind an
 * undici Pool sized like one SDK instance pool, requests spread over them, the body read and
 * parsed as the SDK does. With one server this is the ceiling proper; with as many as a fleet
 * has instances it is the same process topology as the fleet, which on a small machine costs
 * a lot by itself (more processes to wake per request), so both are measured.
 *
 * With `redisGet`, each server does one Redis GET per request and answers the bytes it got:
 * the bare hop + Redis GET that the read-hit path through the fleet is held against, in the
 * same topology. The keys are the first 1024 of `ctx.keys`, set before and deleted after.
 */
export async function measureHttpHop(
  ctx: CeilingContext,
  servers: number,
  redisGet = false,
): Promise<CeilingResult> {
  const keys = ctx.keys.slice(0, 1024);
  const keyPrefix = `{${ctx.prefix}:hop}:`;
  const redis = redisGet
    ? new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    : null;
  if (redis) {
    await redis.connect();
    const pipeline = redis.pipeline();
    for (const key of keys) {
      const id = formatLongId(key);
      pipeline.set(
        `${keyPrefix}${id}`,
        JSON.stringify({ id, value: { name: 'bench' }, version: 1 }),
        'PX',
        600_000,
      );
    }
    await pipeline.exec();
  }
  const args = redisGet ? [ctx.redisUrl, keyPrefix] : [];
  const started = await Promise.allSettled(
    Array.from({ length: servers }, () => startChildServer(HOP_SERVER, args)),
  );
  const children = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const pools = children.map(
    (c) => new Pool(c.url, { connections: DEFAULT_CLIENT_OPTIONS.connectionsPerInstance }),
  );
  const paths = keys.map((key) => itemPath(key));
  try {
    if (failed) throw failed.reason;
    const serverCpu = async (): Promise<number> =>
      (await scrapeFleet(children.map((c) => c.url))).cpuSeconds;
    let i = 0;
    const source = () => () => i++;
    const execute = async (n: number): Promise<unknown> => {
      const res = await pools[n % pools.length]!.request({
        method: 'GET',
        path: paths[n % paths.length]!,
        headers: { accept: 'application/json' },
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`hop answered ${res.statusCode}`);
      return JSON.parse(text) as unknown;
    };
    // The servers' CPU is read just before and just after the measured window.
    let cpuBefore = 0;
    const result = await warmThenMeasure(ctx, source, execute, HOP_MIN_WARMUP_MS, async () => {
      cpuBefore = await serverCpu();
    });
    return { ...result, serverCpuSeconds: (await serverCpu()) - cpuBefore };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(children.map((c) => c.stop()));
    if (redis) {
      await redis.del(...keys.map((key) => `${keyPrefix}${formatLongId(key)}`));
      await redis.quit();
    }
  }
}

/** A primary-key SELECT of the items table through a pg Pool as large as an instance's lanes. */
export async function measurePgSelect(ctx: CeilingContext, poolSize: number): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: poolSize });
  const sql = `SELECT id::text AS id, value, version::text AS version FROM "${ctx.schema}".items WHERE id = $1`;
  const ids = ctx.keys.map((key) => formatLongId(key));
  try {
    let i = 0;
    return await warmThenMeasure(
      ctx,
      () => () => ids[i++ % ids.length]!,
      async (id) => {
        const { rows } = await pool.query(sql, [id]);
        if (rows.length !== 1) throw new Error(`no row for id ${id}`);
      },
    );
  } finally {
    await pool.end();
  }
}

/**
 * A single-row autocommit UPSERT (the shape of every engine write) through a pg Pool as large
 * as an instance's lanes: the commit (WAL flush) cost that bounds how fast one key's writes,
 * which a lane runs one at a time, can go.
 */
export async function measurePgUpdate(ctx: CeilingContext, poolSize: number): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: poolSize });
  const sql = `INSERT INTO "${ctx.schema}".items AS t (id, value, version, updated_at) VALUES ($1::bigint, $2::jsonb, 1, now())
               ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()`;
  const ids = ctx.keys.map((key) => formatLongId(key));
  try {
    let i = 0;
    return await warmThenMeasure(
      ctx,
      () => () => i++,
      async (n) => {
        await pool.query(sql, [ids[n % ids.length]!, JSON.stringify(`ceiling:${n}`)]);
      },
    );
  } finally {
    await pool.end();
  }
}
