import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import type { Item } from '@keylane/protocol';
import type { StrategyName } from '../src/index.js';
import { engineFor, itemValueKey, rejection } from './helpers.js';

describe('close()', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_close' });
  });
  afterAll(async () => {
    await ctx.dispose();
  });

  it.each<StrategyName>(['serial-guarded', 'double-delete'])(
    '%s: drains queued work; every acknowledged write is in the DB',
    async (strategy) => {
      const e = await engineFor(ctx, { strategy, lanes: 2, chaos: { writeDelayMs: 10 } }, `_${strategy}`);
      const base = strategy === 'serial-guarded' ? 0n : 100n;
      const acked = new Map<bigint, Item>();
      const writes = Array.from({ length: 40 }, (_, i) => {
        const id = base + BigInt(i % 5);
        return e.write(id, { i }).then((item) => {
          const prev = acked.get(id);
          if (!prev || prev.version < item.version) acked.set(id, item);
        });
      });
      // Work is still queued: 40 writes at >= 10 ms each on two lanes (or a pool of two).
      const closed = e.close();
      const late = await rejection(e.write(base, 'too late'));
      expect(late.code).toBe('unavailable');
      expect(late.message).toMatch(/closing/);
      await closed;
      const results = await Promise.allSettled(writes);
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      expect(acked.size).toBe(5);
      for (const [id, item] of acked) {
        const { rows } = await ctx.pg.query<{ value: unknown; version: string }>(
          'SELECT value, version FROM items WHERE id = $1',
          [id.toString()],
        );
        expect(rows[0]).toEqual({ value: item.value, version: String(item.version) });
      }
      expect(e.stats().lanes.every((l) => l.queued === 0 && !l.running)).toBe(true);
      // Closing twice is harmless.
      await e.close();
    },
  );

  it("double-delete: waits for pending second DELs before closing Redis", async () => {
    const e = await engineFor(ctx, { strategy: 'double-delete', doubleDeleteDelayMs: 300 }, '_second_del');
    await e.write(900n, 'v');
    // This read fills the cache after the first DEL; only the second DEL removes the entry.
    await e.read(900n);
    const key = itemValueKey(`${ctx.prefix}_second_del`, 900);
    expect(await ctx.redis.exists(key)).toBe(1);
    await e.close();
    expect(await ctx.redis.exists(key)).toBe(0);
  });
});
