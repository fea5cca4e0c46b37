import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { countByKind, type CheckResult } from '@keylane/checker';
import { createTestContext, startPostgresPair, type PostgresPair, type TestContext } from '@keylane/harness';
import pg from 'pg';
import { guardKeys, hashTag } from '../src/cache/keys.js';
import { createEngine, type LabEngineOptions } from '../src/baselines.js';
import type { Engine, ReplicaReadStats } from '../src/index.js';
import { createItems, ensureItemsTable, type Items } from '../src/items/index.js';
import { laneClient } from '../src/testing.js';
import { sleep, waitFor } from './helpers.js';
import { runCheckedWorkload } from './support/checked-workload.js';

/**
 * Cache misses read a real streaming replica (pg_basebackup of a private primary, replaying
 * each commit APPLY_DELAY_MS late) only once it has replayed the key's watermark. The naive
 * split (misses read the replica, whatever it has replayed) runs in the same harness and
 * serves stale reads; the watermark serves none, also with the replica stopped and started
 * again mid-run.
 */
const APPLY_DELAY_MS = 300;

let pair: PostgresPair;
let ctx: TestContext;
const engines: Engine[] = [];

async function itemsOn(prefix: string, options: Partial<LabEngineOptions> = {}, replicas = true): Promise<{ engine: Engine; items: Items }> {
  const engine = await createEngine({
    postgres: { connectionString: pair.primary.url, ...(replicas ? { replicas: [{ connectionString: pair.replica.url }] } : {}) },
    redis: { url: ctx.redisUrl, keyPrefix: prefix },
    lanes: 2,
    ...options,
  });
  engines.push(engine);
  return { engine, items: createItems(engine, { schema: ctx.schema }) };
}

const replicaReads = (engine: Engine): ReplicaReadStats => engine.stats().replicaReads;

