import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { routingKey } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import { Redis } from 'ioredis';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Generated,
} from 'kysely';
import {
  createEngine,
  InvalidOptionsError,
  InvalidValueError,
  TransactionAbortedError,
  WriteOutcomeUnknownError,
  type Engine,
  type Entity,
} from '../src/index.js';
import { optionsFor, rejection } from './helpers.js';
import { createUserTables, insertUser, loadUser, renameAndAddEmail, usersEntity, type User } from './support/users.js';
import { inspect } from '../src/testing.js';

/** The entity API on a users table and its emails, through the production entry. */
describe('an entity on your own tables', () => {
  let ctx: TestContext;
  let engine: Engine;
  let users: Entity<User>;
  const open: Engine[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_entity' });
    await createUserTables(ctx.pg, ctx.schema);
    const { postgres, redis } = optionsFor(ctx, {}, '_entity');
    engine = await createEngine({ postgres, redis, lanes: 4 });
    open.push(engine);
    users = engine.entity(usersEntity(ctx.schema));
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  const stored = (id: bigint) => loadUser(ctx.schema)(ctx.pg, id);

  it('misses through your loader, then hits with the same value, pg types included', async () => {
    await insertUser(ctx.pg, ctx.schema, 1n, 'ada');
    await ctx.pg.query(`UPDATE "${ctx.schema}".users SET avatar = '\\x00ff'::bytea, balance = 12.50, score = 'NaN' WHERE id = 1`);
    const before = users.stats();
    const miss = await users.get(1n);
    const hit = await users.get('1');
    expect(miss).toEqual(await stored(1n));
    expect(hit).toEqual(miss);
    expect(hit?.createdAt).toBeInstanceOf(Date);
    expect(Buffer.isBuffer(hit?.avatar)).toBe(true);
    expect(hit?.balance).toBe('12.50');
    expect(Number.isNaN(hit?.score)).toBe(true);
    expect(hit?.emails).toEqual([{ email: 'ada@example.com', primary: true }]);
    const after = users.stats();
    expect(after.dbReads - before.dbReads).toBe(1);
    expect(after.hits - before.hits).toBe(1);
    // A miss of an id with no row caches the absence.
    expect(await users.get(999n)).toBeNull();
    expect(await inspect(users, 999n)).toEqual({ cached: null, stored: null });
  });

  it('offers no way around the lanes on the entity: inspect is only under @keylane/engine/testing', async () => {
    expect('inspect' in users).toBe(false);
    await insertUser(ctx.pg, ctx.schema, 60n, 'eve');
    // Read around the lanes and the guard: nothing cached yet, the row as the loader reads it.
    expect(await inspect(users, 60n)).toEqual({ cached: undefined, stored: await stored(60n) });
    // Only the entity the engine made: a copy of its methods is not inspectable.
    expect(() => inspect({ ...users }, 60n)).toThrow(TypeError);
  });

  it('mutates both tables in one transaction and caches the value it returns', async () => {
    await insertUser(ctx.pg, ctx.schema, 2n, 'bob');
    await users.get(2n);
    const written = await users.mutate(2n, (tx, id) => renameAndAddEmail(tx, ctx.schema, id, 'robert', 'rob@example.com'));
    expect(written).toMatchObject({ name: 'robert', emails: [{ email: 'bob@example.com' }, { email: 'rob@example.com' }] });
    expect(await inspect(users, 2n)).toEqual({ cached: written, stored: written });
    const reads = users.stats().dbReads;
    expect(await users.get(2n)).toEqual(written);
    expect(users.stats().dbReads).toBe(reads);
    expect(users.stats().writeFills).toBeGreaterThanOrEqual(1);
  });

  it('a throw rolls back every statement and leaves the cache invalidated, with your error as it was', async () => {
    await insertUser(ctx.pg, ctx.schema, 3n, 'cy');
    const cachedBefore = await users.get(3n);
    const mine = new Error('business rule says no');
    const err = await rejection(
      users.mutate(3n, async (tx, id) => {
        await tx.query(`UPDATE "${ctx.schema}".users SET name = 'changed' WHERE id = $1`, [id]);
        await tx.query(`INSERT INTO "${ctx.schema}".user_emails (user_id, email) VALUES ($1, 'x@example.com')`, [id]);
        throw mine;
      }),
    );
    expect(err).toBe(mine);
    expect(await stored(3n)).toEqual(cachedBefore);
    expect((await inspect(users, 3n)).cached).toBeUndefined();
    expect(await users.get(3n)).toEqual(cachedBefore);
  });

  it('returning nothing only invalidates; returning null caches the absence', async () => {
    await insertUser(ctx.pg, ctx.schema, 4n, 'dee');
    await users.get(4n);
    await users.mutate(4n, async (tx, id) => {
      await tx.query(`UPDATE "${ctx.schema}".users SET plan = 'pro' WHERE id = $1`, [id]);
    });
    expect((await inspect(users, 4n)).cached).toBeUndefined();
    expect((await users.get(4n))?.plan).toBe('pro');
    const gone = await users.mutate(4n, async (tx, id) => {
      await tx.query(`DELETE FROM "${ctx.schema}".users WHERE id = $1`, [id]);
      return null;
    });
    expect(gone).toBeNull();
    expect(await inspect(users, 4n)).toEqual({ cached: null, stored: null });
  });

  it('refuses to commit a transaction your callback left aborted', async () => {
    await insertUser(ctx.pg, ctx.schema, 5n, 'eve');
    const err = await rejection(
      users.mutate(5n, async (tx, id) => {
        await tx.query(`UPDATE "${ctx.schema}".users SET name = 'half' WHERE id = $1`, [id]);
        // A duplicate primary email: caught and ignored, which aborts the transaction.
        await tx.query(`INSERT INTO "${ctx.schema}".user_emails (user_id, email) VALUES ($1, 'eve@example.com')`, [id]).catch(() => undefined);
      }),
    );
    expect(err).toBeInstanceOf(TransactionAbortedError);
    expect(err.code).toBe('transaction_aborted');
    expect(err.message).toMatch(/nothing was committed/);
    expect((await stored(5n))?.name).toBe('eve');
  });

  it('reports a callback that commits by itself as outcome unknown, and keeps the marker', async () => {
    await insertUser(ctx.pg, ctx.schema, 6n, 'fay');
    const err = await rejection(
      users.mutate(6n, async (tx, id) => {
        await tx.query(`UPDATE "${ctx.schema}".users SET name = 'self-committed' WHERE id = $1`, [id]);
        await tx.query('COMMIT');
      }),
    );
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(err.message).toMatch(/ended the transaction itself/);
    expect(await ctx.redis.zcard(`{${ctx.prefix}_entity:users:6}:w`)).toBe(1);
    expect(users.stats().writesUnknown).toBeGreaterThanOrEqual(1);
  });

  it('revokes the query handle once the callback is over', async () => {
    await insertUser(ctx.pg, ctx.schema, 7n, 'gus');
    let kept: { query: (text: string) => Promise<unknown> } | undefined;
    await users.mutate(7n, (tx) => {
      kept = tx;
      return Promise.resolve();
    });
    await expect(kept!.query('SELECT 1')).rejects.toThrow(/has ended|abandoned/);
  });

  it('refuses a loader that returns undefined, and a value its codec cannot carry, before any commit', async () => {
    const sloppy = engine.entity<{ n: number }>({ name: 'sloppy', load: () => Promise.resolve(undefined as unknown as null) });
    await expect(sloppy.get(1n)).rejects.toThrow(/returned undefined; return null/);
    await insertUser(ctx.pg, ctx.schema, 8n, 'hal');
    const err = await rejection(
      users.mutate(8n, async (tx, id) => {
        await tx.query(`UPDATE "${ctx.schema}".users SET name = 'mapped' WHERE id = $1`, [id]);
        return { ...(await loadUser(ctx.schema)(tx, id))!, extra: new Map() } as unknown as User;
      }),
    );
    expect(err).toBeInstanceOf(InvalidValueError);
    expect((await stored(8n))?.name).toBe('hal');
  });

  it('shares the lanes between entities and refuses bad or duplicate names', () => {
    const orders = engine.entity<{ id: string }>({ name: 'orders', load: () => Promise.resolve(null) });
    for (const id of [0n, 1n, 5n, -1n, 2n ** 63n - 1n]) {
      expect(orders.laneOf(id)).toBe(users.laneOf(id));
      expect(orders.laneOf(id)).toBe(Number(routingKey(id) % 4n));
    }
    expect(() => engine.entity({ name: 'users', load: () => Promise.resolve(null) })).toThrow(/already exists/);
    for (const name of ['Users', 'a:b', '', 'x'.repeat(49), 'a{b}']) {
      expect(() => engine.entity({ name, load: () => Promise.resolve(null) })).toThrow(InvalidOptionsError);
    }
  });

  it('runs a loader with snapshot: true inside one REPEATABLE READ transaction', async () => {
    const isolation = (snapshot: boolean) =>
      engine.entity<string>({
        name: `iso-${snapshot}`,
        snapshot,
        load: async (db) => (await db.query<{ level: string }>(`SELECT current_setting('transaction_isolation') AS level`)).rows[0]!.level,
      });
    expect(await isolation(true).get(1n)).toBe('repeatable read');
    expect(await isolation(false).get(1n)).toBe('read committed');
  });

  it('serves string keys (UUIDs), routed as the protocol says', async () => {
    await ctx.pg.query(`CREATE TABLE "${ctx.schema}".sessions (token uuid PRIMARY KEY, user_id bigint NOT NULL)`);
    interface Session {
      token: string;
      userId: string;
    }
    // V and K both inferred: from the loader's return type and from `key`.
    const sessions = engine.entity({
      name: 'sessions',
      key: 'string',
      load: async (db, token): Promise<Session | null> =>
        (
          await db.query<Session>(
            `SELECT token::text AS token, user_id::text AS "userId" FROM "${ctx.schema}".sessions WHERE token = $1`,
            [token],
          )
        ).rows[0] ?? null,
    });
    const token = '550e8400-e29b-41d4-a716-446655440000';
    expect(await sessions.get(token)).toBeNull();
    const created = await sessions.mutate(token, async (tx, t) => {
      await tx.query(`INSERT INTO "${ctx.schema}".sessions VALUES ($1, 1)`, [t]);
      return { token: t, userId: '1' };
    });
    expect(await sessions.get(token)).toEqual(created);
    expect(await ctx.redis.exists(`{${ctx.prefix}_entity:sessions:${token}}:v`)).toBe(1);
    // The protocol's vectors, pinned here too: lane = routing key mod lanes.
    for (const [key, routing] of STRING_KEY_VECTORS) {
      expect(sessions.laneOf(key)).toBe(Number(routing % 4n));
      expect(engine.laneOf(key)).toBe(Number(routing % 4n));
    }
    await expect(sessions.get('')).rejects.toMatchObject({ code: 'invalid_id' });
    await expect(sessions.get('a\ud800')).rejects.toMatchObject({ code: 'invalid_id' });
  });

  it('works with a query builder over the lane connection (Kysely, compiled)', async () => {
    interface Database {
      users: { id: Generated<string>; name: string; plan: string };
    }
    // Kysely builds and compiles; the transaction Keylane opened runs the SQL.
    const db = new Kysely<Database>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (k) => new PostgresIntrospector(k),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
    }).withSchema(ctx.schema);
    const byKysely = engine.entity<{ id: string; name: string; plan: string }>({
      name: 'kysely-users',
      load: async (conn, id) => {
        const q = db.selectFrom('users').select(['name', 'plan']).select((eb) => eb.cast<string>('id', 'text').as('id')).where('id', '=', String(id)).compile();
        return (await conn.query<{ id: string; name: string; plan: string }>(q.sql, [...q.parameters])).rows[0] ?? null;
      },
    });
    await insertUser(ctx.pg, ctx.schema, 9n, 'ivy');
    expect(await byKysely.get(9n)).toEqual({ id: '9', name: 'ivy', plan: 'free' });
    await byKysely.mutate(9n, async (tx, id) => {
      const q = db.updateTable('users').set({ plan: 'team' }).where('id', '=', String(id)).compile();
      await tx.query(q.sql, [...q.parameters]);
    });
    expect(await byKysely.get(9n)).toEqual({ id: '9', name: 'ivy', plan: 'team' });
  });
});

