import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { isDeepStrictEqual } from 'node:util';
import { createEngine } from '../src/baselines.js';
import type { Engine, Entity, StrategyName } from '../src/index.js';
import { optionsFor, sleep } from './helpers.js';
import { createUserTables, insertUser, loadUser, renameAndAddEmail, usersEntity, type User } from './support/users.js';
import { inspect } from '../src/testing.js';

/**
 * The two-engine race of race.test.ts on a user-defined entity: the loader joins users with
 * user_emails, the mutation is several statements over both tables. A reader on one engine
 * (its fill held back), a writer on the other; after each round, at rest, the cached value
 * must be absent or equal to what the loader returns now.
 */
const ROUNDS = 16;
const FILL_DELAY_MS = 60;
const WRITE_DELAY_MS = 15;

async function race(ctx: TestContext, strategy: StrategyName, base: bigint): Promise<{ stale: number; guarded: number }> {
  const suffix = `_rel_${strategy}`;
  const reader = await createEngine(optionsFor(ctx, { strategy, chaos: { fillDelayMs: FILL_DELAY_MS } }, suffix));
  const writer = await createEngine(optionsFor(ctx, { strategy, chaos: { writeDelayMs: WRITE_DELAY_MS } }, suffix));
  const engines: Engine[] = [reader, writer];
  const [readerUsers, writerUsers] = engines.map((e) => e.entity(usersEntity(ctx.schema))) as [Entity<User>, Entity<User>];
  let stale = 0;
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = base + BigInt(round);
      await insertUser(ctx.pg, ctx.schema, id, `u${round}`);
      const offset = round % 3 === 0 ? -10 : (round % 3) * 10;
      await Promise.all([
        (async () => {
          if (offset < 0) await sleep(-offset);
          await readerUsers.get(id);
        })(),
        (async () => {
          if (offset > 0) await sleep(offset);
          await writerUsers.mutate(id, (tx, key) => renameAndAddEmail(tx, ctx.schema, key, `renamed${round}`, `r${round}@example.com`));
        })(),
      ]);
      const { cached } = await inspect(readerUsers, id);
      const now = await loadUser(ctx.schema)(ctx.pg, id);
      if (cached !== undefined && !isDeepStrictEqual(cached, now)) stale += 1;
    }
    const { fillsRejected, leases } = readerUsers.stats();
    return { stale, guarded: fillsRejected + leases.writeInProgress };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

describe('two engines racing on a relational entity (users + user_emails)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_rel_race' });
    await createUserTables(ctx.pg, ctx.schema);
  });
  afterAll(async () => {
    await ctx.dispose();
  });

  it('leaves stale entries with cache-aside and invalidate-first, none with serial-guarded', async () => {
    const strategies: StrategyName[] = ['cache-aside', 'invalidate-first', 'serial-guarded'];
    const results = await Promise.all(strategies.map(async (s, i) => [s, await race(ctx, s, BigInt(i + 1) * 1_000n)] as const));
    const stale = Object.fromEntries(results.map(([s, r]) => [s, r.stale]));
    if (process.env['KEYLANE_VERBOSE']) console.log(JSON.stringify(Object.fromEntries(results)));
    expect(stale['cache-aside']).toBeGreaterThan(0);
    expect(stale['invalidate-first']).toBeGreaterThan(0);
    expect(stale['serial-guarded']).toBe(0);
    expect(results[2]?.[1].guarded).toBeGreaterThan(0);
  });
});
