import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { countByKind } from '@keylane/checker';
import { VersionConflictError } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createEngine } from '../src/baselines.js';
import { TransactionAbortedError, type Engine, type Entity, type Queryable } from '../src/index.js';
import { createItems, type Items } from '../src/items/index.js';
import { engineFor, optionsFor, sleep, type ItemsEngine } from './helpers.js';
import { runCheckedWorkload } from './support/checked-workload.js';
import { inspect } from '../src/testing.js';

/**
 * Group commit: mutations of one key queued behind each other in its lane run in one
 * transaction, each behind its own savepoint, under one marker and one end script, and each
 * caller still gets its own answer.
 */
let ctx: TestContext;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  ctx = await createTestContext({ name: 'engine_group' });
  await ctx.pg.query('CREATE TABLE counters (id bigint PRIMARY KEY, n bigint NOT NULL)');
});

afterAll(async () => {
  await Promise.all(open.map((o) => o.close()));
  await ctx.dispose();
});

async function items(prefix: string, groupCommit = true): Promise<ItemsEngine & { entity: Items }> {
  const e = await engineFor(ctx, { lanes: 1 }, prefix);
  open.push(e);
  return { ...e, entity: createItems(e.engine, { schema: ctx.schema, name: 'grouped', groupCommit }) };
}

/** Holds the key's lane busy for `ms` (a mutation that sleeps in its transaction), so the next mutations queue. */
function holdLane(entity: Items, id: number, ms: number): Promise<unknown> {
  return entity.entity.mutate(id, async (tx) => {
    await tx.query('SELECT pg_sleep($1)', [ms / 1000]);
    return undefined;
  });
}

