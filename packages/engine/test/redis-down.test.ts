import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UnavailableError } from '@keylane/protocol';
import { createTestContext, startRedisServer, type RedisServerHandle, type TestContext } from '@keylane/harness';
import type { StrategyName } from '../src/index.js';
import { engineFor, rejection, waitFor, type ItemsEngine } from './helpers.js';

describe('Redis down and back', () => {
  let ctx: TestContext;
  let server: RedisServerHandle;
  const open: ItemsEngine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_redis_down' });
    server = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await server.stop();
    await ctx.dispose();
  });

  const rowOf = async (id: bigint) =>
    (await ctx.pg.query<{ value: unknown; version: string }>('SELECT value, version FROM items WHERE id = $1', [
      id.toString(),
    ])).rows[0];

  it.each<StrategyName>(['serial-guarded', 'serial', 'invalidate-first', 'cache-aside'])(
    '%s: reads answer from the DB, writes fail before the DB, then it recovers',
    async (strategy) => {
      if (!server.running) await server.start();
      const e = await engineFor(
        ctx,
        { strategy, markerTtlMs: 1_000, redis: { url: server.url, commandTimeoutMs: 500 } },
        `_${strategy}`,
      );
      open.push(e);
      const id = BigInt(STRATEGIES.indexOf(strategy) + 1);
      await e.write(id, 'before');
      expect((await e.read(id))?.value).toBe('before');
      expect((await e.health()).redis).toBe(true);

      await server.stop();
      await waitFor(async () => !(await e.health()).redis);
      const health = await e.health();
      expect(health).toMatchObject({ postgres: true, redis: false });
      expect(health.problems.join(' ')).toMatch(/redis/);

      const readsBefore = e.stats().dbReads;
      expect(await e.read(id)).toMatchObject({ value: 'before', version: 1 });
      expect(e.stats().dbReads - readsBefore).toBe(1);
      const err = await rejection(e.write(id, 'during'));
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.code).toBe('unavailable');
      expect(err.message).toMatch(/nothing was committed/);
      expect(await rowOf(id)).toEqual({ value: 'before', version: '1' });
      expect((await rejection(e.delete(id))).code).toBe('unavailable');
      expect(await rowOf(id)).toEqual({ value: 'before', version: '1' });
      expect(e.stats().redisErrors).toBeGreaterThan(0);

      await server.start();
      await waitFor(async () => (await e.health()).redis);
      expect(await e.write(id, 'after')).toMatchObject({ value: 'after', version: 2 });
      expect((await e.read(id))?.value).toBe('after');
      if (strategy === 'serial-guarded') {
        // Redis came back as another server (a new run_id, its markers gone): for a marker's
        // life nothing fills, so no write that lost its marker can be overtaken by a fill.
        expect((await e.inspect(id)).cached).toBeUndefined();
        expect(e.stats().fillsHeld).toBeGreaterThan(0);
        await new Promise((resolve) => setTimeout(resolve, 1_100));
      }
      expect((await e.read(id))?.value).toBe('after');
      expect((await e.read(id))?.value).toBe('after');
      expect((await e.inspect(id)).cached).toMatchObject({ value: 'after', version: 2 });
    },
  );
});

const STRATEGIES: StrategyName[] = ['serial-guarded', 'serial', 'invalidate-first', 'cache-aside'];