describe('bring your own clients', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_byo' });
  });
  afterAll(async () => {
    await ctx.dispose();
  });

  it('runs on your ioredis client and a pg config beyond a URL, and closes neither', async () => {
    const url = new URL(ctx.databaseUrl);
    const redis = new Redis(ctx.redisUrl, { enableOfflineQueue: false, commandTimeout: 2_000, lazyConnect: true });
    await redis.connect();
    await createUserTables(ctx.pg, ctx.schema);
    await insertUser(ctx.pg, ctx.schema, 1n, 'byo');
    const engine = await createEngine({
      postgres: {
        host: url.hostname,
        port: Number(url.port || 5432),
        user: decodeURIComponent(url.username) || 'postgres',
        database: url.pathname.slice(1),
        application_name: 'keylane-byo-test',
        statementTimeoutMs: 5_000,
      },
      redis: { client: redis, keyPrefix: `${ctx.prefix}_byo` },
      lanes: 2,
    });
    try {
      const users = engine.entity(usersEntity(ctx.schema));
      expect((await users.get(1n))?.name).toBe('byo');
      expect(await redis.exists(`{${ctx.prefix}_byo:users:1}:v`)).toBe(1);
      const { rows } = await ctx.pg.query<{ n: string; timeout: string }>(
        `SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'keylane-byo-test'`,
      );
      // Two lanes and the inspect/health pool's connection(s).
      expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(2);
    } finally {
      await engine.close();
    }
    // Ours again: the engine did not close it.
    expect(redis.status).toBe('ready');
    expect(await redis.ping()).toBe('PONG');
    await redis.quit();
  });
});

// The protocol's routing vectors (packages/protocol/test/string-key.test.ts), pinned here too.
const STRING_KEY_VECTORS: readonly (readonly [string, bigint])[] = [
  ['550e8400-e29b-41d4-a716-446655440000', 11793205509806541490n],
  ['alice@example.com', 18414541688758211263n],
  ['007', 7106483370208201996n],
  ['ü', 6950308537068853028n],
  ['42', 42n],
  ['-1', 18446744073709551615n],
];