describe('group commit', () => {
  it('runs the writes queued behind each other in one transaction: each its own version, the cache the last', async () => {
    const e = await items('_versions');
    await e.entity.write(1, 'v0');
    const held = holdLane(e.entity, 1, 200);
    await sleep(20);
    const writes = await Promise.all(Array.from({ length: 8 }, (_, i) => e.entity.write(1, `v${i + 1}`)));
    await held;
    expect(writes.map((w) => w.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e.entity.entity.stats().groupedMutations).toBe(7);
    // The last member's row is the committed one, and the cache holds it.
    const last = writes.reduce((a, b) => (b.version > a.version ? b : a));
    const { cached, stored } = await inspect(e.entity.entity, 1);
    expect(stored).toEqual(last);
    expect(cached === undefined || JSON.stringify(cached) === JSON.stringify(stored)).toBe(true);
    expect((await e.entity.read(1))?.version).toBe(9);
  });

  it('shares one transaction (one txid) between the members, none without groupCommit', async () => {
    const run = async (groupCommit: boolean, prefix: string): Promise<Set<string>> => {
      const engine = await createEngine(optionsFor(ctx, { lanes: 1 }, prefix));
      open.push(engine);
      const entity = engine.entity<{ n: number }>({
        name: 'counters',
        groupCommit,
        load: async (db, id) => {
          const { rows } = await db.query<{ n: string }>(`SELECT n::text AS n FROM ${ctx.schema}.counters WHERE id = $1`, [String(id)]);
          return rows[0] ? { n: Number(rows[0].n) } : null;
        },
      });
      const id = groupCommit ? 10n : 11n;
      await ctx.pg.query('INSERT INTO counters (id, n) VALUES ($1, 0)', [String(id)]);
      const slow = entity.mutate(id, async (tx) => {
        await tx.query('SELECT pg_sleep(0.2)');
        return undefined;
      });
      await sleep(20);
      const txids = await Promise.all(
        Array.from({ length: 5 }, () =>
          entity.mutate(id, async (tx) => {
            const { rows } = await tx.query<{ n: string; txid: string }>(
              `UPDATE ${ctx.schema}.counters SET n = n + 1 WHERE id = $1 RETURNING n::text AS n, txid_current()::text AS txid`,
              [String(id)],
            );
            return { n: Number(rows[0]!.n), txid: rows[0]!.txid };
          }),
        ),
      );
      await slow;
      expect(txids.map((t) => t.n).sort()).toEqual([1, 2, 3, 4, 5]);
      return new Set(txids.map((t) => t.txid));
    };
    expect((await run(true, '_txid_on')).size).toBe(1);
    expect((await run(false, '_txid_off')).size).toBe(5);
  });

  it('a member that throws, or whose statement fails and is caught, rolls back alone; the others commit', async () => {
    const e = await items('_isolation');
    await e.entity.write(2, 'start');
    const held = holdLane(e.entity, 2, 200);
    await sleep(20);
    const mutate = (fn: (tx: Queryable) => Promise<unknown>): Promise<unknown> =>
      (e.entity.entity as Entity<unknown>).mutate(2, async (tx) => {
        await fn(tx);
        return undefined;
      });
    const update = (value: string) => (tx: Queryable) =>
      tx.query(`UPDATE ${e.entity.table} SET value = $2::jsonb, version = version + 1 WHERE id = $1`, [2, JSON.stringify(value)]);
    const results = await Promise.allSettled([
      mutate(update('a')),
      mutate(async (tx) => {
        await update('thrown')(tx);
        throw new Error('refused by the callback');
      }),
      mutate(async (tx) => {
        await update('aborted')(tx);
        await tx.query('SELECT 1/0').catch(() => undefined);
      }),
      mutate(update('b')),
    ]);
    await held;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).toBe('refused by the callback');
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(TransactionAbortedError);
    const stored = (await inspect(e.entity.entity, 2)).stored;
    // 'start' was version 1: two members committed one bump each.
    expect(stored).toMatchObject({ value: 'b', version: 3 });
    expect(e.entity.entity.stats().groupedMutations).toBe(3);
  });

  it('ifVersion sees the members before it: two writes at the same version, one wins', async () => {
    const e = await items('_ifversion');
    const first = await e.entity.write(3, 'x');
    const held = holdLane(e.entity, 3, 200);
    await sleep(20);
    const results = await Promise.allSettled([
      e.entity.write(3, 'y', { ifVersion: first.version }),
      e.entity.write(3, 'z', { ifVersion: first.version }),
    ]);
    await held;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect((await inspect(e.entity.entity, 3)).stored).toMatchObject({ value: 'y', version: 2 });
  });

  it('a mutation whose deadline is earlier than the leader\'s does not join it (the fence is the leader\'s)', async () => {
    const e = await items('_deadline');
    await e.entity.write(4, 'start');
    const held = holdLane(e.entity, 4, 200);
    await sleep(20);
    const late = e.entity.write(4, 'late', { deadline: Date.now() + 60_000 });
    await sleep(5);
    const early = e.entity.write(4, 'early', { deadline: Date.now() + 30_000 });
    await Promise.all([held, late, early]);
    expect(e.entity.entity.stats().groupedMutations).toBe(0);
    // Without deadlines they would have joined.
    const held2 = holdLane(e.entity, 4, 200);
    await sleep(20);
    await Promise.all([e.entity.write(4, 'a'), e.entity.write(4, 'b')]);
    await held2;
    expect(e.entity.entity.stats().groupedMutations).toBe(1);
  });

  it("when the first member's own deadline ends the transaction, the others run again and commit", async () => {
    const e = await items('_rerun');
    await e.entity.write(5, 'start');
    const held = holdLane(e.entity, 5, 200);
    await sleep(20);
    const leader = (e.entity.entity as Entity<unknown>).mutate(
      5,
      async (tx) => {
        await tx.query(`UPDATE ${e.entity.table} SET value = '"leader"'::jsonb, version = version + 1 WHERE id = $1`, [5]);
        await tx.query('SELECT pg_sleep(3)');
        return undefined;
      },
      { deadline: Date.now() + 1_500 },
    );
    await sleep(5);
    const followers = [e.entity.write(5, 'f1', { deadline: Date.now() + 20_000 }), e.entity.write(5, 'f2', { deadline: Date.now() + 20_000 })];
    const [l, ...f] = await Promise.allSettled([leader, ...followers]);
    await held;
    expect(l?.status).toBe('rejected');
    expect(((l as PromiseRejectedResult).reason as { code?: string }).code).toBe('deadline_exceeded');
    expect(f.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(e.entity.entity.stats().groupedMutations).toBe(2);
    const stored = (await inspect(e.entity.entity, 5)).stored;
    expect(['f1', 'f2']).toContain(stored?.value);
    expect(stored?.version).toBe(3);
  }, 20_000);

  it('refuses a non-boolean groupCommit', async () => {
    const engine: Engine = (await engineFor(ctx, {}, '_refuse')).engine;
    open.push(engine);
    expect(() => engine.entity({ name: 'bad', load: () => Promise.resolve(null), groupCommit: 'yes' as unknown as boolean })).toThrow(
      /entity.groupCommit/,
    );
  });
});

describe('group commit under a checked workload', () => {
  it('two engines, 16 callers on 3 hot keys, writes 1 in 2, chaos delays: no violation, no diverged key, many grouped writes', async () => {
    const sides = await Promise.all(
      [0, 1].map(async () => {
        const engine = await createEngine(optionsFor(ctx, { lanes: 2, chaos: { fillDelayMs: 10, writeDelayMs: 5 } }, '_checked'));
        open.push(engine);
        return { engine, items: createItems(engine, { schema: ctx.schema, name: 'checked', groupCommit: true }) };
      }),
    );
    const ids = [100_001, 100_002, 100_003];
    const run = await runCheckedWorkload({ sides: sides.map((s) => s.items), ids, callers: 16, ms: 3_000, writeShare: 0.5 });
    const grouped = sides.reduce((n, s) => n + s.items.entity.stats().groupedMutations, 0);
    if (process.env['KEYLANE_VERBOSE']) {
      console.log(JSON.stringify({ ops: run.ops, violations: countByKind(run.check.violations), grouped }));
    }
    expect(run.check.violations).toEqual([]);
    expect(run.diverged).toBe(0);
    expect(grouped).toBeGreaterThan(10);
  }, 30_000);
});
