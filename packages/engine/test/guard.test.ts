import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/test-kit';
import { Cache, newToken } from '../src/cache/cache.js';
import { LeaseCode } from '../src/cache/scripts.js';
import { ItemStore } from '../src/store/item-store.js';
import type { Engine } from '../src/index.js';
import { engineFor, rejection, sleep } from './helpers.js';

/** A started Cache on the suite's Redis under `<prefix><suffix>`; closed by the suite. */
async function openCache(
  ctx: TestContext,
  suffix: string,
  opened: Cache[],
  markerTtlMs: number,
  leaseTtlMs = 5_000,
): Promise<Cache> {
  const c = new Cache({
    url: ctx.redisUrl,
    keyPrefix: `${ctx.prefix}${suffix}`,
    commandTimeoutMs: 2_000,
    cacheTtlMs: 60_000,
    leaseTtlMs,
    markerTtlMs,
    onError: () => undefined,
  });
  await c.start();
  opened.push(c);
  return c;
}

/**
 * The guard's Lua scripts against real Redis, then the deadline the DB write carries,
 * through whole engines.
 */
describe('guard scripts', () => {
  let ctx: TestContext;
  const caches: Cache[] = [];
  const cache = (markerTtlMs = 10_000, leaseTtlMs = 5_000): Promise<Cache> =>
    openCache(ctx, '_guard', caches, markerTtlMs, leaseTtlMs);
  const item = (version: number) => ({ id: '0', value: { version }, version });

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_guard' });
  });
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
    await ctx.dispose();
  });

  it('fills under an undisturbed lease, once', async () => {
    const c = await cache();
    const lease = await c.lease(1n);
    expect(lease.code).toBe(LeaseCode.Granted);
    expect((await c.lease(1n)).code).toBe(LeaseCode.Busy);
    expect(await c.fill(1n, 'not-the-token', item(1))).toBe(false);
    expect(await c.fill(1n, lease.token, item(1))).toBe(true);
    expect(await c.peek(1n)).toEqual({ id: '1', value: { version: 1 }, version: 1 });
    // The fill consumed the lease.
    expect(await c.fill(1n, lease.token, item(2))).toBe(false);
  });

  it('rejects a fill after a write began (and after it ended)', async () => {
    const c = await cache();
    const lease = await c.lease(2n);
    const writer = newToken();
    await c.beginWrite(2n, writer);
    expect(await c.fill(2n, lease.token, item(1))).toBe(false);
    await c.endWrite(2n, writer, true);
    expect(await c.fill(2n, lease.token, item(1))).toBe(false);
    expect(await c.peek(2n)).toBeUndefined();
  });

  it('grants no lease while a marker is up, and grants one after it is removed', async () => {
    const c = await cache();
    const writer = newToken();
    await c.beginWrite(3n, writer);
    expect((await c.lease(3n)).code).toBe(LeaseCode.WriteInProgress);
    await c.endWrite(3n, writer, true);
    expect((await c.lease(3n)).code).toBe(LeaseCode.Granted);
  });

  it('lets a marker expire on its own, with the key TTL following the latest writer', async () => {
    const c = await cache(300);
    const writer = newToken();
    const redisNow = await c.beginWrite(4n, writer);
    // Redis' clock and ours agree to within a few ms here; the deadline is Redis'.
    expect(Math.abs(redisNow - Date.now())).toBeLessThan(5_000);
    expect((await c.lease(4n)).code).toBe(LeaseCode.WriteInProgress);
    const ttl = await ctx.redis.pttl(c.keys(4n).writes);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    await sleep(450);
    expect((await c.lease(4n)).code).toBe(LeaseCode.Granted);
    expect(await ctx.redis.exists(c.keys(4n).writes)).toBe(0);
  });

  it('keeps a late writer from unprotecting a newer one (the INCR/DECR counter does not)', async () => {
    // Writer A's marker expires while A is stalled; B begins; then A finally ends.
    const short = await cache(200);
    const long = await cache(10_000);
    const a = newToken();
    const b = newToken();
    await short.beginWrite(5n, a);
    await sleep(300);
    await long.beginWrite(5n, b);
    await short.endWrite(5n, a, true);
    expect((await long.lease(5n)).code).toBe(LeaseCode.WriteInProgress);
    expect(await ctx.redis.zcard(long.keys(5n).writes)).toBe(1);
    await long.endWrite(5n, b, true);
    expect((await long.lease(5n)).code).toBe(LeaseCode.Granted);

    // The design brief's counter, run the same way: A's DECR zeroes B's count.
    const w = `{${ctx.prefix}_guard:counter}:w`;
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
    await Promise.all(tokens.map((t, i) => (i % 2 ? one : two).beginWrite(6n, t)));
    expect(await ctx.redis.zcard(one.keys(6n).writes)).toBe(10);
    await Promise.all(tokens.slice(0, 9).map((t, i) => (i % 2 ? two : one).endWrite(6n, t, true)));
    expect((await one.lease(6n)).code).toBe(LeaseCode.WriteInProgress);
    await two.endWrite(6n, tokens[9]!, true);
    expect((await one.lease(6n)).code).toBe(LeaseCode.Granted);
  });
});

