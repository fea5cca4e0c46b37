import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import pg from 'pg';
import { Cache, newToken } from '../src/cache/cache.js';
import { hashTag } from '../src/cache/keys.js';
import { LeaseCode } from '../src/cache/scripts.js';
import { FENCE_SETUP, fencedCommit } from '../src/db/fence.js';
import { engineFor, itemMarkersKey, rejection, sleep, type ItemsEngine } from './helpers.js';

/** A started Cache on the suite's Redis; closed by the suite. */
async function openCache(ctx: TestContext, opened: Cache[], markerTtlMs: number, leaseTtlMs = 5_000): Promise<Cache> {
  const c = new Cache({
    redis: { kind: 'url', url: ctx.redisUrl, commandTimeoutMs: 2_000, markerReplication: { replicas: 0, timeoutMs: 100 } },
    leaseTtlMs,
    markerTtlMs,
    onError: () => undefined,
  });
  await c.start();
  opened.push(c);
  return c;
}

const TTL = 60_000;
/** A cached value's text, as an entity's codec would write it. */
const text = (version: number): string => JSON.stringify({ version });

/**
 * The guard's Lua scripts against real Redis, then the deadline at commit, through whole
 * engines.
 */
describe('guard scripts', () => {
  let ctx: TestContext;
  const caches: Cache[] = [];
  const cache = (markerTtlMs = 10_000, leaseTtlMs = 5_000): Promise<Cache> =>
    openCache(ctx, caches, markerTtlMs, leaseTtlMs);
  const tag = (id: bigint): string => hashTag(`${ctx.prefix}_guard`, 't', String(id));

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_guard' });
  });
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
    await ctx.dispose();
  });

  it('fills under an undisturbed lease, once', async () => {
    const c = await cache();
    const lease = await c.lease(tag(1n));
    expect(lease.code).toBe(LeaseCode.Granted);
    expect((await c.lease(tag(1n))).code).toBe(LeaseCode.Busy);
    expect(await c.fill(tag(1n), 'not-the-token', text(1), TTL)).toBe(false);
    expect(await c.fill(tag(1n), lease.token, text(1), TTL)).toBe(true);
    expect(await c.get(tag(1n))).toBe(text(1));
    // The fill consumed the lease.
    expect(await c.fill(tag(1n), lease.token, text(2), TTL)).toBe(false);
  });

  it('rejects a fill after a write began (and after it ended)', async () => {
    const c = await cache();
    const lease = await c.lease(tag(2n));
    const writer = newToken();
    await c.beginWrite(tag(2n), writer);
    expect(await c.fill(tag(2n), lease.token, text(1), TTL)).toBe(false);
    await c.endWrite(tag(2n), writer, true, undefined, TTL);
    expect(await c.fill(tag(2n), lease.token, text(1), TTL)).toBe(false);
    expect(await c.get(tag(2n))).toBeNull();
  });

  it('rejects a fill after an invalidate, and keeps a solo writer that began before it from filling', async () => {
    const c = await cache();
    const lease = await c.lease(tag(7n));
    await c.invalidate(tag(7n));
    expect(await c.fill(tag(7n), lease.token, text(1), TTL)).toBe(false);
    const writer = newToken();
    await c.beginWrite(tag(7n), writer);
    // An outside change commits after this writer's and is announced before its end.
    await c.invalidate(tag(7n));
    expect(await c.endWrite(tag(7n), writer, true, text(2), TTL)).toBe(false);
    expect(await c.get(tag(7n))).toBeNull();
  });

  it('grants no lease while a marker is up, and grants one after it is removed', async () => {
    const c = await cache();
    const writer = newToken();
    await c.beginWrite(tag(3n), writer);
    expect((await c.lease(tag(3n))).code).toBe(LeaseCode.WriteInProgress);
    await c.endWrite(tag(3n), writer, true, undefined, TTL);
    expect((await c.lease(tag(3n))).code).toBe(LeaseCode.Granted);
  });

  it('lets a marker expire on its own, with the key TTL following the latest writer', async () => {
    const c = await cache(300);
    const writer = newToken();
    const redisNow = await c.beginWrite(tag(4n), writer);
    // Redis' clock and ours agree to within a few ms here; the deadline is Redis'.
    expect(Math.abs(redisNow - Date.now())).toBeLessThan(5_000);
    expect((await c.lease(tag(4n))).code).toBe(LeaseCode.WriteInProgress);
    const ttl = await ctx.redis.pttl(c.keys(tag(4n)).writes);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    await sleep(450);
    expect((await c.lease(tag(4n))).code).toBe(LeaseCode.Granted);
    expect(await ctx.redis.exists(c.keys(tag(4n)).writes)).toBe(0);
  });

  it('keeps a late writer from unprotecting a newer one (the INCR/DECR counter does not)', async () => {
    // Writer A's marker expires while A is stalled; B begins; then A finally ends.
    const short = await cache(200);
    const long = await cache(10_000);
    const a = newToken();
    const b = newToken();
    await short.beginWrite(tag(5n), a);
    await sleep(300);
    await long.beginWrite(tag(5n), b);
    await short.endWrite(tag(5n), a, true, undefined, TTL);
    expect((await long.lease(tag(5n))).code).toBe(LeaseCode.WriteInProgress);
    expect(await ctx.redis.zcard(long.keys(tag(5n)).writes)).toBe(1);
    await long.endWrite(tag(5n), b, true, undefined, TTL);
    expect((await long.lease(tag(5n))).code).toBe(LeaseCode.Granted);

    // The design brief's counter, run the same way: A's DECR zeroes B's count.
    const w = `${tag(-5n)}:w`;
    const begin = (ttl: number) =>
      ctx.redis.eval(
        `redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return 1`,
        1,
        w,
        ttl,
      );
    const end = () =>
      ctx.redis.eval(
        `if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end return 1`,
        1,
        w,
      );
    const writeInProgress = async () => Number((await ctx.redis.get(w)) ?? '0') > 0;
    await begin(200);
    await sleep(300);
    await begin(10_000);
    await end();
    // B is still writing, yet the counter says nobody is: a lease would be granted.
    expect(await writeInProgress()).toBe(false);
  });

  it('keeps the marker count right for concurrent writers on two engines', async () => {
    const [one, two] = [await cache(), await cache()];
    const tokens = Array.from({ length: 10 }, () => newToken());
    await Promise.all(tokens.map((t, i) => (i % 2 ? one : two).beginWrite(tag(6n), t)));
    expect(await ctx.redis.zcard(one.keys(tag(6n)).writes)).toBe(10);
    await Promise.all(tokens.slice(0, 9).map((t, i) => (i % 2 ? two : one).endWrite(tag(6n), t, true, undefined, TTL)));
    expect((await one.lease(tag(6n))).code).toBe(LeaseCode.WriteInProgress);
    await two.endWrite(tag(6n), tokens[9]!, true, undefined, TTL);
    expect((await one.lease(tag(6n))).code).toBe(LeaseCode.Granted);
  });
});

