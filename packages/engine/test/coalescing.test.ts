import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import type { StrategyName } from '../src/index.js';
import { engineFor, itemValueKey, sleep, type ItemsEngine } from './helpers.js';

/**
 * Counts SELECTs of the items table actually sent to Postgres, by wrapping `query` on the
 * engine's connections: independent of the engine's own counters.
 */
function countSelects(engine: ItemsEngine, ids: bigint[]): { count: () => number; restore: () => void } {
  let selects = 0;
  const restores: (() => void)[] = [];
  for (const id of ids) {
    const client = engine.laneClient(id);
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    const patched = (...args: unknown[]): unknown => {
      if (typeof args[0] === 'string' && /^SELECT .* FROM "[^"]+"\.items WHERE id/s.test(args[0])) selects += 1;
      return original(...args);
    };
    Object.assign(client, { query: patched });
    restores.push(() => Object.assign(client, { query: original }));
  }
  return { count: () => selects, restore: () => restores.forEach((r) => r()) };
}

describe('coalescing misses', () => {
  let ctx: TestContext;
  const open: ItemsEngine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_coalesce' });
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  it.each<StrategyName>(['serial-guarded', 'serial'])(
    '%s: 100 concurrent misses of one key cost exactly one DB read',
    async (strategy) => {
      const e = await engineFor(ctx, { strategy, chaos: { fillDelayMs: 20 } }, `_${strategy}`);
      open.push(e);
      const id = 77n;
      await e.write(id, { hot: true });
      // serial-guarded fills from the write itself; evict the entry as its TTL would.
      await ctx.redis.del(itemValueKey(`${ctx.prefix}_${strategy}`, id));
      expect((await e.inspect(id)).cached).toBeUndefined();
      const before = e.stats();
      const spy = countSelects(e, [id]);
      try {
        const results = await Promise.all(Array.from({ length: 100 }, () => e.read(id)));
        expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
        expect(spy.count()).toBe(1);
      } finally {
        spy.restore();
      }
      const after = e.stats();
      expect(after.dbReads - before.dbReads).toBe(1);
      expect(after.misses - before.misses).toBe(100);
      expect(after.coalesced - before.coalesced).toBe(99);
    },
  );

  it('serial-guarded puts a committed write in the cache: the reads behind it hit (serial does not)', async () => {
    const guarded = await engineFor(ctx, { strategy: 'serial-guarded' }, '_wfill');
    const serial = await engineFor(ctx, { strategy: 'serial' }, '_wfill_serial');
    open.push(guarded, serial);
    const written = await guarded.write(80n, { v: 1 });
    expect(await guarded.inspect(80n)).toEqual({ cached: written, stored: written });
    const before = guarded.stats();
    const reads = await Promise.all(Array.from({ length: 50 }, () => guarded.read(80n)));
    expect(reads.every((r) => r?.version === written.version)).toBe(true);
    const after = guarded.stats();
    expect(after.dbReads - before.dbReads).toBe(0);
    expect(after.hits - before.hits).toBe(50);
    expect(after.writeFills).toBe(1);
    // A delete caches the absence it committed.
    expect(await guarded.delete(80n)).toBe(true);
    expect(await guarded.inspect(80n)).toEqual({ cached: null, stored: null });
    expect(guarded.stats().writeFills).toBe(2);

    await serial.write(81n, { v: 1 });
    expect((await serial.inspect(81n)).cached).toBeUndefined();
    expect(serial.stats().writeFills).toBe(0);
  });

  it('serial-guarded answers the misses that arrive during a write with its committed row, outside the lane', async () => {
    const e = await engineFor(ctx, { strategy: 'serial-guarded', lanes: 1, chaos: { writeDelayMs: 150 } }, '_wait');
    open.push(e);
    await e.write(90n, 'old');
    const before = e.stats();
    const write = e.write(90n, 'new');
    await sleep(50); // the marker is up and the value gone; the write sleeps before its DB write
    const reads = Array.from({ length: 20 }, () => e.read(90n));
    await sleep(20);
    // The reads wait on the write, not in the lane: only the write is there.
    expect(e.stats().lanes[0]).toMatchObject({ queued: 0, running: true });
    const written = await write;
    const results = await Promise.all(reads);
    expect(results.every((r) => r?.value === 'new' && r.version === written.version)).toBe(true);
    const after = e.stats();
    expect(after.dbReads - before.dbReads).toBe(0);
    expect(after.coalesced - before.coalesced).toBe(20);
  });

  it('serial-guarded sends those misses to the lane when the write fills nothing (overlapped, or refused)', async () => {
    const a = await engineFor(ctx, { strategy: 'serial-guarded', chaos: { writeDelayMs: 100 } }, '_overlap');
    const b = await engineFor(ctx, { strategy: 'serial-guarded', chaos: { writeDelayMs: 300 } }, '_overlap');
    open.push(a, b);
    await a.write(91n, 'v1');
    // b's marker is live when a's write begins: a is not the solo writer and must not fill.
    const slow = b.write(91n, 'from b');
    await sleep(30);
    const before = a.stats();
    const write = a.write(91n, 'from a');
    await sleep(30);
    const reads = Array.from({ length: 5 }, () => a.read(91n));
    await write;
    const results = await Promise.all(reads);
    // Answered by the lane: the DB as it was then (a's row; b has not committed yet).
    expect(results.every((r) => r?.value === 'from a')).toBe(true);
    expect(a.stats().writeFills - before.writeFills).toBe(0);
    expect(a.stats().dbReads - before.dbReads).toBeGreaterThan(0);
    await slow;
    // Absent or equal to the DB: the guard's invariant after both writes.
    const { cached, stored } = await a.inspect(91n);
    expect(stored?.value).toBe('from b');
    if (cached !== undefined) expect(cached).toEqual(stored);

    // A refused conditional write: its waiters read the row that is there.
    const c = await engineFor(ctx, { strategy: 'serial-guarded', chaos: { writeDelayMs: 100 } }, '_refused');
    open.push(c);
    const current = await c.write(92n, 'kept');
    const refused = c.write(92n, 'nope', { ifVersion: current.version + 5 }).catch((err: Error) => err);
    await sleep(30);
    const waiting = Array.from({ length: 5 }, () => c.read(92n));
    expect(await refused).toMatchObject({ code: 'version_conflict' });
    expect((await Promise.all(waiting)).map((r) => r?.value)).toEqual(Array(5).fill('kept'));
  });

  it('serial-guarded: misses queued behind one that met another engine\'s lease share its DB read', async () => {
    const e = await engineFor(ctx, { strategy: 'serial-guarded' }, '_busy');
    open.push(e);
    const id = 80n;
    await e.write(id, { hot: true });
    await ctx.redis.del(itemValueKey(`${ctx.prefix}_busy`, id));
    // Another engine holds the fill lease: every miss here reads without filling.
    await ctx.redis.set(`{${ctx.prefix}_busy:items:${id}}:lease`, 'another-engine', 'PX', 5_000);
    const before = e.stats();
    const results = await Promise.all(Array.from({ length: 20 }, () => e.read(id)));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    const after = e.stats();
    expect(after.dbReads - before.dbReads).toBe(1);
    expect(after.leases.busy - before.leases.busy).toBe(1);
    expect(after.coalesced - before.coalesced).toBe(19);
  });

  it.each([false, true])(
    'a miss asked after a write was acknowledged never takes the answer of a miss that began before it (shareEarlierReads: %s, the unsafe twin)',
    async (shareEarlierReads) => {
      const suffix = `_late_${String(shareEarlierReads)}`;
      // The reader's fill waits 300 ms after its load: its lane job is still running when the
      // writer (another engine) commits and acknowledges.
      const reader = await engineFor(ctx, { strategy: 'serial-guarded', lanes: 1, chaos: { fillDelayMs: 300, shareEarlierReads } }, suffix);
      const writer = await engineFor(ctx, { strategy: 'serial-guarded', lanes: 1 }, suffix);
      open.push(reader, writer);
      const id = 81n;
      await writer.write(id, 'v1');
      await ctx.redis.del(itemValueKey(`${ctx.prefix}${suffix}`, id));
      const first = reader.read(id);
      await sleep(50);
      await writer.write(id, 'v2');
      // Evicted again (as a TTL would), so the next read misses and queues behind the first.
      await ctx.redis.del(itemValueKey(`${ctx.prefix}${suffix}`, id));
      // Asked after v2 was acknowledged: it must see v2.
      const second = await reader.read(id);
      expect((await first)?.value).toBe('v1');
      if (shareEarlierReads) expect(second?.value).toBe('v1');
      else expect(second?.value).toBe('v2');
    },
  );

  it('cache-aside, unserialized, sends one DB read per concurrent miss (the contrast)', async () => {
    const e = await engineFor(ctx, { strategy: 'cache-aside', chaos: { fillDelayMs: 20 } }, '_aside');
    open.push(e);
    await e.write(78n, { hot: true });
    const before = e.stats().dbReads;
    await Promise.all(Array.from({ length: 100 }, () => e.read(78n)));
    // Nearly all of them (how many overlap depends on scheduling; ideally 100).
    expect(e.stats().dbReads - before).toBeGreaterThan(50);
  });

  it('caches absence: repeated misses of an id with no row read the DB once', async () => {
    const e = await engineFor(ctx, { strategy: 'serial-guarded' }, '_absent');
    open.push(e);
    const before = e.stats().dbReads;
    for (let i = 0; i < 5; i += 1) expect(await e.read(79n)).toBeNull();
    expect(e.stats().dbReads - before).toBe(1);
    expect(await e.inspect(79n)).toEqual({ cached: null, stored: null });
    // A write replaces the tombstone's meaning: it is dropped, the next read sees the row.
    await e.write(79n, 'now here');
    expect((await e.read(79n))?.value).toBe('now here');
  });
});
