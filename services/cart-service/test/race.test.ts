import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Engine } from '@keylane/engine';
import { createEngine as createLabEngine, type StrategyName } from '@keylane/engine/baselines';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createCarts, type Carts } from '../src/carts.js';
import { ensureCartTables } from '../src/schema.js';
import { inspect } from '@keylane/engine/testing';

/**
 * The guard on a relational entity: two engines (two processes' worth of lanes, as in a split
 * view or an embedded deployment) update lines of the same few carts and read them at once,
 * with chaos delays widening the race windows (a miss's fill lands 30 ms after its join read).
 * Every write bumps the cart's version, so a read that began after a write was acknowledged
 * and answers an older version is a stale read; at rest, each cached cart must equal the join.
 * The same harness with the cache-aside baseline shows both going wrong, and with `serial` (the
 * lanes without the guard) stale reads: two engines' lanes do not serialize each other.
 */

const CARTS = ['101', '102', '103', '104'];
const SKUS = ['apple', 'pear', 'fig'];
const ROUNDS = 6;
const ROUND_MS = 1_000;

interface Outcome {
  reads: number;
  writes: number;
  staleReads: number;
  /** Carts whose cached value differed from the database join after a round, over all rounds. */
  staleAtRest: number;
  checkedAtRest: number;
}

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext({ name: 'cartsvc_race' });
  await ensureCartTables({ connectionString: ctx.databaseUrl }, ctx.schema);
});

afterAll(async () => {
  await ctx?.dispose();
});

async function runHarness(strategy: StrategyName, prefix: string): Promise<Outcome> {
  const engines: Engine[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      engines.push(
        await createLabEngine({
          postgres: { connectionString: ctx.databaseUrl },
          redis: { url: ctx.redisUrl, keyPrefix: `${ctx.prefix}-${prefix}` },
          lanes: 2,
          strategy,
          chaos: { fillDelayMs: 30, writeDelayMs: 5 },
        }),
      );
    }
    const carts: Carts[] = engines.map((e) => createCarts(e, { schema: ctx.schema }));
    await ctx.pg.query(`TRUNCATE "${ctx.schema}".carts CASCADE`);
    const acked = new Map<string, number>(CARTS.map((c) => [c, 0]));
    const outcome: Outcome = { reads: 0, writes: 0, staleReads: 0, staleAtRest: 0, checkedAtRest: 0 };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

    for (let round = 0; round < ROUNDS; round++) {
      const until = Date.now() + ROUND_MS;
      const writer = async (c: Carts): Promise<void> => {
        while (Date.now() < until) {
          const id = pick(CARTS);
          const cart = await c.setLine(id, pick(SKUS), { qty: 1 + Math.floor(Math.random() * 9), priceCents: 100, owner: 'race' });
          acked.set(id, Math.max(acked.get(id)!, cart.version));
          outcome.writes += 1;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
        }
      };
      const reader = async (c: Carts): Promise<void> => {
        while (Date.now() < until) {
          const id = pick(CARTS);
          const floor = acked.get(id)!;
          const cart = await c.get(id);
          outcome.reads += 1;
          if ((cart?.version ?? 0) < floor) outcome.staleReads += 1;
        }
      };
      await Promise.all(carts.flatMap((c) => [writer(c), writer(c), reader(c), reader(c), reader(c)]));
      // At rest: nothing in flight (every get awaited its fill), so the cache must equal the join.
      for (const id of CARTS) {
        const { cached, stored } = await inspect(carts[0]!.entity, id);
        outcome.checkedAtRest += 1;
        if (cached !== undefined && !isDeepStrictEqual(cached, stored)) outcome.staleAtRest += 1;
      }
    }
    return outcome;
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

describe('carts from two engines at once', () => {
  it('serial-guarded: 0 stale reads and 0 carts stale at rest; cache-aside and serial (lanes, no guard) in the same harness: stale', async () => {
    const guarded = await runHarness('serial-guarded', 'guarded');
    const aside = await runHarness('cache-aside', 'aside');
    // Lanes without the guard: each engine serializes its own work, not the other's.
    const serial = await runHarness('serial', 'serial');
    console.log(JSON.stringify({ 'serial-guarded': guarded, 'cache-aside': aside, serial }));
    expect(guarded.writes).toBeGreaterThan(50);
    expect(guarded.reads).toBeGreaterThan(100);
    expect(guarded.staleReads).toBe(0);
    expect(guarded.staleAtRest).toBe(0);
    expect(aside.staleReads).toBeGreaterThan(0);
    expect(aside.staleAtRest).toBeGreaterThan(0);
    expect(serial.staleReads).toBeGreaterThan(0);
  }, 90_000);
});