describe('filling from a committed write (write end)', () => {
  let ctx: TestContext;
  const caches: Cache[] = [];
  const cache = (markerTtlMs = 10_000): Promise<Cache> => openCache(ctx, caches, markerTtlMs);
  const tag = (id: bigint): string => hashTag(`${ctx.prefix}_wfill`, 't', String(id));
  const version = async (c: Cache, id: bigint): Promise<number | undefined> => {
    const raw = await c.get(tag(id));
    return raw === null ? undefined : (JSON.parse(raw) as { version: number }).version;
  };

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_wfill' });
  });
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
    await ctx.dispose();
  });

  it('a writer that no other write overlapped fills its row, and a lease taken before it cannot', async () => {
    const c = await cache();
    const lease = await c.lease(tag(20n));
    const w = newToken();
    await c.beginWrite(tag(20n), w);
    expect(await c.endWrite(tag(20n), w, true, text(1), TTL)).toBe(true);
    expect(await version(c, 20n)).toBe(1);
    expect(await c.fill(tag(20n), lease.token, text(0), TTL)).toBe(false);
    expect(await version(c, 20n)).toBe(1);
    // Nothing of the writer is left behind.
    expect(await ctx.redis.exists(c.keys(tag(20n)).writes, c.keys(tag(20n)).soloWriter)).toBe(0);
  });

  it('a refused or unknown write fills nothing', async () => {
    const c = await cache();
    const w = newToken();
    await c.beginWrite(tag(21n), w);
    expect(await c.endWrite(tag(21n), w, false, undefined, TTL)).toBe(false);
    expect(await c.get(tag(21n))).toBeNull();
  });

  // A commits version 1, C (begun while A was live) commits version 2 and ends first, then A
  // ends. Both commits sit inside their markers, as the deadline guarantees.
  async function overlapping(fillAtEnd: (c: Cache, token: string, committed: number) => Promise<void>) {
    const c = await cache();
    const [a, cc] = [newToken(), newToken()];
    await c.beginWrite(tag(22n), a);
    await c.beginWrite(tag(22n), cc);
    // A commits version 1, then C commits version 2: the DB now holds 2.
    await fillAtEnd(c, cc, 2);
    await fillAtEnd(c, a, 1);
    return { cached: await version(c, 22n), db: 2 };
  }

  it('overlapping writers fill nothing: the cache stays absent, never older than the DB', async () => {
    const result = await overlapping(async (c, token, committed) => {
      await c.endWrite(tag(22n), token, true, text(committed), TTL);
    });
    expect(result).toEqual({ cached: undefined, db: 2 });
  });

  it('the unsafe variant, filling every committed row at its end, caches an older version', async () => {
    await ctx.redis.del(guardValueKey(tag(22n)));
    const result = await overlapping(async (c, token, committed) => {
      await c.endWrite(tag(22n), token, true, undefined, TTL);
      await ctx.redis.set(c.keys(tag(22n)).value, text(committed));
    });
    expect(result).toEqual({ cached: 1, db: 2 });
  });

  it('a writer that began while an older one was live does not fill, even after that one ended', async () => {
    const c = await cache();
    const [a, b] = [newToken(), newToken()];
    await c.beginWrite(tag(23n), a);
    await c.beginWrite(tag(23n), b);
    expect(await c.endWrite(tag(23n), a, true, text(1), TTL)).toBe(false);
    expect(await c.endWrite(tag(23n), b, true, text(2), TTL)).toBe(false);
    expect(await c.get(tag(23n))).toBeNull();
    // The next writer alone fills again.
    const d = newToken();
    await c.beginWrite(tag(23n), d);
    expect(await c.endWrite(tag(23n), d, true, text(3), TTL)).toBe(true);
  });

  it('a writer whose marker expired before its end does not fill', async () => {
    const c = await cache(200);
    const w = newToken();
    await c.beginWrite(tag(24n), w);
    await sleep(300);
    expect(await c.endWrite(tag(24n), w, true, text(1), TTL)).toBe(false);
    expect(await c.get(tag(24n))).toBeNull();
  });
});

