import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createEngine } from '../src/baselines.js';
import { WriteExpiredError, type Engine, type Entity } from '../src/index.js';
import { engineFor, optionsFor, rejection, sleep, type ItemsEngine } from './helpers.js';
import { createUserTables, insertUser, loadUser, usersEntity, type User } from './support/users.js';
import { inspect } from '../src/testing.js';

/**
 * The commit-time fence (src/db/fence.ts) and `invalidate`, each beside the unsafe variant it
 * replaces, in the same harness.
 */
describe('the commit fence', () => {
  let ctx: TestContext;
  const open: Engine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_fence' });
    await createUserTables(ctx.pg, ctx.schema);
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  /**
   * A writer whose transaction has run its statements and then pauses before COMMIT (a GC
   * pause, SIGSTOP) past its marker; a reader on another engine fills meanwhile; the writer's
   * Redis link dies before its write end, so nothing cleans up after it.
   */
  async function pausedBeforeCommit(id: bigint, clientSideFence: boolean) {
    await insertUser(ctx.pg, ctx.schema, id, 'old');
    const writerRedis = new Redis(ctx.redisUrl, { enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
    writerRedis.on('error', () => undefined);
    await writerRedis.connect();
    const writer = await createEngine({
      ...optionsFor(ctx, { markerTtlMs: 300, chaos: { commitDelayMs: 700, clientSideFence } }),
      redis: { client: writerRedis, keyPrefix: `${ctx.prefix}_fence` },
    });
    const reader = await createEngine(optionsFor(ctx, {}, '_fence'));
    open.push(writer, reader);
    const [writerUsers, readerUsers] = [writer, reader].map((e) => e.entity(usersEntity(ctx.schema))) as [Entity<User>, Entity<User>];
    const write = writerUsers
      .mutate(id, async (tx, key) => {
        await tx.query(`UPDATE "${ctx.schema}".users SET name = 'new' WHERE id = $1`, [key]);
        await tx.query(`INSERT INTO "${ctx.schema}".user_emails (user_id, email) VALUES ($1, 'new@example.com')`, [key]);
      })
      .then(
        () => undefined,
        (err: Error) => err,
      );
    // The marker has expired: the reader is granted a lease, reads the old row and fills it.
    await sleep(450);
    const read = await readerUsers.get(id);
    expect(read?.name).toBe('old');
    expect(readerUsers.stats().fills).toBe(1);
    writerRedis.disconnect();
    const err = await write;
    const { cached } = await inspect(readerUsers, id);
    const stored = await loadUser(ctx.schema)(ctx.pg, id);
    return { err, cached, stored };
  }

  it('a transaction paused between its last statement and COMMIT past the deadline commits nothing', async () => {
    const { err, cached, stored } = await pausedBeforeCommit(1n, false);
    expect(err).toBeInstanceOf(WriteExpiredError);
    expect(err?.message).toMatch(/refused the COMMIT at the commit fence.*nothing was committed/);
    // Neither table changed, and the reader's fill is the DB's value.
    expect(stored?.name).toBe('old');
    expect(stored?.emails).toEqual([{ email: 'old@example.com', primary: true }]);
    expect(cached).toEqual(stored);
  });

  it('the unsafe variant, a client-side check before COMMIT, commits behind the fill and leaves the cache stale', async () => {
    const { err, cached, stored } = await pausedBeforeCommit(2n, true);
    // The check passed before the pause, so the COMMIT went through...
    expect(stored?.name).toBe('new');
    expect(stored?.emails).toHaveLength(2);
    // ...behind the reader's fill: the cache holds the old value, and stays so until its TTL.
    expect(cached?.name).toBe('old');
    // The write itself is reported done (its end failed, which a guarded write shrugs off).
    expect(err).toBeUndefined();
  });
});

describe('invalidate, for writes made outside Keylane', () => {
  let ctx: TestContext;
  const open: Engine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_invalidate' });
    await createUserTables(ctx.pg, ctx.schema);
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  /** A reader holds a fill lease; a plain pg client (not Keylane) commits a rename meanwhile. */
  async function outsideWrite(id: bigint, announce: boolean) {
    await insertUser(ctx.pg, ctx.schema, id, 'before');
    const reader = await createEngine(optionsFor(ctx, { chaos: { fillDelayMs: 300 } }, `_inv${id}`));
    open.push(reader);
    const users = reader.entity(usersEntity(ctx.schema));
    const read = users.get(id);
    await sleep(100); // the lease is granted and the old row read; the fill waits
    const plain = new pg.Client({ connectionString: ctx.databaseUrl });
    await plain.connect();
    await plain.query(`UPDATE "${ctx.schema}".users SET name = 'after' WHERE id = $1`, [id]);
    await plain.end();
    if (announce) await users.invalidate(id);
    expect((await read)?.name).toBe('before');
    return { users, next: await users.get(id), inspected: await inspect(users, id) };
  }

  it('after the outside commit, invalidate makes the pending fill refused and the next read fresh', async () => {
    const { users, next, inspected } = await outsideWrite(1n, true);
    expect(users.stats().fillsRejected).toBe(1);
    expect(users.stats().invalidations).toBe(1);
    expect(next?.name).toBe('after');
    expect(inspected.cached).toEqual(inspected.stored);
  });

  it('without invalidate, the old value is filled and stays (the contrast)', async () => {
    const { next, inspected } = await outsideWrite(2n, false);
    expect(next?.name).toBe('before');
    expect(inspected.cached?.name).toBe('before');
    expect(inspected.stored?.name).toBe('after');
  });
});

describe('a row lock held past the deadline', () => {
  let ctx: TestContext;
  let e: ItemsEngine;
  let users: Entity<User>;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_rowlock' });
    await createUserTables(ctx.pg, ctx.schema);
    // A short marker (500 ms, fence at 450) and a long statement_timeout: only the deadline can stop them.
    e = await engineFor(ctx, { lanes: 4, markerTtlMs: 500, postgres: { statementTimeoutMs: 30_000 } });
    users = e.engine.entity(usersEntity(ctx.schema));
  });
  afterAll(async () => {
    await e.close();
    await ctx.dispose();
  });

  /** Runs `work` while another session holds `sql`'s row lock for 1.5 s, far past the deadline. */
  async function whileLocked<T>(lockSql: string, work: () => Promise<T>): Promise<T> {
    const locker = await ctx.pg.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(lockSql);
      const result = work();
      await sleep(1_500);
      await locker.query('COMMIT');
      return await result;
    } finally {
      locker.release();
    }
  }
  const itemLock = (id: number) => `SELECT 1 FROM "${ctx.schema}".items WHERE id = ${id} FOR UPDATE`;
  const itemRow = async (id: number) =>
    (await ctx.pg.query<{ value: unknown; version: string }>(`SELECT value, version FROM "${ctx.schema}".items WHERE id = $1`, [id])).rows[0];

  it('a blind write, an ifVersion write, a delete and an entity mutate all commit nothing', async () => {
    for (const id of [1, 2, 3]) await e.write(id, 'before');
    await insertUser(ctx.pg, ctx.schema, 4n, 'before');
    const blind = await whileLocked(itemLock(1), () => rejection(e.write(1, 'blind')));
    const conditional = await whileLocked(itemLock(2), () => rejection(e.write(2, 'conditional', { ifVersion: 1 })));
    const deleted = await whileLocked(itemLock(3), () => rejection(e.delete(3)));
    const mutated = await whileLocked(`SELECT 1 FROM "${ctx.schema}".users WHERE id = 4 FOR UPDATE`, () =>
      rejection(users.mutate(4n, async (tx, id) => void (await tx.query(`UPDATE "${ctx.schema}".users SET name = 'mutated' WHERE id = $1`, [id])))),
    );
    for (const err of [blind, conditional, deleted, mutated]) {
      expect(err).toBeInstanceOf(WriteExpiredError);
      expect(err.message).toMatch(/nothing was committed/);
    }
    expect(await itemRow(1)).toEqual({ value: 'before', version: '1' });
    expect(await itemRow(2)).toEqual({ value: 'before', version: '1' });
    expect(await itemRow(3)).toEqual({ value: 'before', version: '1' });
    expect((await loadUser(ctx.schema)(ctx.pg, 4n))?.name).toBe('before');
  });

  /**
   * The unsafe variant: the statement-level deadline of the previous design, one autocommit
   * statement with `clock_timestamp() < deadline` in it, run with the same lock held. The
   * blind upsert re-checks its condition after the lock wait; the conditional UPDATE and the
   * DELETE (its clock read in a materialized CTE) do not, and commit after their deadline.
   */
  it('the statement-level deadline it replaces lets an ifVersion write and a delete commit after the deadline', async () => {
    for (const id of [11, 12, 13]) await e.write(id, 'before');
    const table = `"${ctx.schema}".items`;
    const live = `clock_timestamp() < to_timestamp($2::float8 / 1000.0)`;
    const deadline = () => Date.now() + 450;
    const blind = await whileLocked(itemLock(11), () =>
      ctx.pg.query(
        `INSERT INTO ${table} AS t (id, value, version, updated_at) SELECT $1::bigint, '"blind"', 1, now() WHERE ${live}
         ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now() WHERE ${live}
         RETURNING id`,
        [11, deadline()],
      ),
    );
    const conditional = await whileLocked(itemLock(12), () =>
      ctx.pg.query(
        `UPDATE ${table} SET value = '"conditional"', version = version + 1 WHERE id = $1::bigint AND version = 1 AND ${live} RETURNING id`,
        [12, deadline()],
      ),
    );
    const deleted = await whileLocked(itemLock(13), () =>
      ctx.pg.query(
        `WITH clock AS MATERIALIZED (SELECT ${live} AS live), gone AS (DELETE FROM ${table} WHERE id = $1::bigint AND (SELECT live FROM clock) RETURNING id)
         SELECT EXISTS (SELECT 1 FROM gone) AS deleted`,
        [13, deadline()],
      ),
    );
    expect(blind.rowCount).toBe(0);
    expect(await itemRow(11)).toEqual({ value: 'before', version: '1' });
    // These two committed a second after their deadline had passed.
    expect(conditional.rowCount).toBe(1);
    expect(await itemRow(12)).toEqual({ value: 'conditional', version: '2' });
    expect(deleted.rows[0]).toEqual({ deleted: true });
    expect(await itemRow(13)).toBeUndefined();
  });
});
