import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { STRATEGY_NAMES } from '../src/baselines.js';
import { engineFor } from './helpers.js';

describe('createEngine (every strategy)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_smoke' });
  });
  afterAll(async () => {
    await ctx.dispose();
  });

  it.each(STRATEGY_NAMES)('%s: write, read (miss then hit), delete', async (strategy) => {
    const engine = await engineFor(ctx, { lanes: 2, strategy, doubleDeleteDelayMs: 5 }, `_${strategy}`);
    try {
      const id = 42n;
      await engine.delete(id);
      expect(await engine.read(id)).toBeNull();
      const written = await engine.write(id, { a: 1 });
      expect(written).toEqual({ id: '42', value: { a: 1 }, version: 1 });
      // double-delete drops the entry once more shortly after the write.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await engine.read(id)).toEqual(written);
      expect(await engine.read(id)).toEqual(written);
      expect(engine.stats().hits).toBeGreaterThanOrEqual(1);
      const second = await engine.write(id, 'two', { ifVersion: 1 });
      expect(second.version).toBe(2);
      expect(await engine.delete(id)).toBe(true);
      expect(await engine.read(id)).toBeNull();
      expect(engine.laneOf(id)).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