function guardValueKey(tag: string): string {
  return `${tag}:v`;
}

describe('the deadline at commit', () => {
  let ctx: TestContext;
  const open: ItemsEngine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_deadline' });
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  it('a writer held past its marker writes nothing and says so', async () => {
    const slow = await engineFor(ctx, { markerTtlMs: 300, chaos: { writeDelayMs: 600 } });
    const reader = await engineFor(ctx, {});
    open.push(slow, reader);
    await reader.write(10n, 'old');
    const write = rejection(slow.write(10n, 'new'));
    // While the writer is stalled past its marker, another engine reads and fills.
    await sleep(450);
    expect((await reader.read(10n))?.value).toBe('old');
    const err = await write;
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(/expired.*nothing was committed/);
    expect(slow.stats().writesExpired).toBe(1);
    expect(reader.stats().fills).toBe(1);
    const { cached, stored } = await reader.inspect(10n);
    expect(stored).toMatchObject({ value: 'old', version: 1 });
    // The failed write's end dropped the value again; absent or equal is the invariant.
    expect(cached === undefined || JSON.stringify(cached) === JSON.stringify(stored)).toBe(true);
  });

  it('without the fence, the same stalled writer commits behind the fill (the unsafe variant)', async () => {
    const reader = await engineFor(ctx, {});
    open.push(reader);
    await reader.write(11n, 'old');
    // The guarded write path by hand: marker up, the transaction's statement, a stall past the
    // marker's life, then COMMIT; and the writer dies before its write end (a crash, or Redis
    // unreachable at that moment).
    const caches: Cache[] = [];
    const c = await openCache(ctx, caches, 300);
    const db = new pg.Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      await db.query(FENCE_SETUP);
      const update = `UPDATE "${ctx.schema}".items SET value = '"new"', version = version + 1 WHERE id = 11`;
      const deadline = (await c.beginWrite(hashTag(ctx.prefix, 'items', '11'), newToken())) + 300 - 30;
      await db.query('BEGIN');
      await db.query(update);
      await sleep(450);
      expect((await reader.read(11n))?.value).toBe('old');
      // With its fence, Postgres refuses the COMMIT...
      const refused = await rejection(db.query(fencedCommit(deadline)));
      expect(refused).toMatchObject({ code: 'KL001' });
      expect((await reader.inspect(11n)).stored).toMatchObject({ value: 'old', version: 1 });
      expect((await reader.inspect(11n)).cached).toEqual((await reader.inspect(11n)).stored);
      // ...without it, the same transaction commits behind the fill and the cache stays stale.
      await db.query('BEGIN');
      await db.query(update);
      await db.query('COMMIT');
      const { cached, stored } = await reader.inspect(11n);
      expect(stored).toMatchObject({ value: 'new', version: 2 });
      expect(cached).toMatchObject({ value: 'old', version: 1 });
    } finally {
      await db.end();
      await Promise.all(caches.map((x) => x.close()));
    }
  });

  it('two engines writing one key concurrently leave no marker behind, and fills resume', async () => {
    const a = await engineFor(ctx, { lanes: 2 }, '_pair');
    const b = await engineFor(ctx, { lanes: 3 }, '_pair');
    open.push(a, b);
    const writes = Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).write(13n, i));
    const seen: number[] = [];
    // Markers are up while the writes run: count them from the side.
    const key = itemMarkersKey(`${ctx.prefix}_pair`, 13);
    const sampler = (async () => {
      for (let i = 0; i < 10; i += 1) {
        seen.push(await ctx.redis.zcard(key));
        await sleep(2);
      }
    })();
    const items = await Promise.all(writes);
    await sampler;
    expect(new Set(items.map((item) => item.version)).size).toBe(30);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    expect(await ctx.redis.exists(key)).toBe(0);
    const last = await a.read(13n);
    expect(last?.version).toBe(30);
    expect((await b.inspect(13n)).cached).toEqual(last);
  });

  it('keeps the marker when the connection breaks during COMMIT (outcome unknown)', async () => {
    const e = await engineFor(ctx, { lanes: 1, markerTtlMs: 5_000 }, '_unknown');
    open.push(e);
    // A deferred trigger that sleeps makes this one COMMIT slow enough to be cut in flight.
    await ctx.pg.query(`
      CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.value = '"maybe"' THEN PERFORM pg_sleep(5); END IF; RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON items
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`);
    try {
      const client = e.laneClient(12n);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const write = rejection(e.write(12n, 'maybe'));
      await waitForActivity(ctx, rows[0]!.pid, 'COMMIT');
      await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      expect((await write).message).toMatch(/may or may not have committed/);
      const markers = itemMarkersKey(`${ctx.prefix}_unknown`, 12);
      expect(await ctx.redis.zcard(markers)).toBe(1);
      // Misses read the DB without filling until the marker expires.
      await e.read(12n);
      expect(e.stats().leases.writeInProgress).toBe(1);
      expect(e.stats().writesUnknown).toBe(1);
      expect((await e.inspect(12n)).cached).toBeUndefined();
    } finally {
      await ctx.pg.query('DROP TRIGGER slow_commit ON items; DROP FUNCTION slow_commit()');
    }
  });

  it('removes the marker when the connection breaks before COMMIT: nothing was committed', async () => {
    const e = await engineFor(ctx, { lanes: 1, markerTtlMs: 5_000 }, '_before_commit');
    open.push(e);
    const client = e.laneClient(14n);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    // The write's BEGIN queues behind this statement on the same connection, then it dies.
    const sleeping = rejection(client.query('SELECT pg_sleep(5)'));
    const write = rejection(e.write(14n, 'never'));
    await sleep(100);
    await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await sleeping;
    const err = await write;
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(/nothing was committed/);
    expect(await ctx.redis.exists(itemMarkersKey(`${ctx.prefix}_before_commit`, 14))).toBe(0);
    expect(e.stats().writesUnknown).toBe(0);
    expect((await e.inspect(14n)).stored).toBeNull();
  });
});

/** Waits until backend `pid` is running a statement that starts with `prefix`. */
async function waitForActivity(ctx: TestContext, pid: number, prefix: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { rows } = await ctx.pg.query<{ query: string; state: string }>(
      'SELECT query, state FROM pg_stat_activity WHERE pid = $1',
      [pid],
    );
    if (rows[0]?.state === 'active' && rows[0].query.includes(prefix)) return;
    await sleep(10);
  }
  throw new Error(`backend ${pid} never ran ${prefix}`);
}
