import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OverloadedError } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import { TransactionAbortedError, WriteOutcomeUnknownError, type Queryable } from '../src/index.js';
import { engineFor, rejection, waitFor, type ItemsEngine, type Overrides } from './helpers.js';

describe('lanes', () => {
  let ctx: TestContext;
  const open: ItemsEngine[] = [];
  const engine = async (overrides: Overrides) => {
    const e = await engineFor(ctx, overrides);
    open.push(e);
    return e;
  };

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_lanes' });
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  it('picks lane routingKey(id) % lanes, negative ids included', async () => {
    const e = await engine({ lanes: 4, strategy: 'serial' });
    expect(e.laneOf(5n)).toBe(1);
    expect(e.laneOf(8n)).toBe(0);
    // -1 is 2^64-1 as a routing key: 3 mod 4.
    expect(e.laneOf(-1n)).toBe(3);
    expect(e.laneOf('9223372036854775807')).toBe(3);
    expect(e.laneClient(5n)).toBe(e.laneClient(9n));
  });

  it("completes one key's writes in submission order", async () => {
    const e = await engine({ strategy: 'serial-guarded' });
    const done: number[] = [];
    const writes = Array.from({ length: 40 }, (_, i) =>
      e.write(7n, { i }).then((item) => {
        done.push(i);
        return item.version;
      }),
    );
    const versions = await Promise.all(writes);
    expect(done).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Each write got the next version: the DB applied them in the same order.
    expect(versions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await e.read(7n))?.value).toEqual({ i: 39 });
  });

  it('runs keys on different lanes in parallel, keys on one lane one after another', async () => {
    // Each write holds its lane ~60 ms (test-only chaos), so the timing is the lanes', not the DB's.
    const e = await engine({ lanes: 2, strategy: 'serial', chaos: { writeDelayMs: 60 } });
    const timed = async (ids: bigint[]): Promise<number> => {
      const start = performance.now();
      await Promise.all(ids.flatMap((id) => Array.from({ length: 4 }, (_, i) => e.write(id, i))));
      return performance.now() - start;
    };
    expect(e.laneOf(100n)).not.toBe(e.laneOf(101n));
    expect(e.laneOf(100n)).toBe(e.laneOf(102n));
    const otherLanes = await timed([100n, 101n]);
    const sameLane = await timed([100n, 102n]);
    // Ideal ratio is 2; anything clearly above 1 shows the parallelism.
    expect(sameLane / otherLanes).toBeGreaterThan(1.4);
  });

  it('rejects with OverloadedError when a lane queue is full, and counts it', async () => {
    const e = await engine({ lanes: 1, strategy: 'serial', maxQueuePerLane: 2, chaos: { writeDelayMs: 30 } });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => e.write(200n, i)));
    const rejected = results.filter((r) => r.status === 'rejected');
    // One running plus two queued are accepted; the rest are refused at once.
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(rejected).toHaveLength(3);
    for (const r of rejected) {
      expect((r).reason).toBeInstanceOf(OverloadedError);
      expect((r).reason).toMatchObject({ code: 'overloaded' });
    }
    expect(e.stats().overloaded).toBe(3);
  });

  it('gets a new connection when its connection breaks and keeps serving the queue', async () => {
    const e = await engine({ lanes: 1, strategy: 'serial-guarded' });
    await e.write(300n, 'before');
    const client = e.laneClient(300n);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await waitFor(() => !e.stats().lanes[0]!.connected);
    expect((await e.write(300n, 'after')).value).toBe('after');
    expect(e.laneClient(300n)).not.toBe(client);
    expect(e.stats().lanes[0]!.connected).toBe(true);
    expect(e.stats().dbErrors).toBeGreaterThan(0);
  });

  it('fails a job caught by the break with unavailable, then recovers on the next job', async () => {
    const e = await engineFor(ctx, { lanes: 1, strategy: 'serial' });
    open.push(e);
    const client = e.laneClient(1n);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const slow = rejection(client.query('SELECT pg_sleep(5)'));
    // The write queues behind the sleeping statement on the same connection, then the
    // connection dies under both.
    const caught = e.write(1n, 'lost');
    // These wait in the lane's queue, not on the socket: the break must not lose them.
    const queued = [2, 3, 4, 5].map((n) => e.write(1n, n));
    await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    expect(await slow).toBeInstanceOf(Error);
    const err = await rejection(caught);
    const versions = (await Promise.all(queued)).map((item) => item.value);
    expect(versions).toEqual([2, 3, 4, 5]);
    expect(err.code).toBe('unavailable');
    // The break caught its BEGIN: no COMMIT was ever sent, so nothing can have committed.
    expect(err.message).toMatch(/nothing was committed/);
    expect(err).not.toBeInstanceOf(WriteOutcomeUnknownError);
    expect((await e.inspect(1n)).stored?.value).toBe(5);
    expect(await e.write(1n, 'ok')).toMatchObject({ value: 'ok' });
  });

  it.each([
    { statementTimeoutMs: 300, bounded: true },
    { statementTimeoutMs: 0, bounded: false },
  ])(
    'statementTimeoutMs $statementTimeoutMs: a write stuck behind a row lock holds its lane $bounded',
    async ({ statementTimeoutMs, bounded }) => {
      const e = await engineFor(ctx, { lanes: 1, postgres: { statementTimeoutMs } }, `_st${statementTimeoutMs}`);
      open.push(e);
      const [stuckId, otherId] = bounded ? [300n, 301n] : [310n, 311n];
      await e.write(stuckId, 'before');
      const locker = await ctx.pg.connect();
      let stuck: Promise<{ item: unknown; err: Error | undefined }> = Promise.resolve({ item: undefined, err: undefined });
      try {
        await locker.query('BEGIN');
        await locker.query(`SELECT 1 FROM "${ctx.schema}".items WHERE id = $1 FOR UPDATE`, [String(stuckId)]);
        stuck = e.write(stuckId, 'blocked').then(
          (item) => ({ item, err: undefined }),
          (err: Error) => ({ item: undefined, err }),
        );
        // Another key in the same (only) lane queues behind the stuck write.
        let otherDone = false;
        const other = e.write(otherId, 'other').then((item) => {
          otherDone = true;
          return item;
        });
        if (bounded) {
          const { err } = await stuck;
          expect(err).toMatchObject({ code: 'unavailable' });
          expect(err?.message).toMatch(/nothing was committed/);
          expect(err).not.toBeInstanceOf(WriteOutcomeUnknownError);
          expect((await other).value).toBe('other');
        } else {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          expect(otherDone).toBe(false);
        }
      } finally {
        await locker.query('ROLLBACK');
        locker.release();
      }
      expect((await stuck).err === undefined).toBe(!bounded);
      expect((await e.read(otherId))?.value).toBe('other');
      // The stuck write either failed (bounded) or went through once the lock was released.
      expect((await e.inspect(stuckId)).stored?.value).toBe(bounded ? 'before' : 'blocked');
    },
  );

  describe('runInLane: your own statements in the key\'s order, without the raw connection', () => {
    const valueOf = async (db: Queryable, id: bigint): Promise<unknown> => {
      const { rows } = await db.query<{ value: unknown }>(`SELECT value FROM "${ctx.schema}".items WHERE id = $1`, [id]);
      return rows[0]?.value ?? null;
    };

    it("runs after the key's queued write and before the next; the same statement sent beside the lane reads before the first committed", async () => {
      // Each write holds its lane ~80 ms (test-only chaos) before its transaction.
      const e = await engine({ lanes: 1, strategy: 'serial-guarded', chaos: { writeDelayMs: 80 } });
      const first = e.write(410n, 'first');
      const inLane = e.engine.runInLane(410n, (db) => valueOf(db, 410n));
      const second = e.write(410n, 'second');
      // The contrast: the same statement on a connection of its own, sent at the same moment.
      const beside = valueOf(ctx.pg, 410n);
      expect(await inLane).toBe('first');
      expect(await beside).toBeNull();
      await Promise.all([first, second]);
      expect(await e.engine.runInLane(410n, (db) => valueOf(db, 410n))).toBe('second');
    });

    it('hands out a handle that refuses queries once the work has settled', async () => {
      const e = await engine({ lanes: 1, strategy: 'serial-guarded' });
      let kept: Queryable | undefined;
      await e.engine.runInLane(411n, async (db) => {
        kept = db;
        await db.query('SELECT 1');
      });
      await expect(kept!.query('SELECT 1')).rejects.toThrow(/has ended/);
    });

    it('rolls back a transaction the work left open or failed, so the next job runs outside it', async () => {
      const e = await engine({ lanes: 1, strategy: 'serial-guarded' });
      const insert = `INSERT INTO "${ctx.schema}".items VALUES ($1, '"stray"', 1, now())`;
      await expect(
        e.engine.runInLane(412n, async (db) => {
          await db.query('BEGIN');
          await db.query(insert, [412n]);
        }),
      ).rejects.toBeInstanceOf(TransactionAbortedError);
      const failed = e.engine.runInLane(412n, async (db) => {
        await db.query('BEGIN');
        await db.query(insert, [413n]);
        await db.query('SELECT 1/0');
      });
      await expect(failed).rejects.toMatchObject({ code: '22012' });
      // Neither insert committed, and the lane's next job (a guarded write) commits on its own.
      expect((await ctx.pg.query(`SELECT id FROM "${ctx.schema}".items WHERE id IN (412, 413)`)).rows).toEqual([]);
      expect((await e.write(412n, 'after')).value).toBe('after');
      expect(await valueOf(ctx.pg, 412n)).toBe('after');
    });

    it('is admitted like entity calls: a past deadline is refused before it runs', async () => {
      const e = await engine({ lanes: 1, strategy: 'serial-guarded' });
      let ran = false;
      await expect(
        e.engine.runInLane(414n, () => Promise.resolve(void (ran = true)), { deadline: Date.now() - 1 }),
      ).rejects.toMatchObject({ code: 'overloaded' });
      expect(ran).toBe(false);
    });
  });
});