beforeAll(async () => {
  pair = await startPostgresPair({ applyDelayMs: APPLY_DELAY_MS });
  ctx = await createTestContext({ name: 'engine_replica', databaseUrl: pair.primary.url });
  // The pair's servers shut down at the end while the pool's clients may still be closing.
  ctx.pg.on('error', () => undefined);
  await ensureItemsTable(ctx.pg, ctx.schema);
  // The standby has the table once it replays the DDL, APPLY_DELAY_MS later.
  const standby = new pg.Client({ connectionString: pair.replica.url });
  await standby.connect();
  try {
    await waitFor(async () => (await standby.query('SELECT to_regclass($1) AS t', [`${ctx.schema}.items`])).rows[0]?.t !== null);
  } finally {
    await standby.end();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await ctx?.dispose();
  await pair?.dispose();
});

describe('replica reads with per-key watermarks', () => {
  it('reads the primary until the replica has replayed the key\'s last commit, then the replica', async () => {
    const prefix = `${ctx.prefix}_rule`;
    const { engine, items } = await itemsOn(prefix);
    const evict = (id: number): Promise<number> => ctx.redis.del(guardKeys(hashTag(prefix, 'items', String(id))).value);
    await items.write(1, 'v1');
    await evict(1);
    // The replica applies the commit APPLY_DELAY_MS late: the miss right after must not read it.
    expect((await items.read(1))?.value).toBe('v1');
    expect(replicaReads(engine)).toMatchObject({ lagging: 1, served: 0 });
    await sleep(APPLY_DELAY_MS + 200);
    await evict(1);
    expect((await items.read(1))?.value).toBe('v1');
    expect(replicaReads(engine)).toMatchObject({ lagging: 1, served: 1 });
    // A key never written here has no watermark: the floor (the primary's LSN when the engine
    // started, here) bounds it, and the replica is past that by now.
    expect(await items.read(99)).toBeNull();
    expect(replicaReads(engine)).toMatchObject({ served: 2 });
  });

  it('sends a key invalidated from outside (commit LSN unknown) to the primary once, which settles its watermark', async () => {
    const prefix = `${ctx.prefix}_settle`;
    const { engine, items } = await itemsOn(prefix);
    await items.write(2, 'before');
    await sleep(APPLY_DELAY_MS + 200);
    // A writer outside Keylane commits, then invalidates: its LSN is nobody's to record.
    await ctx.pg.query(`UPDATE ${ctx.schema}.items SET value = $2, version = version + 1 WHERE id = $1`, [2, JSON.stringify('outside')]);
    await items.entity.invalidate(2);
    expect((await items.read(2))?.value).toBe('outside');
    expect(replicaReads(engine)).toMatchObject({ unsettled: 1, served: 0 });
    const watermark = await ctx.redis.hgetall(guardKeys(hashTag(prefix, 'items', '2')).watermark);
    expect(watermark['b']).toBe(watermark['e']);
    // The settled watermark is the primary's LSN after the invalidate: the replica needs it.
    await ctx.redis.del(guardKeys(hashTag(prefix, 'items', '2')).value);
    expect((await items.read(2))?.value).toBe('outside');
    expect(replicaReads(engine).lagging + replicaReads(engine).served).toBe(1);
  });

  it('a write whose outcome is unknown keeps the key on the primary until a miss after its marker settles it', async () => {
    const prefix = `${ctx.prefix}_unknown`;
    const { engine, items } = await itemsOn(prefix, { lanes: 1, markerTtlMs: 500 });
    const k = guardKeys(hashTag(prefix, 'items', '3'));
    await items.write(3, 'v1');
    // A deferred trigger that sleeps holds this one COMMIT open long enough to cut it in flight.
    await ctx.pg.query(`
      CREATE FUNCTION ${ctx.schema}.slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.value = '"maybe"' THEN PERFORM pg_sleep(5); END IF; RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON ${ctx.schema}.items
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${ctx.schema}.slow_commit()`);
    try {
      const client = laneClient(engine, 3);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const write = items.write(3, 'maybe').then(
        () => 'committed',
        (err: unknown) => (err as Error).message,
      );
      await waitFor(async () => {
        const { rows: active } = await ctx.pg.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2', [rows[0]!.pid, '%COMMIT%']);
        return active.length > 0;
      });
      await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      expect(await write).toMatch(/may or may not have committed/);
      const begun = await ctx.redis.hgetall(k.watermark);
      expect(Number(begun['b'])).toBe(Number(begun['e']) + 1);
      // Past the marker (and the apply delay), the key is still in doubt: the primary answers
      // and the fill settles the watermark at the primary's LSN after the lease.
      await sleep(Math.max(500, APPLY_DELAY_MS) + 200);
      expect((await items.read(3))?.value).toBe('v1');
      expect(replicaReads(engine)).toMatchObject({ unsettled: 1, served: 0 });
      const settled = await ctx.redis.hgetall(k.watermark);
      expect(settled['b']).toBe(settled['e']);
    } finally {
      await ctx.pg.query(`DROP TRIGGER slow_commit ON ${ctx.schema}.items; DROP FUNCTION ${ctx.schema}.slow_commit()`);
    }
  });
});

interface RunResult {
  ops: number;
  check: CheckResult;
  diverged: number;
  replica: ReplicaReadStats;
}

/**
 * Two engines on one key prefix, 8 callers alternating between them, reads and writes (1 in
 * 10) on 64 keys (so most keys go unwritten for longer than the replica lags, and it can serve
 * them), a 40 ms cache TTL so reads keep missing, the fill delayed; every operation recorded
 * and checked, then each key's cache entry against its row at rest.
 */
async function checkedRun(name: string, mode: 'watermark' | 'naive', ms: number, during?: () => Promise<void>): Promise<RunResult> {
  const prefix = `${ctx.prefix}_${name}`;
  const options: Partial<LabEngineOptions> = { cacheTtlMs: 40, chaos: { fillDelayMs: 10, writeDelayMs: 5, replicaReads: mode } };
  const sides = [await itemsOn(prefix, options), await itemsOn(prefix, options)];
  const base = 100_000 + Math.floor(Math.random() * 1_000_000) * 10;
  const ids = Array.from({ length: 64 }, (_, i) => base + i);
  const [run] = await Promise.all([
    runCheckedWorkload({ sides: sides.map((s) => s.items), ids, callers: 8, ms, writeShare: 0.1, pauseMs: 2, failedPauseMs: 2 }),
    during?.(),
  ]);
  const replica = sides.map((s) => replicaReads(s.engine));
  const total = Object.fromEntries(Object.keys(replica[0]!).map((k) => [k, replica.reduce((n, r) => n + r[k as keyof ReplicaReadStats], 0)]));
  const result = { ops: run.ops, check: run.check, diverged: run.diverged, replica: total as unknown as ReplicaReadStats };
  if (process.env['KEYLANE_VERBOSE']) {
    console.log(`${name}: ${JSON.stringify({ ...result, check: countByKind(result.check.violations) })}`);
  }
  return result;
}

describe('a checked workload on the replica', () => {
  it('the naive split (misses read the replica) serves stale reads; the watermark none, and the replica serves some', async () => {
    const naive = await checkedRun('naive', 'naive', 4_000);
    const guarded = await checkedRun('watermark', 'watermark', 4_000);
    expect(naive.check.violations.length).toBeGreaterThan(0);
    expect(guarded.check.ok).toBe(true);
    expect(guarded.diverged).toBe(0);
    expect(guarded.replica.served).toBeGreaterThan(0);
    expect(guarded.replica.lagging).toBeGreaterThan(0);
  }, 60_000);

  it('with the replica stopped and started again mid-run: 0 stale reads, misses fall back to the primary and return', async () => {
    const result = await checkedRun('restart', 'watermark', 6_000, async () => {
      await sleep(1_500);
      await pair.replica.stop();
      await sleep(1_500);
      await pair.replica.start();
    });
    expect(result.check.ok).toBe(true);
    expect(result.diverged).toBe(0);
    expect(result.replica.unavailable).toBeGreaterThan(0);
    expect(result.replica.served).toBeGreaterThan(0);
  }, 60_000);
});

describe('a promoted replica', () => {
  // Last: promotion ends the pair's replication for good.
  it('is no longer read once it left recovery: it may be ahead of or apart from the primary', async () => {
    const prefix = `${ctx.prefix}_promoted`;
    const { engine, items } = await itemsOn(prefix);
    await items.write(5, 'v1');
    await sleep(APPLY_DELAY_MS + 200);
    const standby = new pg.Client({ connectionString: pair.replica.url });
    await standby.connect();
    try {
      await standby.query('SELECT pg_promote(true, 10)');
    } finally {
      await standby.end();
    }
    await ctx.redis.del(guardKeys(hashTag(prefix, 'items', '5')).value);
    expect((await items.read(5))?.value).toBe('v1');
    expect(replicaReads(engine)).toMatchObject({ notStandby: 1, served: 0 });
  });
});