describe('filling from a committed write (write end)', () => {
  let ctx: TestContext;
  const caches: Cache[] = [];
  const cache = (markerTtlMs = 10_000): Promise<Cache> =>
    openCache(ctx, '_wfill', caches, markerTtlMs);
  const row = (version: number) => ({ id: '0', value: { version }, version });

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_wfill' });
  });
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
    await ctx.dispose();
  });

  it('a writer that no other write overlapped fills its row, and a lease taken before it cannot', async () => {
    const c = await cache();
    const lease = await c.lease(20n);
    const w = newToken();
    await c.beginWrite(20n, w);
    expect(await c.endWrite(20n, w, true, row(1))).toBe(true);
    expect(await c.peek(20n)).toMatchObject({ version: 1 });
    expect(await c.fill(20n, lease.token, row(0))).toBe(false);
    expect(await c.peek(20n)).toMatchObject({ version: 1 });
    // Nothing of the writer is left behind.
    expect(await ctx.redis.exists(c.keys(20n).writes, c.keys(20n).soloWriter)).toBe(0);
  });

  it('a refused or unknown write fills nothing', async () => {
    const c = await cache();
    const w = newToken();
    await c.beginWrite(21n, w);
    expect(await c.endWrite(21n, w, false)).toBe(false);
    expect(await c.peek(21n)).toBeUndefined();
  });

  // A commits version 1, C (begun while A was live) commits version 2 and ends first, then A
  // ends. Both commits sit inside their markers, as the deadline guarantees.
  async function overlapping(
    fillAtEnd: (c: Cache, token: string, committed: number) => Promise<void>,
  ) {
    const c = await cache();
    const [a, cc] = [newToken(), newToken()];
    await c.beginWrite(22n, a);
    await c.beginWrite(22n, cc);
    // A commits version 1, then C commits version 2: the DB now holds 2.
    await fillAtEnd(c, cc, 2);
    await fillAtEnd(c, a, 1);
    return { cached: (await c.peek(22n))?.version, db: 2 };
  }

  it('overlapping writers fill nothing: the cache stays absent, never older than the DB', async () => {
    const result = await overlapping(async (c, token, committed) => {
      await c.endWrite(22n, token, true, row(committed));
    });
    expect(result).toEqual({ cached: undefined, db: 2 });
  });

  it('the unsafe variant, filling every committed row at its end, caches an older version', async () => {
    await ctx.redis.del(`{${ctx.prefix}_wfill:22}:v`);
    const result = await overlapping(async (c, token, committed) => {
      await c.endWrite(22n, token, true);
      await ctx.redis.set(
        c.keys(22n).value,
        JSON.stringify({ version: committed, value: { version: committed } }),
      );
    });
    expect(result).toEqual({ cached: 1, db: 2 });
  });

  it('a writer that began while an older one was live does not fill, even after that one ended', async () => {
    const c = await cache();
    const [a, b] = [newToken(), newToken()];
    await c.beginWrite(23n, a);
    await c.beginWrite(23n, b);
    expect(await c.endWrite(23n, a, true, row(1))).toBe(false);
    expect(await c.endWrite(23n, b, true, row(2))).toBe(false);
    expect(await c.peek(23n)).toBeUndefined();
    // The next writer alone fills again.
    const d = newToken();
    await c.beginWrite(23n, d);
    expect(await c.endWrite(23n, d, true, row(3))).toBe(true);
  });

  it('a writer whose marker expired before its end does not fill', async () => {
    const c = await cache(200);
    const w = newToken();
    await c.beginWrite(24n, w);
    await sleep(300);
    expect(await c.endWrite(24n, w, true, row(1))).toBe(false);
    expect(await c.peek(24n)).toBeUndefined();
  });
});

