import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createTestContext, startRedisServer, type TestContext } from '../src/index.js';

describe('createTestContext', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'smoke' });
  });

  afterAll(async () => {
    await ctx.dispose();
  });

  it('round-trips a row in its own schema', async () => {
    expect(ctx.schema).toMatch(/^kltest_smoke_[0-9a-f]{8}$/);
    await ctx.pg.query('CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL)');
    await ctx.pg.query('INSERT INTO t VALUES ($1, $2)', ['9223372036854775807', 'hello']);
    const { rows } = await ctx.pg.query<{ id: string; v: string; schema: string }>(
      'SELECT id, v, current_schema() AS schema FROM t',
    );
    expect(rows).toEqual([{ id: '9223372036854775807', v: 'hello', schema: ctx.schema }]);
  });

  it('round-trips a key under its own prefix', async () => {
    await ctx.redis.set(`{${ctx.prefix}:1}:v`, 'hello');
    expect(await ctx.redis.get(`{${ctx.prefix}:1}:v`)).toBe('hello');
  });

  it('removes its schema and keys on dispose', async () => {
    const other = await createTestContext({ name: 'dispose' });
    await other.pg.query('CREATE TABLE t (id int)');
    await other.redis.set(`${other.prefix}:a`, '1');
    await other.redis.set(`{${other.prefix}:2}:v`, '1');
    await other.dispose();

    const { rows } = await ctx.pg.query(
      'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
      [other.schema],
    );
    expect(rows).toHaveLength(0);
    expect(await ctx.redis.keys(`*${other.prefix}*`)).toEqual([]);
  });

  it('fails with a message that says how to start Redis when it is unreachable', async () => {
    await expect(createTestContext({ redisUrl: 'redis://127.0.0.1:1' })).rejects.toThrow(
      /Redis is not reachable at redis:\/\/127\.0\.0\.1:1 .*Start it with: redis-server/,
    );
  });

  it('fails with a message that says how to start Postgres when it is unreachable', async () => {
    await expect(
      createTestContext({ databaseUrl: 'postgres://postgres@127.0.0.1:1/test' }),
    ).rejects.toThrow(
      /Postgres is not reachable at postgres:\/\/postgres@127\.0\.0\.1:1\/test .*pg_ctlcluster/,
    );
  });

  it('rejects names that would not make a safe schema name', async () => {
    await expect(createTestContext({ name: 'x; DROP' })).rejects.toThrow(/must match/);
  });
});

describe('startRedisServer', () => {
  it('runs a private server that can be stopped and started again', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
      await server.stop();
      expect(server.running).toBe(false);
      await expect(client.ping()).rejects.toThrow();
      await server.start();
      expect(server.running).toBe(true);
      const again = new Redis(server.url);
      expect(await again.ping()).toBe('PONG');
      again.disconnect();
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});