describe('the deadline in the DB write', () => {
  let ctx: TestContext;
  const open: Engine[] = [];
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

  it('without the deadline, the same stalled writer commits behind the fill (the unsafe variant)', async () => {
    const reader = await engineFor(ctx, {});
    open.push(reader);
    await reader.write(11n, 'old');
    // The guarded write path by hand, minus the deadline: marker up, stall past its life,
    // commit, then die before the write end (a crash, or Redis unreachable at that moment).
    const c = new Cache({
      url: ctx.redisUrl,
      keyPrefix: ctx.prefix,
      commandTimeoutMs: 2_000,
      cacheTtlMs: 60_000,
      leaseTtlMs: 5_000,
      markerTtlMs: 300,
      onError: () => undefined,
    });
    await c.start();
    try {
      const store = new ItemStore(ctx.schema);
      const deadline = (await c.beginWrite(11n, newToken())) + 300 - 30;
      await sleep(450);
      expect((await reader.read(11n))?.value).toBe('old');
      // With its deadline, Postgres refuses the write...
      const guarded = await store.write(ctx.pg, 11n, JSON.stringify('new'), undefined, deadline);
      expect(guarded).toEqual({ ok: false, refusal: { kind: 'expired' } });
      expect((await reader.inspect(11n)).cached).toEqual((await reader.inspect(11n)).stored);
      // ...without it, the write commits behind the fill and the cache stays stale.
      const unguarded = await store.write(ctx.pg, 11n, JSON.stringify('new'), undefined, null);
      expect(unguarded.ok).toBe(true);
      const { cached, stored } = await reader.inspect(11n);
      expect(stored).toMatchObject({ value: 'new', version: 2 });
      expect(cached).toMatchObject({ value: 'old', version: 1 });
    } finally {
      await c.close();
    }
  });

  it('two engines writing one key concurrently leave no marker behind, and fills resume', async () => {
    const a = await engineFor(ctx, { lanes: 2 }, '_pair');
    const b = await engineFor(ctx, { lanes: 3 }, '_pair');
    open.push(a, b);
    const writes = Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).write(13n, i));
    const seen: number[] = [];
    // Markers are up while the writes run: count them from the side.
    const key = `{${ctx.prefix}_pair:13}:w`;
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

  it('keeps the marker when the DB outcome is unknown', async () => {
    const e = await engineFor(ctx, { lanes: 1, markerTtlMs: 5_000 }, '_unknown');
    open.push(e);
    const { client } = e.getDBConnection(12n);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const sleeping = rejection(client.query('SELECT pg_sleep(5)'));
    const write = rejection(e.write(12n, 'maybe'));
    await sleep(100);
    await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await sleeping;
    expect((await write).message).toMatch(/may or may not have committed/);
    const markers = `{${ctx.prefix}_unknown:12}:w`;
    expect(await ctx.redis.zcard(markers)).toBe(1);
    // Misses read the DB without filling until the marker expires.
    await e.read(12n);
    expect(e.stats().leases.writeInProgress).toBe(1);
    expect(e.stats().writesUnknown).toBe(1);
    expect((await e.inspect(12n)).cached).toBeUndefined();
  });
});
